using Microsoft.AspNetCore.Http;
using Valet.Core.Connections;
using Valet.Core.Domain;
using Valet.Core.OAuth;
using Valet.Core.Providers;
using Valet.Core.Stores;
using Valet.Server.Auth;
using Valet.Server.Connections;
using Valet.Server.Flows;
using Valet.Server.Hosting;
using Valet.Server.Http;
using static Valet.Server.Dashboard.Html;

namespace Valet.Server.Dashboard;

/// <summary>
/// <c>/</c>: every provider, whether it has a client, its connections, and Connect / Reconnect / Disconnect; for an
/// <c>api_key</c> or <c>basic</c> provider <b>Add secret</b> instead of Connect, and for a provider with connection
/// parameters (a Zendesk subdomain) one labelled input per parameter in its Connect form.
/// </summary>
internal static partial class IntegrationsPage
{
    /// <summary>The form a refused post came from, drawn open again (with the parameter values typed, never a secret).</summary>
    private sealed record Retry(string Provider, IReadOnlyList<string> Errors, IReadOnlyDictionary<string, string>? Parameters = null)
    {
        /// <summary>The refusal again inside the card, next to the inputs (the banner at the top may be a long scroll away).</summary>
        public string Inline(string id) =>
            $"<div class=\"inline-error\" id=\"{E(id)}-error\">{Join(Errors, m => $"<p>{E(m)}</p>")}</div>";
    }

    public static async Task<IResult> RenderAsync(DashboardPage page) => await RenderAsync(page, null);

    private static async Task<IResult> RenderAsync(DashboardPage page, IEnumerable<string>? errors, int status = StatusCodes.Status200OK,
        Retry? retry = null)
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
        // Providers that can be used (a client, a static secret, or accounts already connected) as cards; the rest — most
        // of a fresh install's catalog — folded into one list that says once what each of them needs.
        bool Usable(ProviderDefinition p) => p.HasPlatformClient || AuthModes.IsStatic(p.AuthMode) || credentials.Any(c => c.Provider == p.Id)
            || connections.Any(c => c.Provider == p.Id);
        var providers = page.Service<IProviderCatalog>().All.OrderBy(p => p.DisplayName, StringComparer.OrdinalIgnoreCase).ToList();
        var cards = new List<string>();
        foreach (var provider in providers.Where(Usable).OrderBy(p => AuthModes.IsStatic(p.AuthMode) ? 1 : 0)) // OAuth first, then secrets
        {
            var mine = connections.Where(c => c.Provider == provider.Id).OrderBy(c => c.CreatedAt).ToList();
            var defaultId = mine.Count > 1 ? await page.Service<IOrgStore>().FindDefaultConnectionAsync(org, provider.Id, page.Aborted) : null;
            cards.Add(Card(page, provider, mine, credentials.Where(c => c.Provider == provider.Id).ToList(), defaultId,
                retry?.Provider == provider.Id ? retry : null));
        }

