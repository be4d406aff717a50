using Microsoft.AspNetCore.Http;
using Valet.Core.Connections;
using Valet.Core.Domain;
using Valet.Core.Providers;
using Valet.Core.Stores;
using Valet.Server.Auth;
using Valet.Server.Connections;
using Valet.Server.Http;
using static Valet.Server.Dashboard.Html;

namespace Valet.Server.Dashboard;

/// <summary><c>/connections/{id}</c>: one grant in detail, its history and its managed targets; and Disconnect, confirmed.</summary>
internal static class ConnectionPage
{
    /// <summary>Events read for the history table, and the rows it shows once runs of the same event are one row each.</summary>
    private const int HistoryLength = 200;

    private const int HistoryRows = 20;

    public static async Task<IResult> RenderAsync(DashboardPage page)
    {
        if (await FindAsync(page) is not { } connection)
        {
            return NotFound(page);
        }

        return await RenderAsync(page, connection, null);
    }

    private static async Task<IResult> RenderAsync(DashboardPage page, Connection connection, IEnumerable<string>? refused,
        int status = StatusCodes.Status200OK)
    {

        var provider = page.Service<IProviderCatalog>().Find(connection.Provider);
        var targets = await TargetsAsync(page, connection);
        var (history, _) = await AuditQuery.PageAsync(page.Service<IAuditStore>(), page.Org.Id, null, HistoryLength,
            e => e.ConnectionId == connection.Id && e.Kind.StartsWith("connection.", StringComparison.Ordinal), page.Aborted);
        // The reason while the connection is broken; once it is active again, the last failure stays visible, marked as
        // before the reconnect that cleared it (only a new grant makes a broken connection active).
        // Looked up on its own: every refresh now leaves a history row, so the last failure soon falls out of the table's rows.
        var lastFailure = history.FirstOrDefault(e => e.Kind == "connection.reauth_required")
            ?? (await AuditQuery.PageAsync(page.Service<IAuditStore>(), page.Org.Id, null, 1,
                e => e.ConnectionId == connection.Id && e.Kind == "connection.reauth_required", page.Aborted)) switch
            {
                ({ Count: > 0 } found, _) => found[0],
                _ => null,
            };
        var lastError = connection.Status != ConnectionStatus.Active
            ? $"<span class=\"mono\">{E(connection.StatusReason ?? lastFailure?.Detail ?? "unknown")}</span>"
            : lastFailure is null ? "<span class=\"muted\">none</span>"
            : $"<span class=\"mono\">{E(lastFailure.Detail)}</span> <span class=\"muted\">on {When(lastFailure.At)}, before the last reconnect</span>";
        var who = connection.AccountLogin ?? connection.AccountEmail ?? connection.AccountId;
        var isStatic = StaticSecrets.IsStatic(connection);
        var kind = connection.TokenType == StaticSecrets.BasicType ? "username and password" : "API key";

        var facts = isStatic ? $"""
            <dl class="facts">
            <dt>Provider</dt><dd>{E(provider?.DisplayName ?? connection.Provider)} <span class="muted mono">{E(connection.Provider)}</span></dd>
            <dt>Account</dt><dd id="account">{E(who)} <span class="muted mono">{E(connection.AccountId)}</span></dd>
            <dt>Status</dt><dd id="status">{IntegrationsPage.StatusChip(connection)}</dd>
            <dt>Credential</dt><dd id="credential">{(connection.TokenType == StaticSecrets.BasicType ? "Username and password (HTTP Basic)" : "API key")} <span class="muted">— write-only, never shown</span></dd>
            {(connection.ApiBaseUrl is { } site ? $"<dt>Site</dt><dd class=\"mono\">{E(site)}</dd>" : string.Empty)}
            <dt>Expires</dt><dd>never <span class="muted">(rotate it here when it changes at the provider)</span></dd>
            <dt>Last changed</dt><dd>{When(connection.UpdatedAt)}</dd>
            <dt>Added</dt><dd>{When(connection.CreatedAt)}</dd>
            </dl>
            """ : $"""
            <dl class="facts">
            <dt>Provider</dt><dd>{E(provider?.DisplayName ?? connection.Provider)} <span class="muted mono">{E(connection.Provider)}</span></dd>
            <dt>Account</dt><dd id="account">{E(who)}{(connection.AccountEmail is { } email && email != who ? $" <span class=\"muted\">{E(email)}</span>" : string.Empty)} <span class="muted mono">{E(connection.AccountId)}</span></dd>
            <dt>Status</dt><dd id="status">{IntegrationsPage.StatusChip(connection)}{(connection.StatusReason is { } reason ? $" <span class=\"mono\">{E(reason)}</span>" : string.Empty)}</dd>
            {(connection.Parameters is { Count: > 0 } values ? $"<dt>Parameters</dt><dd id=\"parameters\">{Join(values, v => $"<span class=\"chip\">{E(v.Key)} = {E(v.Value)}</span> ")}</dd>" : string.Empty)}
            <dt>Granted scopes</dt><dd id="scopes">{(connection.Scopes is { Count: > 0 } scopes ? Join(scopes, s => $"<span class=\"chip\">{E(s)}</span> ") : "<span class=\"muted\">unknown</span>")}</dd>
            <dt>Token expires</dt><dd>{When(connection.ExpiresAt)}</dd>
            <dt>Last refresh</dt><dd>{When(connection.LastRefreshedAt)}</dd>
            <dt>Failed refreshes in a row</dt><dd>{connection.RefreshFailures}</dd>
            <dt>Last error</dt><dd id="last-error">{lastError}</dd>
            <dt>Client</dt><dd>{(connection.CredentialId is { } cred ? $"this org's own client <span class=\"mono\">{E(cred)}</span>" : "platform client")}</dd>
            <dt>Connected</dt><dd>{When(connection.CreatedAt)}</dd>
            </dl>
            """;
        var targetRows = targets.Count == 0 ? "<p class=\"empty\">No targets use this connection.</p>" : $"""
            <div class="table-wrap"><table><thead><tr><th scope="col">Target</th><th scope="col">Forwards to</th><th scope="col">Scopes</th><th scope="col"><span class="sr-only">Badge</span></th></tr></thead><tbody>
            {Join(targets, t => $"<tr data-target=\"{E(t.Id)}\"><td>{E(t.Name)} <span class=\"muted mono\">{E(t.Id)}</span></td><td class=\"mono\">{E(t.BaseUrl)}</td><td>{E(string.Join(' ', t.RequiredScopes))}</td><td>{(t.Managed ? $"<span class=\"badge managed\">Managed by {E(who)}</span>" : string.Empty)}</td></tr>")}
            </tbody></table></div>
            <p class="muted">Managed targets are created when the account connects and deleted when it disconnects; they cannot be edited.</p>
            """;
        var historyRows = history.Count == 0 ? "<p class=\"empty\">No events yet.</p>" : $"""
            <div class="table-wrap"><table><thead><tr><th scope="col">When</th><th scope="col">Event</th><th scope="col">Detail</th></tr></thead><tbody>
            {Join(Runs(history).Take(HistoryRows), r => $"<tr data-kind=\"{E(r.Kind)}\"><td>{(r.Count == 1 || When(r.First) == When(r.Last) ? When(r.Last) : $"{When(r.First)} – {When(r.Last)}")}</td>" +
                $"<td>{E(AuditKinds.Label(r.Kind))}{(r.Count == 1 ? string.Empty : $" <span class=\"chip\">×{r.Count}</span>")}</td><td class=\"mono\">{E(r.Detail)}</td></tr>")}
            </tbody></table></div><p><a href="/audit?connection={U(connection.Id)}">All events of this connection</a></p>
            """;
        var body = $"""
            <p class="lead"><a href="/">Integrations</a> › {E(provider?.DisplayName ?? connection.Provider)}</p>
            <section class="card" aria-labelledby="h-facts"><div class="card-head"><h2 id="h-facts">Connection</h2>
            <div class="actions">{(isStatic ? string.Empty : IntegrationsPage.ReconnectForm(page, connection, $"Reconnect {who}", onDetailPage: true))}
            <a class="button danger" href="/connections/{U(connection.Id)}/disconnect">Disconnect</a></div></div>{facts}</section>
            {(isStatic && provider is not null ? RotateCard(page, connection, provider, kind) : string.Empty)}
            <section class="card" aria-labelledby="h-targets"><h2 id="h-targets">Targets</h2>{targetRows}</section>
            <section class="card" aria-labelledby="h-history"><h2 id="h-history">{(isStatic ? "History" : "Refresh and failure history")}</h2>{historyRows}</section>
            """;
        var (ok, errors) = await IntegrationsPage.OutcomeAsync(page);
        // An operator-made secret without an account name is the provider's one "default" account: title it by the provider.
        var title = isStatic && connection.AccountId == OperatorConnections.DefaultAccountId && connection.AccountLogin is null
            ? $"{provider?.DisplayName ?? connection.Provider} secret"
            : who;
        return page.Render(title, "/", body, refused ?? errors, refused is null ? ok : null, status);
    }

