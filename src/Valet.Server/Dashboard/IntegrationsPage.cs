using Microsoft.AspNetCore.Http;
using Valet.Core.Domain;
using Valet.Core.Providers;
using Valet.Core.Stores;
using Valet.Server.Auth;
using Valet.Server.Flows;
using Valet.Server.Hosting;
using static Valet.Server.Dashboard.Html;

namespace Valet.Server.Dashboard;

/// <summary><c>/</c>: every provider, whether it has a client, its connections, and Connect / Reconnect / Disconnect.</summary>
internal static class IntegrationsPage
{
    public static async Task<IResult> RenderAsync(DashboardPage page) => await RenderAsync(page, null);

    private static async Task<IResult> RenderAsync(DashboardPage page, IEnumerable<string>? errors, int status = StatusCodes.Status200OK)
    {
        var org = page.Org.Id;
        var connections = new List<Connection>();
        await foreach (var connection in page.Service<IConnectionStore>().ListAsync(org, page.Aborted))
        {
            connections.Add(connection);
        }

        var credentials = new List<Credential>();
        await foreach (var credential in page.Service<ICredentialStore>().ListAsync(org, page.Aborted))
        {
            credentials.Add(credential);
        }

        var (ok, outcomeErrors) = await OutcomeAsync(page);
        // Providers that can be used (a client, or accounts already connected) first; the rest after, alphabetically.
        var providers = page.Service<IProviderCatalog>().All
            .OrderBy(p => p.HasPlatformClient || credentials.Any(c => c.Provider == p.Id) || connections.Any(c => c.Provider == p.Id) ? 0 : 1)
            .ThenBy(p => p.DisplayName, StringComparer.OrdinalIgnoreCase);
        var cards = new List<string>();
        foreach (var provider in providers)
        {
            var mine = connections.Where(c => c.Provider == provider.Id).OrderBy(c => c.CreatedAt).ToList();
            var defaultId = mine.Count > 1 ? await page.Service<IOrgStore>().FindDefaultConnectionAsync(org, provider.Id, page.Aborted) : null;
            cards.Add(Card(page, provider, mine, credentials.Where(c => c.Provider == provider.Id).ToList(), defaultId));
        }

        var body = $"""
            <p class="lead">Providers your agents can use, and the accounts connected to each. Connecting sends you to the provider to consent.</p>
            <div class="grid">{string.Concat(cards)}</div>
            """;
        return page.Render("Integrations", "/", body, errors ?? outcomeErrors, ok, status);
    }

    private static string Card(DashboardPage page, ProviderDefinition provider, List<Connection> connections, List<Credential> credentials,
        string? defaultId)
    {
        var byoc = credentials.OrderByDescending(c => c.CreatedAt).FirstOrDefault();
        var upper = provider.Id.ToUpperInvariant();
        var client = provider.HasPlatformClient ? "<span class=\"chip ok\">Client configured</span>"
            : byoc is not null ? "<span class=\"chip ok\">Your own client</span>"
            : "<span class=\"chip warn\">No client</span>";
        var setup = provider.HasPlatformClient || byoc is not null ? string.Empty : $"""
            <p class="muted">To connect, set <code class="env">VALET_PROVIDERS__<wbr>{E(upper)}__<wbr>CLIENTID</code> and <code class="env">VALET_PROVIDERS__<wbr>{E(upper)}__<wbr>CLIENTSECRET</code>
            for the server, or register this org's own client in <a href="/settings#credentials">Settings</a>.</p>
            """;
        var rows = connections.Count == 0
            ? "<p class=\"empty\">No account connected.</p>"
            : "<ul class=\"rows\">" + Join(connections, c => Row(page, c, connections.Count > 1 && c.Id == defaultId)) + "</ul>";
        var canConnect = provider.HasPlatformClient || byoc is not null;
        var connect = $"""
            <form method="post" action="/integrations/connect">{page.Antiforgery}<input type="hidden" name="provider" value="{E(provider.Id)}">
            <button type="submit" class="primary" aria-label="Connect {E(provider.DisplayName)}"{(canConnect ? string.Empty : " disabled")}>Connect</button></form>
            """;
        return $"""
            <section class="card" id="provider-{E(provider.Id)}" data-provider="{E(provider.Id)}" aria-labelledby="title-{E(provider.Id)}">
            <div class="card-head"><h2 id="title-{E(provider.Id)}">{E(provider.DisplayName)}</h2>{client}</div>
            <p class="muted mono">{E(provider.Id)}</p>{setup}{rows}
            <div class="actions card-foot">{connect}</div></section>
            """;
    }

    private static string Row(DashboardPage page, Connection connection, bool isDefault)
    {
        var who = connection.AccountLogin ?? connection.AccountEmail ?? connection.AccountId;
        return $"""
            <li data-connection="{E(connection.Id)}"><div class="who"><a href="/connections/{U(connection.Id)}">{E(who)}</a>
            {StatusChip(connection)}{(isDefault ? " <span class=\"badge\">Default</span>" : string.Empty)}</div>
            <div class="actions">
            {ReconnectForm(page, connection, $"Reconnect {who}")}
            <a class="button danger" href="/connections/{U(connection.Id)}/disconnect" aria-label="Disconnect {E(who)}">Disconnect</a></div></li>
            """;
    }

    public static string StatusChip(Connection connection) => connection.Status == ConnectionStatus.Active
        ? "<span class=\"chip ok\" data-status=\"active\">Active</span>"
        : "<span class=\"chip bad\" data-status=\"reauth_required\">Reconnect needed</span>";