        var waiting = providers.Where(p => !Usable(p)).ToList();
        var body = $"""
            <p class="lead">Providers your agents can use, and the accounts connected to each. Connecting sends you to the provider to consent; an API-key provider takes its secret here.</p>
            <div class="grid">{string.Concat(cards)}</div>
            {Unconfigured(page, waiting, retry)}
            """;
        return page.Render("Integrations", "/", body, errors ?? outcomeErrors, ok, status);
    }

    /// <summary>
    /// OAuth providers nobody can connect yet (no platform client, no org client, no account): one disclosure listing each
    /// with the two settings it needs, instead of a card apiece with a disabled Connect. Open when a refused post names one.
    /// </summary>
    private static string Unconfigured(DashboardPage page, List<ProviderDefinition> waiting, Retry? retry)
    {
        if (waiting.Count == 0)
        {
            return string.Empty;
        }

        var open = retry is not null && waiting.Any(p => p.Id == retry.Provider) ? " open" : string.Empty;
        return $"""
            <details class="card unconfigured" id="unconfigured"{open}>
            <summary><span class="summary-title">{waiting.Count} more {(waiting.Count == 1 ? "provider needs" : "providers need")} an OAuth client first</span></summary>
            <p class="muted">Register an OAuth application at the provider, with the redirect URI {page.CallbackUrlHtml("callback-url")}</p>
            <p class="muted">Then either give its id and secret to the server —
            <code class="env">VALET_PROVIDERS__<wbr>&lt;ID&gt;__<wbr>CLIENTID</code> and <code class="env">VALET_PROVIDERS__<wbr>&lt;ID&gt;__<wbr>CLIENTSECRET</code> —
            or register it as this org's own client in <a href="/settings#credentials">Settings</a>. The provider then appears above with Connect.</p>
            <ul class="provider-list">{Join(waiting, p => $"""<li id="provider-{E(p.Id)}" data-provider="{E(p.Id)}"><span class="name">{E(p.DisplayName)}</span> <code>{E(p.Id)}</code></li>""")}</ul>
            </details>
            """;
    }

    private static string Card(DashboardPage page, ProviderDefinition provider, List<Connection> connections, List<Credential> credentials,
        string? defaultId, Retry? retry)
    {
        if (AuthModes.IsStatic(provider.AuthMode))
        {
            return StaticCard(page, provider, connections, defaultId, retry);
        }

        var byoc = credentials.OrderByDescending(c => c.CreatedAt).FirstOrDefault();
        var upper = provider.Id.ToUpperInvariant();
        // In the order Connect picks a client (ClientResolver: the org's newest own client first, then the server's).
        var client = byoc is not null ? "<span class=\"chip ok\">Your own client</span>"
            : provider.HasPlatformClient ? "<span class=\"chip ok\">Client configured</span>"
            : "<span class=\"chip warn\">No client</span>";
        var setup = provider.HasPlatformClient || byoc is not null ? string.Empty : $"""
            <p class="muted">To connect, set <code class="env">VALET_PROVIDERS__<wbr>{E(upper)}__<wbr>CLIENTID</code> and <code class="env">VALET_PROVIDERS__<wbr>{E(upper)}__<wbr>CLIENTSECRET</code>
            for the server, or register this org's own client in <a href="/settings#credentials">Settings</a>.</p>
            """;
        var rows = Rows(page, provider, connections, defaultId, "No account connected.");
        var canConnect = provider.HasPlatformClient || byoc is not null;
        var connect = $"""
            <form method="post" action="/integrations/connect" class="{(provider.ConnectionParameters.Count > 0 ? "connect-form" : string.Empty)}">{page.Antiforgery}<input type="hidden" name="provider" value="{E(provider.Id)}">
            {retry?.Inline("connect-" + provider.Id)}{ParameterFields(provider, retry?.Parameters)}<button type="submit" class="primary" aria-label="Connect {E(provider.DisplayName)}"{(canConnect ? string.Empty : " disabled")}>Connect</button></form>
            """;
        return $"""
            <section class="card" id="provider-{E(provider.Id)}" data-provider="{E(provider.Id)}" aria-labelledby="title-{E(provider.Id)}">
            <div class="card-head"><h2 id="title-{E(provider.Id)}">{E(provider.DisplayName)}</h2>{client}</div>
            <p class="muted mono">{E(provider.Id)}</p>{setup}{rows}
            <div class="actions card-foot">{connect}</div></section>
            """;
    }

    /// <summary>
    /// An <c>api_key</c> or <c>basic</c> provider: no OAuth client and no consent, an operator gives the secret (SPEC §13).
    /// <b>Add secret</b> is a disclosure holding the form, open again after a refused post.
    /// </summary>
    private static string StaticCard(DashboardPage page, ProviderDefinition provider, List<Connection> connections, string? defaultId, Retry? retry)
    {
        var id = provider.Id;
        var rows = Rows(page, provider, connections, defaultId, "No secret stored.");
        // Jira and Confluence have no API host of their own: each connection names its site.
        var site = provider.ApiBaseUrls.Count > 0 ? string.Empty : $"""
            <div class="field"><label for="add-{E(id)}-site">Site</label><input type="url" id="add-{E(id)}-site" name="api_base_url" required autocomplete="off" spellcheck="false"
            placeholder="https://your-site{E(provider.InstanceUrlHostSuffixes.Count > 0 ? provider.InstanceUrlHostSuffixes[0] : string.Empty)}"></div>
            """;
        var form = $"""
            <details class="add-secret" id="add-{E(id)}"{(retry is null ? string.Empty : " open")}><summary class="button primary">Add secret</summary>
            <form method="post" action="/integrations/secret" aria-label="Add a {E(SecretForms.KindName(provider))} for {E(provider.DisplayName)}">{page.Antiforgery}<input type="hidden" name="provider" value="{E(id)}">
            {retry?.Inline("add-" + id)}{SecretForms.DocsLink(provider)}{SecretForms.Fields(provider, "add-" + id)}{site}
            <div class="field"><label for="add-{E(id)}-account">Account name <span class="muted">(optional)</span></label><input type="text" id="add-{E(id)}-account" name="account" autocomplete="off" spellcheck="false" aria-describedby="add-{E(id)}-account-hint">
            <small class="muted" id="add-{E(id)}-account-hint">Tells several secrets of this provider apart. The same name again replaces that one's secret.</small></div>
            <button type="submit" class="primary" id="add-{E(id)}-save">Save secret</button>
            <p class="muted hint">Stored encrypted and never shown again; agents use it through the proxy.</p></form></details>
            """;
        return $"""
            <section class="card" id="provider-{E(id)}" data-provider="{E(id)}" aria-labelledby="title-{E(id)}">
            <div class="card-head"><h2 id="title-{E(id)}">{E(provider.DisplayName)}</h2><span class="chip ok">{E(SecretForms.KindChip(provider))}</span></div>
            <p class="muted mono">{E(id)}</p>{rows}
            <div class="card-foot">{form}</div></section>
            """;
    }

    /// <summary>One labelled input per connection parameter (a Zendesk subdomain), with where the value goes in the provider's URL.</summary>
    private static string ParameterFields(ProviderDefinition provider, IReadOnlyDictionary<string, string>? values)
    {
        if (provider.ConnectionParameters.Count == 0)
        {
            return string.Empty;
        }

        var template = provider.UrlTemplates?.AuthorizationEndpoint ?? (provider.UrlTemplates?.ApiBaseUrls is { Count: > 0 } bases ? bases[0] : null);
        var shown = template is null ? null : DashboardSecurity.TemplateAuthority(template);
        return Join(provider.ConnectionParameters, p =>
        {
            var inputId = $"connect-{provider.Id}-{p.Name}";
            var label = p.Name.Length == 0 ? p.Name : char.ToUpperInvariant(p.Name[0]) + p.Name[1..].Replace('_', ' ').Replace('-', ' ');
            var kind = p.Kind == ConnectionParameterKind.HostLabel ? "Letters, digits and '-'" : "Letters, digits and . _ ~ -";
            var where = shown is null ? "." : $" in <code>{E(shown)}</code>";
            var placeholder = "{" + p.Name + "}";
            var value = values is not null && values.TryGetValue(p.Name, out var typed) ? $" value=\"{E(typed)}\"" : string.Empty;
            return $"""
                <div class="field"><label for="{E(inputId)}">{E(label)}</label><input type="text" id="{E(inputId)}" name="param_{E(p.Name)}"{value} required autocomplete="off" spellcheck="false" autocapitalize="off" aria-describedby="{E(inputId)}-hint">
                <small class="muted" id="{E(inputId)}-hint">{kind}; it fills <span class="mono">{E(placeholder)}</span>{where}</small></div>
                """;
        });
    }

    /// <summary>
    /// A card's connections. Several of one provider: the default is marked, and without one the card says what an agent
    /// asking by provider then gets (AgentAccess: the only active one with the scopes, else 409 <c>ambiguous_connection</c>).
    /// Two that would read the same (same login) also show their ids.
    /// </summary>
    private static string Rows(DashboardPage page, ProviderDefinition provider, List<Connection> connections, string? defaultId, string empty)
    {
        if (connections.Count == 0)
        {
            return $"<p class=\"empty\">{E(empty)}</p>";
        }

        var names = connections.GroupBy(Who, StringComparer.Ordinal).Where(g => g.Count() > 1).Select(g => g.Key).ToHashSet(StringComparer.Ordinal);
        var list = "<ul class=\"rows\">" + Join(connections, c => Row(page, c, connections.Count > 1 && c.Id == defaultId, names.Contains(Who(c)))) + "</ul>";
        return connections.Count > 1 && defaultId is null
            ? list + $"""
                <p class="notice" id="no-default-{E(provider.Id)}">No default account: an agent that asks for {E(provider.DisplayName)} without naming a connection
                gets <code>ambiguous_connection</code> unless exactly one of these is active. <a href="/settings#default-{U(provider.Id)}">Choose a default</a></p>
                """
            : list;
    }

    private static string Row(DashboardPage page, Connection connection, bool isDefault, bool showId)
    {
        var who = Who(connection);
        return $"""
            <li data-connection="{E(connection.Id)}"><div class="who"><a href="/connections/{U(connection.Id)}">{E(who)}</a>{(showId ? $" <span class=\"muted mono\">{E(connection.Id)}</span>" : string.Empty)}{(connection.Parameters is { Count: > 0 } values ? " <span class=\"muted mono\">" + E(string.Join(", ", values.Values)) + "</span>" : string.Empty)}
            {StatusChip(connection)}{(isDefault ? " <span class=\"badge\">Default</span>" : string.Empty)}</div>
            <div class="actions">
            {(StaticSecrets.IsStatic(connection)
                ? $"<a class=\"button\" href=\"/connections/{U(connection.Id)}#rotate\" aria-label=\"Rotate the secret of {E(who)}\">Rotate secret</a>"
                : ReconnectForm(page, connection, $"Reconnect {who}"))}
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
        <button type="submit"{(connection.Status == ConnectionStatus.Active ? string.Empty : " class=\"primary\"")} aria-label="{E(label)}" data-reconnect="{E(connection.Id)}">Reconnect</button></form>
        """;

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

    /// <summary>A connection named across providers ("github: alice"), as the access switches and the audit page show it.</summary>
    public static string Label(Connection connection) => $"{connection.Provider}: {Who(connection)}";

    private static async Task<Connection?> OrgConnectionAsync(DashboardPage page, string id) =>
        id.Length is > 0 and <= 64 && await page.Service<IConnectionStore>().FindAsync(id, page.Aborted) is { } found && found.OrgId == page.Org.Id
            ? found
            : null;
}
