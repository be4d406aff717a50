using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Logging;
using Valet.Core.Domain;
using Valet.Core.Providers;
using Valet.Core.Stores;
using Valet.Server.Connections;
using Valet.Server.Credentials;
using Valet.Server.Http;
using Valet.Server.Logging;
using static Valet.Server.Dashboard.Html;

namespace Valet.Server.Dashboard;

/// <summary><c>/settings</c>: headless flag, the org's own OAuth clients (secret write-only), the default connection per provider.</summary>
internal static class SettingsPage
{
    public static Task<IResult> RenderAsync(DashboardPage page) => RenderAsync(page, null, StatusCodes.Status200OK);

    private static async Task<IResult> RenderAsync(DashboardPage page, IEnumerable<string>? errors, int status)
    {
        var org = page.Org;
        var catalog = page.Service<IProviderCatalog>();
        var credentials = new List<Credential>();
        await foreach (var credential in page.Service<ICredentialStore>().ListAsync(org.Id, page.Aborted))
        {
            credentials.Add(credential);
        }

        var connections = new List<Connection>();
        await foreach (var connection in page.Service<IConnectionStore>().ListAsync(org.Id, page.Aborted))
        {
            connections.Add(connection);
        }

        var credentialRows = credentials.Count == 0 ? "<p class=\"empty\">No clients of this org's own. Providers use the server's clients.</p>" : $"""
            <div class="table-wrap"><table><thead><tr><th scope="col">Provider</th><th scope="col">Client id</th><th scope="col">Secret</th><th scope="col">Added</th></tr></thead><tbody>
            {Join(credentials.OrderBy(c => c.Provider, StringComparer.Ordinal), c => $"<tr data-credential=\"{E(c.Id)}\"><td>{E(c.Provider)}</td><td class=\"mono\">{E(c.ClientId)}</td><td>{(c.ClientSecret is null ? "not set" : "set (write-only)")}</td><td>{When(c.CreatedAt)}</td></tr>")}
            </tbody></table></div>
            """;
        // Only providers that take an OAuth client (api_key and basic connections hold their own secret).
        var providerOptions = Join(catalog.All.Where(p => !AuthModes.IsStatic(p.AuthMode)).OrderBy(p => p.DisplayName, StringComparer.OrdinalIgnoreCase),
            p => $"<option value=\"{E(p.Id)}\">{E(p.DisplayName)}</option>");

        var defaults = new List<string>();
        foreach (var group in connections.GroupBy(c => c.Provider).OrderBy(g => g.Key, StringComparer.Ordinal))
        {
            var current = await page.Service<IOrgStore>().FindDefaultConnectionAsync(org.Id, group.Key, page.Aborted);
            var name = catalog.Find(group.Key)?.DisplayName ?? group.Key;
            var options = Join(group.OrderBy(c => c.CreatedAt), c =>
                $"<option value=\"{E(c.Id)}\"{(c.Id == current ? " selected" : string.Empty)}>{E(c.AccountLogin ?? c.AccountEmail ?? c.AccountId)}</option>");
            defaults.Add($"""
                <form method="post" action="/settings/defaults" class="inline">{page.Antiforgery}<input type="hidden" name="provider" value="{E(group.Key)}">
                <div class="field"><label for="default-{E(group.Key)}">{E(name)}</label><select id="default-{E(group.Key)}" name="connection">
                {(current is null ? "<option value=\"\" selected>— none chosen —</option>" : string.Empty)}{options}</select></div>
                <button type="submit">Save default</button></form>
                """);
        }

        var body = $"""
            <section class="card" aria-labelledby="h-headless"><h2 id="h-headless">Headless</h2>
            <form method="post" action="/settings/headless">{page.Antiforgery}
            <label class="switch"><input type="checkbox" role="switch" name="headless" value="true" id="headless"{(org.Headless ? " checked" : string.Empty)}>
            <span class="what">Headless (white-label) org<small>Agents' answers carry no Valet connect link: your own app connects people.</small></span></label>
            <p><button type="submit">Save</button></p></form></section>
            <section class="card" id="credentials" aria-labelledby="h-credentials"><h2 id="h-credentials">Your own OAuth clients</h2>
            <p class="muted">Register this org's own client for a provider (bring your own client). The secret is stored encrypted and never shown again.</p>
            {credentialRows}
            <h3>Add a client</h3>
            <p class="muted">The redirect URI to register with the provider: {page.CallbackUrlHtml("settings-callback-url")}</p>
            <form method="post" action="/settings/credentials">{page.Antiforgery}
            <div class="field"><label for="cred-provider">Provider</label><select id="cred-provider" name="provider">{providerOptions}</select></div>
            <div class="field"><label for="cred-id">Client id</label><input type="text" id="cred-id" name="client_id" maxlength="512" required autocomplete="off"></div>
            <div class="field"><label for="cred-secret">Client secret</label><input type="password" id="cred-secret" name="client_secret" required autocomplete="off"></div>
            <button type="submit" class="primary">Add client</button></form></section>
            <section class="card" aria-labelledby="h-defaults"><h2 id="h-defaults">Default connections</h2>
            <p class="muted">When an agent asks for a provider and may use several accounts, the default one answers; if it needs reconnecting, the agent is told so — Valet never switches to another person's account on its own.</p>
            {(defaults.Count == 0 ? "<p class=\"empty\">No connections yet.</p>" : string.Concat(defaults))}</section>
            """;
        return page.Render("Settings", "/settings", body, errors, status: status);
    }

    public static async Task<IResult> HeadlessAsync(DashboardPage page, IFormCollection form)
    {
        var headless = form["headless"].ToString() == "true";
        if (await page.Service<IOrgStore>().SetHeadlessAsync(page.Org.Id, headless, page.Aborted) is null)
        {
            return await RenderAsync(page, ["The org no longer exists."], StatusCodes.Status404NotFound);
        }

        Log.OrgHeadlessChanged(page.Service<ILoggerFactory>().CreateLogger("Valet.Orgs"), page.Org.Id, headless);
        return DashboardPage.Done("/settings", "headless_saved");
    }

    public static async Task<IResult> AddCredentialAsync(DashboardPage page, IFormCollection form)
    {
        var validation = new Validation();
        var credential = await CredentialIssuer.CreateAsync(page.Org.Id, form["provider"].ToString(), form["client_id"].ToString(),
            form["client_secret"].ToString(), validation, page.Service<ICredentialStore>(), page.Service<IProviderCatalog>(),
            page.Service<TimeProvider>(), page.Service<ILoggerFactory>(), page.Aborted);
        return credential is null
            ? await RenderAsync(page, validation.Messages, StatusCodes.Status422UnprocessableEntity)
            : DashboardPage.Done("/settings", "credential_added");
    }

    public static async Task<IResult> DefaultAsync(DashboardPage page, IFormCollection form)
    {
        var outcome = await DefaultConnections.SetAsync(page.Org.Id, form["provider"].ToString(), form["connection"].ToString(),
            page.Service<IOrgStore>(), page.Service<IConnectionStore>(), page.Aborted);
        return outcome switch
        {
            SetDefaultOutcome.Set => DashboardPage.Done("/settings", "default_saved"),
            SetDefaultOutcome.ProviderMismatch => await RenderAsync(page, ["That connection belongs to another provider."], StatusCodes.Status422UnprocessableEntity),
            _ => await RenderAsync(page, ["Choose a connection of this org."], StatusCodes.Status422UnprocessableEntity),
        };
    }
}