    /// <summary>
    /// Reconnect names the connection, not a provider: the server takes its provider, its client (platform or BYOC) and its
    /// granted scopes from the row, and comes back to <paramref name="onDetailPage"/>'s page with the outcome.
    /// </summary>
    public static string ReconnectForm(DashboardPage page, Connection connection, string label, bool onDetailPage = false) => $"""
        <form method="post" action="/integrations/connect">{page.Antiforgery}<input type="hidden" name="connection" value="{E(connection.Id)}">{(onDetailPage ? "<input type=\"hidden\" name=\"back\" value=\"connection\">" : string.Empty)}
        <button type="submit" aria-label="{E(label)}" data-reconnect="{E(connection.Id)}">Reconnect</button></form>
        """;

    /// <summary>
    /// Connect (a provider) and Reconnect (a connection): a gateway flow through the API's <see cref="ConnectStarter"/>,
    /// returning to the page it was pressed on.
    /// </summary>
    public static async Task<IResult> ConnectAsync(DashboardPage page, IFormCollection form)
    {
        Connection? existing = null;
        if (form["connection"].ToString() is { Length: > 0 } reconnect)
        {
            existing = reconnect.Length <= 64 ? await page.Service<IConnectionStore>().FindAsync(reconnect, page.Aborted) : null;
            if (existing is null || existing.OrgId != page.Org.Id || !page.User.CanOperate(existing.OrgId))
            {
                return await RenderAsync(page, ["That connection is not in this org any more: it may have been disconnected. Connect the provider again instead."],
                    StatusCodes.Status404NotFound);
            }
        }

        var provider = existing?.Provider ?? form["provider"].ToString();
        var definition = page.Service<IProviderCatalog>().Find(provider);
        if (definition is null)
        {
            return await RenderAsync(page, [$"Unknown provider '{provider}'."], StatusCodes.Status422UnprocessableEntity);
        }

        // A reconnect keeps the connection's own client; a new connection without a platform client uses the org's newest
        // client for the provider.
        var credentialId = existing?.CredentialId;
        if (existing is null && !definition.HasPlatformClient)
        {
            Credential? newest = null;
            await foreach (var credential in page.Service<ICredentialStore>().ListAsync(page.Org.Id, page.Aborted))
            {
                if (credential.Provider == definition.Id && (newest is null || credential.CreatedAt > newest.CreatedAt))
                {
                    newest = credential;
                }
            }

            credentialId = newest?.Id;
        }

        // Reconnecting never narrows the grant: the provider's defaults plus every scope the connection holds (as the
        // reauth envelope's flow asks for what the grant has).
        IReadOnlyList<string>? scopes = existing?.Scopes is { Count: > 0 } granted
            ? [.. definition.DefaultScopes.Concat(granted).Distinct(StringComparer.Ordinal)]
            : null;
        var back = existing is null ? "/"
            : form["back"] == "connection" ? $"/connections/{U(existing.Id)}?reconnect={U(existing.Id)}"
            : $"/?reconnect={U(existing.Id)}";
        var (started, _) = await page.Service<ConnectStarter>().StartAsync(page.Org.Id, definition.Id, scopes, credentialId, CallbackTransport.Gateway,
            page.Service<PublicBaseUrl>().For(back), page.Aborted);
        if (started is null)
        {
            return await RenderAsync(page, [$"{definition.DisplayName} cannot be connected now: it has no OAuth client, or too many connections are pending. See the card below."],
                StatusCodes.Status422UnprocessableEntity);
        }

        return Results.Redirect(started.AuthorizationUrl.AbsoluteUri);
    }

    /// <summary>
    /// The outcome the callback sends back (<c>?status=complete&amp;connection_id=</c> or <c>?status=error&amp;error=</c>,
    /// after <c>?reconnect=</c> for a Reconnect), as fixed sentences naming stored accounts: no text from the URL is shown.
    /// </summary>
    public static async Task<(string? Ok, IEnumerable<string>? Errors)> OutcomeAsync(DashboardPage page)
    {
        var query = page.Context.Request.Query;
        var reconnected = await OrgConnectionAsync(page, query["reconnect"].ToString());
        switch (query["status"].ToString())
        {
            case "complete":
                if (await OrgConnectionAsync(page, query["connection_id"].ToString()) is not { } connection)
                {
                    return (null, null);
                }

                var provider = page.Service<IProviderCatalog>().Find(connection.Provider)?.DisplayName ?? connection.Provider;
                if (reconnected is null)
                {
                    return ($"Connected {provider} account {Who(connection)}.", null);
                }

                return reconnected.Id == connection.Id
                    ? ($"Reconnected {provider} account {Who(connection)}: its new tokens are stored.", null)
                    : (null, [$"You consented at {provider} as {Who(connection)}, not as {Who(reconnected)}: {Who(connection)} is connected as well, and {Who(reconnected)} was not renewed. To renew it, press Reconnect and sign in at {provider} as {Who(reconnected)}."]);
            case "error":
                return (null, [$"{(reconnected is null ? "Not connected" : "Not reconnected")}: {CallbackPage.Explain(query["error"].ToString())}"]);
            default:
                return (null, null);
        }
    }

    public static string Who(Connection connection) => connection.AccountLogin ?? connection.AccountEmail ?? connection.AccountId;

    private static async Task<Connection?> OrgConnectionAsync(DashboardPage page, string id) =>
        id.Length is > 0 and <= 64 && await page.Service<IConnectionStore>().FindAsync(id, page.Aborted) is { } found && found.OrgId == page.Org.Id
            ? found
            : null;
}
