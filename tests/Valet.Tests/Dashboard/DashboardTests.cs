using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Playwright;
using Valet.Core.Domain;
using Valet.Core.Stores;
using Valet.Tests.Infrastructure;

namespace Valet.Tests.Dashboard;

/// <summary>
/// SPEC §10 in Debian's Chromium against a real server and the real oidc-provider: every page signed in with the admin
/// token, empty and populated, screenshotted under TestResults/dashboard/ and checked with axe-core.
/// </summary>
[Collection(IdpPagesCollection.Name)]
public sealed class DashboardTests(IdpFixture idp, BrowserFixture browser) : IAsyncLifetime
{
    private ValetTestServer _server = null!;

    public async Task InitializeAsync()
    {
        await idp.ResetAsync();
        _server = await ValetTestServer.StartAsync(idp.ProviderSettings(), configure: DashboardKit.WithManagedTarget);
    }

    public async Task DisposeAsync()
    {
        await _server.DisposeAsync();
        await idp.ResetAsync();
    }

    [Theory]
    [InlineData("/", "/signin?return=%2F")]
    [InlineData("/keys", "/signin?return=%2Fkeys")]
    [InlineData("/audit?kind=proxy.request", "/signin?return=%2Faudit%3Fkind%3Dproxy.request")]
    public async Task Page_WithoutSession_RedirectsToSignInAndBack(string path, string expected)
    {
        using var client = SessionKit.Client(_server.BaseUrl);

        using var response = await client.GetAsync(path);

        Assert.Equal(HttpStatusCode.Redirect, response.StatusCode);
        Assert.Equal(expected, response.Headers.Location!.OriginalString);
    }

    [Fact]
    public async Task Post_WithoutAntiforgeryToken_ChangesNothing()
    {
        using var client = SessionKit.Client(_server.BaseUrl);
        var cookie = await SessionKit.SessionCookieAsync(client);
        using var request = new HttpRequestMessage(HttpMethod.Post, "/keys") { Content = new FormUrlEncodedContent(new Dictionary<string, string> { ["name"] = "forged" }) };
        request.Headers.Add("Cookie", cookie);

        using var response = await client.SendAsync(request);

        Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
        using var admin = _server.Client();
        Assert.Empty((await admin.GetFromJsonAsync<JsonElement>("/v1/orgs/default/keys")).EnumerateArray());
    }

    [Fact]
    public async Task EveryPage_EmptyState_RendersWithoutCspErrors_AndIsAccessible()
    {
        var (page, consoleErrors) = await DashboardKit.NewPageAsync(browser);
        await DashboardKit.SignInAsync(page, _server);

        foreach (var (path, title, name) in new[] { ("/", "Integrations", "integrations"), ("/keys", "Keys", "keys"), ("/settings", "Settings", "settings"), ("/audit", "Audit", "audit") })
        {
            await page.GotoAsync(new Uri(_server.BaseUrl, path).ToString());
            Assert.Equal(title, await page.Locator("main h1").InnerTextAsync());
            Assert.True(await page.Locator(".empty").First.IsVisibleAsync(), $"{path} shows an empty state");
            await DashboardKit.ScreenshotAsync(page, name + "-empty");
            await DashboardKit.AssertAccessibleAsync(page);
        }

        Assert.Empty(consoleErrors);

        // A connection that is not there: a page that says so, 404 (Chromium logs the 404 itself, hence after the check above).
        var missing = await page.GotoAsync(new Uri(_server.BaseUrl, "/connections/conn_missing").ToString());
        Assert.Equal(404, missing!.Status);
        Assert.Contains("No such connection", await page.Locator("#flash-error").InnerTextAsync(), StringComparison.Ordinal);
        await DashboardKit.AssertAccessibleAsync(page);
        var response = await page.APIRequest.GetAsync(new Uri(_server.BaseUrl, "/").ToString());
        var csp = response.Headers["content-security-policy"];
        Assert.Contains("script-src 'self'", csp, StringComparison.Ordinal);
        Assert.Contains("frame-ancestors 'none'", csp, StringComparison.Ordinal);
        Assert.DoesNotContain("unsafe-inline", csp, StringComparison.Ordinal);
        await page.Context.CloseAsync();

        // Phone width and dark mode, for the eyes.
        var (phone, _) = await DashboardKit.NewPageAsync(browser, 390, 844, ColorScheme.Dark);
        await DashboardKit.SignInAsync(phone, _server);
        await DashboardKit.ScreenshotAsync(phone, "integrations-phone-dark");
        await DashboardKit.AssertAccessibleAsync(phone);
        await phone.Context.CloseAsync();
    }

