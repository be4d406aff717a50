using System.Globalization;
using Microsoft.AspNetCore.Http;
using Valet.Core.Domain;
using Valet.Core.Stores;
using static Valet.Server.Dashboard.Html;

namespace Valet.Server.Dashboard;

/// <summary><c>/audit</c>: the org's trail, newest first, filtered by connection and kind, paged by <c>before</c>.</summary>
internal static class AuditPage
{
    private const int PageSize = 50;

    public static async Task<IResult> RenderAsync(DashboardPage page)
    {
        var query = page.Context.Request.Query;
        var connectionFilter = query["connection"].ToString() is { Length: > 0 and <= 64 } c ? c : null;
        var kindFilter = AuditKinds.All.Contains(query["kind"].ToString()) ? query["kind"].ToString() : null;
        long? before = long.TryParse(query["before"].ToString(), NumberStyles.None, CultureInfo.InvariantCulture, out var b) && b > 0 ? b : null;

        var connections = new List<Connection>();
        await foreach (var connection in page.Service<IConnectionStore>().ListAsync(page.Org.Id, page.Aborted))
        {
            connections.Add(connection);
        }

        // Events name connections and keys by id; the page names them as the rest of the dashboard does. A connection or key
        // deleted since keeps its id, marked as gone.
        var keyNames = new Dictionary<string, string>(StringComparer.Ordinal);
        await foreach (var key in page.Service<IApiKeyStore>().ListAsync(page.Org.Id, page.Aborted))
        {
            keyNames[key.Id] = key.Name;
        }

        var byId = connections.ToDictionary(x => x.Id, StringComparer.Ordinal);
        var (events, next) = await AuditQuery.PageAsync(page.Service<IAuditStore>(), page.Org.Id, before, PageSize,
            e => (connectionFilter is null || e.ConnectionId == connectionFilter) && (kindFilter is null || e.Kind == kindFilter), page.Aborted);

        var connectionOptions = Join(connections.OrderBy(x => x.Provider, StringComparer.Ordinal), x =>
            $"<option value=\"{E(x.Id)}\"{(x.Id == connectionFilter ? " selected" : string.Empty)}>{E(IntegrationsPage.Label(x))}</option>");
        if (connectionFilter is not null && connections.All(x => x.Id != connectionFilter))
        {
            connectionOptions += $"<option value=\"{E(connectionFilter)}\" selected>{E(connectionFilter)} (disconnected)</option>";
        }

        var kindOptions = Join(AuditKinds.All, k => $"<option value=\"{E(k)}\"{(k == kindFilter ? " selected" : string.Empty)}>{E(AuditKinds.Label(k))}</option>");
        var rows = events.Count == 0
            ? $"<p class=\"empty\">{(connectionFilter is null && kindFilter is null && before is null ? "Nothing has happened in this org yet." : "No events match.")}</p>"
            : $"""
                <div class="table-wrap"><table id="audit"><thead><tr><th scope="col">When</th><th scope="col">Event</th><th scope="col">Connection</th><th scope="col">Key</th><th scope="col">Request</th><th scope="col">Status</th><th scope="col">Detail</th></tr></thead><tbody>
                {Join(events, e => Row(e, byId, keyNames))}
                </tbody></table></div>
                """;
        var filters = (connectionFilter is null ? string.Empty : "&connection=" + U(connectionFilter)) + (kindFilter is null ? string.Empty : "&kind=" + U(kindFilter));
        var pager = $"""
            <nav class="pager" aria-label="Pages">{(before is null ? "<span></span>" : $"<a href=\"/audit?{filters.TrimStart('&')}\">Newest</a>")}
            {(next is { } cursor ? $"<a href=\"/audit?before={cursor.ToString(CultureInfo.InvariantCulture)}{filters}\" id=\"older\">Older</a>" : "<span></span>")}</nav>
            """;
        var body = $"""
            <form method="get" action="/audit" class="inline card" role="search" aria-label="Filter events">
            <div class="field"><label for="f-connection">Connection</label><select id="f-connection" name="connection"><option value="">All connections</option>{connectionOptions}</select></div>
            <div class="field"><label for="f-kind">Event</label><select id="f-kind" name="kind"><option value="">All events</option>{kindOptions}</select></div>
            <button type="submit" id="filter">Filter</button></form>
            <section class="card" aria-label="Events">{rows}{pager}</section>
            """;
        return page.Render("Audit", "/audit", body);
    }

    private static string Row(AuditEvent e, Dictionary<string, Connection> connections, Dictionary<string, string> keyNames) => $"""
        <tr data-kind="{E(e.Kind)}"><td>{When(e.At)}</td><td title="{E(e.Kind)}">{E(AuditKinds.Label(e.Kind))}</td>
        <td>{ConnectionCell(e.ConnectionId, connections)}</td><td>{KeyCell(e.KeyId, keyNames)}</td><td class="mono">{E(e.Method)} {E(e.Path)}</td>
        <td>{(e.Status is { } s ? s.ToString(CultureInfo.InvariantCulture) : string.Empty)}</td><td class="mono">{E(e.Detail)}</td></tr>
        """;

    private static string ConnectionCell(string? id, Dictionary<string, Connection> connections) => id switch
    {
        null => string.Empty,
        _ when connections.TryGetValue(id, out var connection) => $"<a href=\"/connections/{U(id)}\" title=\"{E(id)}\" data-connection=\"{E(id)}\">{E(IntegrationsPage.Label(connection))}</a>",
        _ => $"<span class=\"mono\" data-connection=\"{E(id)}\">{E(id)}</span> <span class=\"muted\">(disconnected)</span>",
    };

    private static string KeyCell(string? id, Dictionary<string, string> keyNames) => id switch
    {
        null => string.Empty,
        _ when keyNames.TryGetValue(id, out var name) => $"<span title=\"{E(id)}\" data-key=\"{E(id)}\">{E(name)}</span>",
        _ => $"<span class=\"mono\" data-key=\"{E(id)}\">{E(id)}</span> <span class=\"muted\">(revoked)</span>",
    };
}
