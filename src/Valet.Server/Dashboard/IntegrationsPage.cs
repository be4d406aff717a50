using Microsoft.AspNetCore.Http;
using Valet.Core.Domain;
using Valet.Core.Providers;
using Valet.Core.Stores;
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

        var (ok, outcomeErrors) = Outcome(page, connections);
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
            <form method="post" action="/integrations/connect">{page.Antiforgery}<input type="hidden" name="provider" value="{E(connection.Provider)}">
            <input type="hidden" name="credential" value="{E(connection.CredentialId)}">
            <button type="submit" aria-label="Reconnect {E(who)}">Reconnect</button></form>
            <a class="button danger" href="/connections/{U(connection.Id)}/disconnect" aria-label="Disconnect {E(who)}">Disconnect</a></div></li>
            """;
    }

    public static string StatusChip(Connection connection) => connection.Status == ConnectionStatus.Active
        ? "<span class=\"chip ok\" data-status=\"active\">Active</span>"
        : "<span class=\"chip bad\" data-status=\"reauth_required\">Reconnect needed</span>";

    /// <summary>Connect and Reconnect: a gateway flow through the API's <see cref="ConnectStarter"/>, returning to this page.</summary>
    public static async Task<IResult> ConnectAsync(DashboardPage page, IFormCollection form)
    {
        var provider = form["provider"].ToString();
        var credentialId = form["credential"].ToString() is { Length: > 0 } pinned ? pinned : null;
        var definition = page.Service<IProviderCatalog>().Find(provider);
        if (definition is null)
        {
            return await RenderAsync(page, [$"Unknown provider '{provider}'."], StatusCodes.Status422UnprocessableEntity);
        }

        // Without a platform client, the org's own (newest) client for the provider speaks for the grant.
        if (credentialId is null && !definition.HasPlatformClient)
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

        var returnUrl = page.Service<PublicBaseUrl>().For("/");
        var (started, _) = await page.Service<ConnectStarter>().StartAsync(page.Org.Id, definition.Id, null, credentialId, CallbackTransport.Gateway,
            returnUrl, page.Aborted);
        if (started is null)
        {
            return await RenderAsync(page, [$"{definition.DisplayName} cannot be connected now: it has no OAuth client, or too many connections are pending. See the card below."],
                StatusCodes.Status422UnprocessableEntity);
        }

        return Results.Redirect(started.AuthorizationUrl.AbsoluteUri);
    }

    /// <summary>The outcome the callback page sends back (<c>?status=complete&amp;connection_id=</c> or <c>?status=error&amp;error=</c>).</summary>
    private static (string? Ok, IEnumerable<string>? Errors) Outcome(DashboardPage page, List<Connection> connections)
    {
        var query = page.Context.Request.Query;
        switch (query["status"].ToString())
        {
            case "complete":
                var connection = connections.FirstOrDefault(c => c.Id == query["connection_id"].ToString());
                if (connection is null)
                {
                    return (null, null);
                }

                var definition = page.Service<IProviderCatalog>().Find(connection.Provider);
                return ($"Connected {definition?.DisplayName ?? connection.Provider} account {connection.AccountLogin ?? connection.AccountEmail ?? connection.AccountId}.", null);
            case "error":
                return (null, [$"Not connected: {CallbackPage.Explain(query["error"].ToString())}"]);
            default:
                return (null, null);
        }
    }
}