    /// <summary><b>Rotate secret</b>: the new secret replaces the stored one in the same row (same id, same permissions).</summary>
    private static string RotateCard(DashboardPage page, Connection connection, ProviderDefinition provider, string kind) => $"""
        <section class="card" id="rotate" aria-labelledby="h-rotate"><h2 id="h-rotate">Rotate secret</h2>
        <p class="muted">Replaces the stored {E(kind)} in place: the connection keeps its id, so keys allowed to use it keep working. The current secret is never shown.</p>
        <form method="post" action="/connections/{U(connection.Id)}/secret" class="narrow-form">{page.Antiforgery}
        {SecretForms.Fields(provider, "rotate")}
        <button type="submit" class="primary" id="rotate-secret">Replace secret</button></form></section>
        """;

    /// <summary>Through the API's rule (<see cref="OperatorConnections.RotateAsync"/>): the same checks, the same row, audited as <c>rotate</c>.</summary>
    public static async Task<IResult> RotateAsync(DashboardPage page, IFormCollection form)
    {
        if (await FindAsync(page) is not { } connection)
        {
            return NotFound(page);
        }

        var catalog = page.Service<IProviderCatalog>();
        var validation = new Validation();
        var (apiKey, username, password) = catalog.Find(connection.Provider) is { } provider
            ? SecretForms.Read(provider, form)
            : (null, null, null);
        var stored = await OperatorConnections.RotateAsync(connection, new RotateSecretRequest(apiKey, username, password), validation, catalog,
            page.Service<ConnectionRegistry>(), page.Aborted);
        if (stored is null)
        {
            return await RenderAsync(page, connection, SecretForms.Messages(validation).Select(m => "Not rotated: " + m),
                StatusCodes.Status422UnprocessableEntity);
        }

        return DashboardPage.Done($"/connections/{U(stored.Id)}", "secret_rotated");
    }