    [Fact]
    public async Task Connect_FromIntegrations_ThroughIdpConsent_Back_ThenDisconnectWithConfirmation_RemovesManagedTargets_AndAuditShowsIt()
    {
        var (page, consoleErrors) = await DashboardKit.NewPageAsync(browser);
        await DashboardKit.SignInAsync(page, _server);

        await page.Locator("#provider-idp form[action='/integrations/connect'] button").First.ClickAsync();
        await DashboardKit.ConsentAtIdpAsync(page, "dash-alice");
        await page.WaitForURLAsync(url => url.Contains("status=complete", StringComparison.Ordinal));

        Assert.Contains("Connected", await page.Locator("#flash-ok").InnerTextAsync(), StringComparison.Ordinal);
        var row = page.Locator("#provider-idp li[data-connection]");
        Assert.Equal(1, await row.CountAsync());
        Assert.Equal("active", await row.Locator(".chip").GetAttributeAsync("data-status"));
        await DashboardKit.ScreenshotAsync(page, "integrations-connected");
        await DashboardKit.AssertAccessibleAsync(page);

        var connectionId = (await row.GetAttributeAsync("data-connection"))!;
        await row.Locator(".who a").ClickAsync();
        await page.WaitForURLAsync(url => url.EndsWith("/connections/" + connectionId, StringComparison.Ordinal));
        var target = page.Locator("tr[data-target]");
        Assert.Equal(1, await target.CountAsync());
        Assert.Contains("Managed by", await target.InnerTextAsync(), StringComparison.Ordinal);
        Assert.Equal(0, await target.Locator("button, a, form").CountAsync());
        Assert.Contains("read", await page.Locator("#scopes").InnerTextAsync(), StringComparison.Ordinal);
        await DashboardKit.ScreenshotAsync(page, "connection");
        await DashboardKit.AssertAccessibleAsync(page);

        await page.Locator("main .card-head a.danger", new() { HasText = "Disconnect" }).ClickAsync();
        Assert.StartsWith("Disconnect", await page.Locator("main h1").InnerTextAsync(), StringComparison.Ordinal);
        Assert.Contains("mail", await page.Locator("main").InnerTextAsync(), StringComparison.Ordinal);
        using var admin = _server.Client();
        Assert.Single((await admin.GetFromJsonAsync<JsonElement>("/v1/orgs/default/connections")).EnumerateArray());
        await DashboardKit.ScreenshotAsync(page, "disconnect-confirm");
        await DashboardKit.AssertAccessibleAsync(page);
        await page.Locator("#confirm-disconnect").ClickAsync();
        await page.WaitForURLAsync(url => url.Contains("done=disconnected", StringComparison.Ordinal));

        Assert.Empty((await admin.GetFromJsonAsync<JsonElement>("/v1/orgs/default/connections")).EnumerateArray());
        Assert.Empty((await admin.GetFromJsonAsync<JsonElement>("/v1/orgs/default/targets")).EnumerateArray());
        Assert.Equal(0, await page.Locator("#provider-idp li[data-connection]").CountAsync());

        await page.GotoAsync(new Uri(_server.BaseUrl, "/audit").ToString());
        Assert.True(await page.Locator("tr[data-kind]").CountAsync() >= 2);
        await page.Locator("#f-kind").SelectOptionAsync("connection.deleted");
        await page.Locator("#filter").ClickAsync();
        await page.WaitForURLAsync(url => url.Contains("kind=connection.deleted", StringComparison.Ordinal));
        var kinds = await page.Locator("tr[data-kind]").EvaluateAllAsync<string[]>("rows => rows.map(r => r.dataset.kind)");
        Assert.Equal(["connection.deleted"], kinds);
        var deleted = page.Locator("tr[data-kind]");
        Assert.Equal("Disconnected", (await deleted.Locator("td").Nth(1).InnerTextAsync()).Trim());
        Assert.Equal($"{connectionId} (disconnected)", (await deleted.Locator("td").Nth(2).InnerTextAsync()).Trim());
        await DashboardKit.ScreenshotAsync(page, "audit-filtered");
        await DashboardKit.AssertAccessibleAsync(page);
        Assert.Empty(consoleErrors);
    }