    public static async Task<IResult> ConfirmDisconnectAsync(DashboardPage page)
    {
        if (await FindAsync(page) is not { } connection)
        {
            return NotFound(page);
        }

        var managed = (await TargetsAsync(page, connection)).Where(t => t.Managed).ToList();
        var who = connection.AccountLogin ?? connection.AccountEmail ?? connection.AccountId;
        var body = $"""
            <section class="card"><p>Disconnect <strong>{E(who)}</strong> ({E(connection.Provider)})? Valet revokes the grant at the provider where it can,
            then deletes its tokens{(managed.Count > 0 ? " and these managed targets:" : ".")}</p>
            {(managed.Count > 0 ? "<ul>" + Join(managed, t => $"<li>{E(t.Name)} <span class=\"mono muted\">{E(t.BaseUrl)}</span></li>") + "</ul>" : string.Empty)}
            <p>Agents using it get a "needs authentication" answer until someone connects again.</p>
            <div class="actions"><form method="post" action="/connections/{U(connection.Id)}/disconnect">{page.Antiforgery}
            <button type="submit" class="danger" id="confirm-disconnect">Disconnect</button></form>
            <a class="button" href="/connections/{U(connection.Id)}">Cancel</a></div></section>
            """;
        return page.Render($"Disconnect {who}?", "/", body);
    }

    /// <summary>Through the API's <see cref="Disconnector"/>: revoke where possible, delete tokens and managed targets.</summary>
    public static async Task<IResult> DisconnectAsync(DashboardPage page, IFormCollection form)
    {
        if (await FindAsync(page) is not { } connection)
        {
            return NotFound(page);
        }

        await page.Service<Disconnector>().DisconnectAsync(connection, page.Aborted);
        return DashboardPage.Done("/", "disconnected");
    }

    private static async Task<Connection?> FindAsync(DashboardPage page)
    {
        var id = page.Context.Request.RouteValues["id"] as string ?? string.Empty;
        var connection = id.Length is > 0 and <= 64 ? await page.Service<IConnectionStore>().FindAsync(id, page.Aborted) : null;
        return connection is not null && page.User.CanOperate(connection.OrgId) ? connection : null;
    }

    private static async Task<List<Target>> TargetsAsync(DashboardPage page, Connection connection)
    {
        var targets = new List<Target>();
        await foreach (var target in page.Service<ITargetStore>().ListByConnectionAsync(connection.Id, page.Aborted))
        {
            targets.Add(target);
        }

        return targets;
    }

    private static IResult NotFound(DashboardPage page) =>
        page.Render("Connection not found", "/", "<p><a href=\"/\">Back to Integrations</a></p>",
            ["No such connection in this org. It may have been disconnected."], status: StatusCodes.Status404NotFound);

    /// <summary>
    /// Consecutive events of the same kind and detail as one row (newest first): every proactive refresh writes a row, and
    /// twenty "refreshed" rows would push a reconnect or a dead grant out of the table.
    /// </summary>
    private static List<(string Kind, string? Detail, int Count, DateTimeOffset First, DateTimeOffset Last)> Runs(IReadOnlyList<AuditEvent> newestFirst)
    {
        var runs = new List<(string Kind, string? Detail, int Count, DateTimeOffset First, DateTimeOffset Last)>();
        foreach (var e in newestFirst)
        {
            if (runs.Count > 0 && runs[^1].Kind == e.Kind && runs[^1].Detail == e.Detail)
            {
                runs[^1] = runs[^1] with { Count = runs[^1].Count + 1, First = e.At };
            }
            else
            {
                runs.Add((e.Kind, e.Detail, 1, e.At, e.At));
            }
        }

        return runs;
    }
}