    [Fact]
    public async Task CreateKey_ShowsTheSecretOnce_AndManageAccessSwitches_ChangeWhatTheTokenRouteAllows()
    {
        await ConnectThroughApiAsync("dash-bob");
        var (page, consoleErrors) = await DashboardKit.NewPageAsync(browser);
        await DashboardKit.SignInAsync(page, _server, "/keys");

        await page.Locator("#key-name").FillAsync("release-bot");
        await page.Locator("#create-key").ClickAsync();
        var secret = (await page.Locator("#new-key-secret").InnerTextAsync()).Trim();
        Assert.True(await page.GetByRole(AriaRole.Button, new() { Name = "Copy" }).IsVisibleAsync(), "the script shows the copy button");
        await DashboardKit.ScreenshotAsync(page, "keys-created");
        await DashboardKit.AssertAccessibleAsync(page);

        await page.GotoAsync(new Uri(_server.BaseUrl, "/keys").ToString());
        Assert.Equal(0, await page.Locator("#new-key-secret").CountAsync());
        Assert.DoesNotContain(secret, await page.ContentAsync(), StringComparison.Ordinal);
        Assert.Equal(1, await page.Locator("tr[data-key]").CountAsync());

        using var agent = _server.Client(secret);
        Assert.Equal(HttpStatusCode.Forbidden, (await agent.PostAsync("/v1/providers/idp/token", null)).StatusCode);

        await page.Locator("tr[data-key] a", new() { HasText = "Manage access" }).ClickAsync();
        var dialog = page.Locator("dialog[open]");
        await dialog.WaitForAsync();
        await DashboardKit.ScreenshotAsync(page, "keys-access-dialog");
        await DashboardKit.AssertAccessibleAsync(page);
        await dialog.Locator("input[value='provider:idp']").CheckAsync();
        await dialog.GetByRole(AriaRole.Button, new() { Name = "Save access" }).ClickAsync();
        await page.WaitForURLAsync(url => url.Contains("done=access_saved", StringComparison.Ordinal));

        using var allowed = await agent.PostAsync("/v1/providers/idp/token", null);
        Assert.Equal(HttpStatusCode.OK, allowed.StatusCode);
        Assert.False(string.IsNullOrEmpty((await allowed.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("access_token").GetString()));
        await DashboardKit.ScreenshotAsync(page, "keys");

        // The plain page (no script) is the same form; switching the provider off takes the access away again.
        await page.Locator("tr[data-key] a", new() { HasText = "Manage access" }).ClickAsync();
        await page.Locator("dialog[open] input[value='provider:idp']").UncheckAsync();
        await page.Locator("dialog[open]").GetByRole(AriaRole.Button, new() { Name = "Save access" }).ClickAsync();
        await page.WaitForURLAsync(url => url.Contains("done=access_saved", StringComparison.Ordinal));
        Assert.Equal(HttpStatusCode.Forbidden, (await agent.PostAsync("/v1/providers/idp/token", null)).StatusCode);

        // Without script, Manage access is a page of its own with the same switches.
        var keyId = (await page.Locator("tr[data-key]").GetAttributeAsync("data-key"))!;
        await page.GotoAsync(new Uri(_server.BaseUrl, $"/keys/{keyId}/access").ToString());
        Assert.Equal("Access for release-bot", await page.Locator("main h1").InnerTextAsync());
        Assert.Equal(1, await page.Locator("main input[value='provider:idp']").CountAsync());
        await DashboardKit.ScreenshotAsync(page, "keys-access-page");
        await DashboardKit.AssertAccessibleAsync(page);

        // Revoke: the agent is refused from then on.
        await page.GotoAsync(new Uri(_server.BaseUrl, "/keys").ToString());
        // One click opens the question, a second revokes: nothing is revoked by the first.
        await page.Locator("summary[aria-label='Revoke release-bot']").ClickAsync();
        Assert.Equal(1, await page.Locator("tr[data-key]").CountAsync());
        await DashboardKit.ScreenshotAsync(page, "keys-revoke-confirm");
        await page.GetByRole(AriaRole.Button, new() { Name = "Revoke release-bot now" }).ClickAsync();
        await page.WaitForURLAsync(url => url.Contains("done=revoked", StringComparison.Ordinal));
        Assert.Equal(0, await page.Locator("tr[data-key]").CountAsync());
        Assert.Equal(HttpStatusCode.Unauthorized, (await agent.PostAsync("/v1/providers/idp/token", null)).StatusCode);
        Assert.Empty(consoleErrors);
    }

    [Fact]
    public async Task Headless_FlippedInSettings_TheAgentsEnvelopeLosesItsConnectUrl()
    {
        var (_, key) = await _server.CreateKeyAsync("default", new { provider = "idp" });
        using var agent = _server.Client(key);
        var before = await (await agent.PostAsync("/v1/providers/idp/token", null)).Content.ReadFromJsonAsync<JsonElement>();
        Assert.True(before.TryGetProperty("connect_url", out _), before.ToString());
        var (page, consoleErrors) = await DashboardKit.NewPageAsync(browser);
        await DashboardKit.SignInAsync(page, _server, "/settings");

        await page.Locator("#headless").CheckAsync();
        await page.Locator("form[action='/settings/headless'] button").ClickAsync();
        await page.WaitForURLAsync(url => url.Contains("done=headless_saved", StringComparison.Ordinal));

        Assert.True(await page.Locator("#headless").IsCheckedAsync());
        var after = await (await agent.PostAsync("/v1/providers/idp/token", null)).Content.ReadFromJsonAsync<JsonElement>();
        Assert.False(after.TryGetProperty("connect_url", out _), after.ToString());
        Assert.True(after.GetProperty("headless").GetBoolean());
        await DashboardKit.ScreenshotAsync(page, "settings-headless");
        Assert.Empty(consoleErrors);
    }

    [Fact]
    public async Task Settings_RegistersAClient_WriteOnly_AndSetsTheDefaultConnection()
    {
        var first = await ConnectThroughApiAsync("dash-carol");
        var second = await ConnectThroughApiAsync("dash-dave");
        var (page, consoleErrors) = await DashboardKit.NewPageAsync(browser);
        await DashboardKit.SignInAsync(page, _server, "/settings");

        await page.Locator("#cred-provider").SelectOptionAsync("idp");
        await page.Locator("#cred-id").FillAsync("my-own-client");
        await page.Locator("#cred-secret").FillAsync("my-own-secret-value");
        await page.Locator("form[action='/settings/credentials'] button").ClickAsync();
        await page.WaitForURLAsync(url => url.Contains("done=credential_added", StringComparison.Ordinal));
        Assert.Contains("my-own-client", await page.Locator("tr[data-credential]").InnerTextAsync(), StringComparison.Ordinal);
        Assert.DoesNotContain("my-own-secret-value", await page.ContentAsync(), StringComparison.Ordinal);

        await page.Locator("#default-idp").SelectOptionAsync(second);
        await page.Locator("form[action='/settings/defaults'] button").ClickAsync();
        await page.WaitForURLAsync(url => url.Contains("done=default_saved", StringComparison.Ordinal));

        var (_, key) = await _server.CreateKeyAsync("default", new { provider = "idp" });
        using var agent = _server.Client(key);
        var token = await (await agent.PostAsync("/v1/providers/idp/token", null)).Content.ReadFromJsonAsync<JsonElement>();
        Assert.Equal(second, token.GetProperty("connection_id").GetString());
        Assert.NotEqual(first, second);
        await DashboardKit.ScreenshotAsync(page, "settings");
        await DashboardKit.AssertAccessibleAsync(page);
        await page.GotoAsync(new Uri(_server.BaseUrl, "/").ToString());
        await DashboardKit.ScreenshotAsync(page, "integrations");

        // OAuth providers without a client are one folded list, each named once; opened, it says what they need.
        var unconfigured = page.Locator("#unconfigured");
        Assert.False(await unconfigured.Locator("#provider-github").IsVisibleAsync());
        await unconfigured.Locator("summary").ClickAsync();
        Assert.True(await unconfigured.Locator("#provider-github").IsVisibleAsync());
        Assert.Contains("VALET_PROVIDERS__", await unconfigured.InnerTextAsync(), StringComparison.Ordinal);
        // The redirect URI to register at the provider, from the server's own address (never the request's Host).
        Assert.Equal(new Uri(_server.BaseUrl, "/oauth/callback").ToString(), (await page.Locator("#callback-url").InnerTextAsync()).Trim());
        Assert.Equal(0, await page.Locator("section.card#provider-github").CountAsync()); // no card with a disabled Connect
        Assert.Equal(1, await page.Locator("section.card#provider-idp").CountAsync());
        // A basic provider's card and form use its own words for the two parts (an Atlassian email and an API token, not a
        // "password", which Atlassian refuses), and link to where the token comes from.
        var jira = page.Locator("#provider-jira");
        Assert.Equal("Email and API token", (await jira.Locator(".chip").InnerTextAsync()).Trim());
        Assert.Equal("Atlassian account email", (await jira.Locator("label[for=add-jira-username]").TextContentAsync())?.Trim());
        Assert.Equal("API token", (await jira.Locator("label[for=add-jira-password]").TextContentAsync())?.Trim());
        Assert.StartsWith("https://developer.atlassian.com/", await jira.Locator("a[target=_blank]").GetAttributeAsync("href"), StringComparison.Ordinal);
        await DashboardKit.ScreenshotAsync(page, "integrations-unconfigured-open");
        await DashboardKit.AssertAccessibleAsync(page);
        Assert.Empty(consoleErrors);
    }

    [Fact]
    public async Task Audit_NamesConnectionsAndKeys_AndMarksARevokedKey()
    {
        var connectionId = await ConnectThroughApiAsync("dash-carol");
        using var admin = _server.Client();
        async Task<string> CreateKeyAsync(string name) =>
            (await (await admin.PostAsJsonAsync("/v1/orgs/default/keys", new { name })).Content.ReadFromJsonAsync<JsonElement>()).GetProperty("id").GetString()!;
        var live = await CreateKeyAsync("release-bot");
        var revoked = await CreateKeyAsync("old-bot");
        var audit = _server.Services.GetRequiredService<IAuditStore>();
        foreach (var (keyId, path) in new[] { (revoked, "/user/old"), (live, "/user/new") })
        {
            await audit.AppendAsync(new AuditEvent
            {
                OrgId = "default", Kind = "proxy.request", KeyId = keyId, ConnectionId = connectionId, Method = "GET", Path = path, Status = 200,
                At = DateTimeOffset.UtcNow,
            }, CancellationToken.None);
        }

        Assert.Equal(HttpStatusCode.NoContent, (await admin.DeleteAsync($"/v1/keys/{revoked}")).StatusCode);

        var (page, consoleErrors) = await DashboardKit.NewPageAsync(browser);
        await DashboardKit.SignInAsync(page, _server, "/audit?kind=proxy.request");
        var rows = page.Locator("tr[data-kind='proxy.request']");
        Assert.Equal(2, await rows.CountAsync());
        Assert.Equal("API call", (await rows.Nth(0).Locator("td").Nth(1).InnerTextAsync()).Trim());
        Assert.Equal("idp: dash-carol", (await rows.Nth(0).Locator($"a[data-connection='{connectionId}']").InnerTextAsync()).Trim());
        Assert.Equal("release-bot", (await rows.Nth(0).Locator($"[data-key='{live}']").InnerTextAsync()).Trim());
        Assert.Equal($"{revoked} (revoked)", (await rows.Nth(1).Locator("td").Nth(3).InnerTextAsync()).Trim());
        Assert.Equal("API call", await page.Locator("#f-kind option:checked").InnerTextAsync());
        await DashboardKit.ScreenshotAsync(page, "audit-named");
        await DashboardKit.AssertAccessibleAsync(page);
        Assert.Empty(consoleErrors);
    }

    private async Task<string> ConnectThroughApiAsync(string login)
    {
        using var admin = _server.Client();
        var started = await (await admin.PostAsJsonAsync("/v1/orgs/default/connect", new { provider = "idp" })).Content.ReadFromJsonAsync<JsonElement>();
        var page = await browser.AuthorizeAsync(started.GetProperty("authorize_url").GetString()!, login);
        Assert.Equal("true", await page.Locator("#result").GetAttributeAsync("data-success"));
        await page.Context.CloseAsync();
        var flow = await admin.GetFromJsonAsync<JsonElement>($"/v1/flows/{started.GetProperty("flow_id").GetString()}/wait?timeout=10");
        return flow.GetProperty("connection_id").GetString()!;
    }
}
