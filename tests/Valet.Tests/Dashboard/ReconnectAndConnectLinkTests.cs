using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Playwright;
using Valet.Core.Domain;
using Valet.Core.Stores;
using Valet.Tests.Infrastructure;
using Valet.Tests.Refresh;

namespace Valet.Tests.Dashboard;

/// <summary>
/// SPEC §10 and §5 in Debian's Chromium against a real server and the real oidc-provider: Reconnect renews a connection
/// in place, and an agent's gated <c>connect_url</c> takes a person who is not signed in through sign-in straight into the
/// flow, whose completion the agent sees.
/// </summary>
[Collection(IdpPagesCollection.Name)]
public sealed class ReconnectAndConnectLinkTests(IdpFixture idp, BrowserFixture browser) : IAsyncLifetime
{
    private static readonly string[] WithWrite = ["openid", "offline_access", "profile", "read", "write"];
    private ValetTestServer _server = null!;

    public async Task InitializeAsync()
    {
        await idp.ResetAsync();
        _server = await ValetTestServer.StartAsync(idp.ProviderSettings());
    }

    public async Task DisposeAsync()
    {
        await _server.DisposeAsync();
        await idp.ResetAsync();
    }

    [Fact]
    public async Task Reconnect_ADeadConnection_FromItsPage_ThroughIdpConsent_RenewsTheSameConnection_WithoutNarrowingItsScopes()
    {
        // Arrange: a connection holding an extra scope (write), whose grant then dies at the IdP (invalid_grant on refresh).
        var connectionId = await ConnectThroughApiAsync("rey", WithWrite);
        var (_, key) = await _server.CreateKeyAsync("default", new { provider = "idp" });
        using var agent = _server.Client(key);
        var first = await RefreshKit.TokenAsync(agent, new Uri(_server.BaseUrl, "/v1/providers/idp/token"));
        Assert.True(first.Status == HttpStatusCode.OK, first.Text);
        await idp.SetFaultAsync("invalid_grant", grant: "refresh_token", times: 1);
        await RefreshKit.ExpireAsync(_server.Services, connectionId);
        var dead = await RefreshKit.TokenAsync(agent, new Uri(_server.BaseUrl, "/v1/providers/idp/token"));
        RefreshKit.AssertEnvelope(dead, "reauth_required");
        Assert.Equal(connectionId, dead.Body.GetProperty("connection_id").GetString());
        var (page, consoleErrors) = await DashboardKit.NewPageAsync(browser);
        await DashboardKit.SignInAsync(page, _server);
        var row = page.Locator($"#provider-idp li[data-connection='{connectionId}']");
        Assert.Equal("reauth_required", await row.Locator(".chip").GetAttributeAsync("data-status"));
        await DashboardKit.ScreenshotAsync(page, "integrations-reconnect-needed");
        await row.Locator(".who a").ClickAsync();
        await page.WaitForURLAsync(url => url.EndsWith("/connections/" + connectionId, StringComparison.Ordinal));
        Assert.Contains("invalid_grant", await page.Locator("#last-error").InnerTextAsync(), StringComparison.Ordinal);

        // Act: Reconnect on the connection's page, then the IdP's login and consent.
        await page.Locator($"main button[data-reconnect='{connectionId}']").ClickAsync();
        await DashboardKit.ConsentAtIdpAsync(page, "rey");
        await page.WaitForURLAsync(url => url.Contains("status=complete", StringComparison.Ordinal));

        // Assert: back on the same connection's page, renewed in place, the scopes kept, and the agent served again.
        Assert.Equal("/connections/" + connectionId, new Uri(page.Url).AbsolutePath);
        Assert.Contains("Reconnected", await page.Locator("#flash-ok").InnerTextAsync(), StringComparison.Ordinal);
        Assert.Equal("active", await page.Locator("#status .chip").GetAttributeAsync("data-status"));
        Assert.Contains("invalid_grant", await page.Locator("#last-error").InnerTextAsync(), StringComparison.Ordinal);
        Assert.Contains("before the last reconnect", await page.Locator("#last-error").InnerTextAsync(), StringComparison.Ordinal);
        var kinds = await HistoryKindsAsync(page);
        Assert.Contains("connection.updated", kinds);
        Assert.Contains("connection.reauth_required", kinds);

        // A day of hourly refreshes later: one row says so (×25), and the reconnect and the failure before it are still in
        // view rather than pushed out by twenty identical rows; "Last error" keeps the failure too.
        var audit = _server.Services.GetRequiredService<IAuditStore>();
        for (var i = 0; i < 25; i++)
        {
            await audit.AppendAsync(new AuditEvent
            {
                OrgId = "default", Kind = "connection.refreshed", ConnectionId = connectionId, Detail = "proactive", At = DateTimeOffset.UtcNow,
            }, CancellationToken.None);
        }

        await page.ReloadAsync();
        kinds = await HistoryKindsAsync(page);
        Assert.Equal("connection.refreshed", kinds[0]);
        Assert.Contains("×25", await page.Locator("section[aria-labelledby=h-history] tbody tr").First.InnerTextAsync(), StringComparison.Ordinal);
        Assert.Contains("Token refreshed", await page.Locator("section[aria-labelledby=h-history] tbody tr").First.InnerTextAsync(), StringComparison.Ordinal);
        Assert.Contains("connection.reauth_required", kinds);
        Assert.Contains("connection.updated", kinds);
        Assert.Contains("invalid_grant", await page.Locator("#last-error").InnerTextAsync(), StringComparison.Ordinal);
        Assert.Contains("before the last reconnect", await page.Locator("#last-error").InnerTextAsync(), StringComparison.Ordinal);
        var stored = Assert.Single(await _server.Services.GetRequiredService<IConnectionStore>().ListAsync("default", CancellationToken.None).ToListAsync());
        Assert.Equal((connectionId, ConnectionStatus.Active), (stored.Id, stored.Status));
        Assert.Contains("write", stored.Scopes!);
        var renewed = await RefreshKit.TokenAsync(agent, new Uri(_server.BaseUrl, "/v1/providers/idp/token"));
        Assert.True(renewed.Status == HttpStatusCode.OK, renewed.Text);
        Assert.Equal(connectionId, renewed.Body.GetProperty("connection_id").GetString());
        Assert.NotEqual(first.AccessToken, renewed.AccessToken);
        Assert.True(await idp.IsActiveAsync(renewed.AccessToken!));
        await DashboardKit.ScreenshotAsync(page, "connection-reconnected");
        await DashboardKit.AssertAccessibleAsync(page);
        Assert.Empty(consoleErrors);
    }

    [Fact]
    public async Task Reconnect_FromIntegrations_ConsentingAsAnotherAccount_SaysSo_AndLeavesTheFirstAsItWas()
    {
        var connectionId = await ConnectThroughApiAsync("sam");
        var (page, consoleErrors) = await DashboardKit.NewPageAsync(browser);
        await DashboardKit.SignInAsync(page, _server);

        await page.Locator($"#provider-idp button[data-reconnect='{connectionId}']").ClickAsync();
        await DashboardKit.ConsentAtIdpAsync(page, "sam-other");
        await page.WaitForURLAsync(url => url.Contains("status=complete", StringComparison.Ordinal));

        Assert.Equal("/", new Uri(page.Url).AbsolutePath);
        var error = await page.Locator("#flash-error").InnerTextAsync();
        Assert.Contains("as sam-other, not as sam", error, StringComparison.Ordinal);
        Assert.Equal(0, await page.Locator("#flash-ok").CountAsync());
        var accounts = await page.Locator("#provider-idp li[data-connection] .who a").AllInnerTextsAsync();
        Assert.Equal(["sam", "sam-other"], accounts.Order(StringComparer.Ordinal));
        Assert.Equal(connectionId, await page.Locator("#provider-idp li[data-connection]").First.GetAttributeAsync("data-connection"));
        await DashboardKit.AssertAccessibleAsync(page);
        Assert.Empty(consoleErrors);
    }

    [Fact]
    public async Task EnvelopeConnectUrl_OpenedWithoutASession_GoesThroughSignIn_AndAConfirmation_IntoTheFlow_AndTheAgentsWaitCompletes()
    {
        // An agent of org "acme" has nothing connected: its envelope carries the gated link and the flow to wait on.
        using var admin = _server.Client();
        (await admin.PostAsJsonAsync("/v1/orgs", new { id = "acme" })).EnsureSuccessStatusCode();
        var (_, key) = await _server.CreateKeyAsync("acme", new { provider = "idp" });
        using var agent = _server.Client(key);
        var envelope = await RefreshKit.TokenAsync(agent, new Uri(_server.BaseUrl, "/v1/providers/idp/token"));
        RefreshKit.AssertEnvelope(envelope, "needs_authentication");
        var connectUrl = new Uri(envelope.Body.GetProperty("connect_url").GetString()!);
        var flowId = envelope.Body.GetProperty("flow_id").GetString()!;
        var agentWait = agent.GetFromJsonAsync<JsonElement>($"/v1/flows/{Uri.EscapeDataString(flowId)}/wait?timeout=90");
        var (page, consoleErrors) = await DashboardKit.NewPageAsync(browser);
        var navigations = new List<string>();
        page.Request += (_, request) =>
        {
            if (request.IsNavigationRequest && request.Frame == page.MainFrame)
            {
                navigations.Add(request.Method + " " + request.Url);
            }
        };

        // 1. Not signed in: the link opens the sign-in form, which will come back to it, for the flow's org.
        await page.GotoAsync(connectUrl.ToString());
        Assert.Equal("/signin", new Uri(page.Url).AbsolutePath);
        Assert.Equal(connectUrl.PathAndQuery, await page.Locator("#signin-form input[name=return]").InputValueAsync());
        Assert.Equal("acme", await page.Locator("#signin-org").InputValueAsync());
        Assert.Contains("An agent asked for an account to be connected", await page.Locator("#signin-why").InnerTextAsync(), StringComparison.Ordinal);
        Assert.False(agentWait.IsCompleted, "the agent is still waiting");
        await DashboardKit.AssertStyledAsync(page);
        await DashboardKit.ScreenshotAsync(page, "signin-for-connect-link");
        await DashboardKit.AssertAccessibleAsync(page);

        // 2. Sign in with the token: back on the link, which says what the agent asked for and goes nowhere by itself.
        navigations.Clear();
        await page.Locator("#signin-token").FillAsync(ValetTestServer.AdminToken);
        await page.Locator("#signin").ClickAsync();
        await page.Locator("#connect-continue").WaitForAsync();
        Assert.Equal(connectUrl.ToString(), page.Url);
        Assert.Contains("acme", await page.Locator("#message").InnerTextAsync(), StringComparison.Ordinal);
        Assert.False(agentWait.IsCompleted, "the agent is still waiting");
        await DashboardKit.AssertStyledAsync(page);
        await DashboardKit.ScreenshotAsync(page, "connect-link-confirm");
        await DashboardKit.AssertAccessibleAsync(page);

        // Continue: on to the IdP, no dashboard page in between.
        await page.Locator("#connect-continue").ClickAsync();
        await page.Locator("input[name=login]").WaitForAsync();
        Assert.StartsWith(idp.Issuer + "/", page.Url, StringComparison.Ordinal);
        var valet = _server.BaseUrl.GetLeftPart(UriPartial.Authority);
        Assert.Equal(["POST " + valet + "/signin", "GET " + connectUrl, "POST " + valet + "/connect-authorize"],
            navigations.Where(n => n.Contains(valet, StringComparison.Ordinal)));

        // 3. Consent at the IdP: back on Valet's result page.
        await DashboardKit.ConsentAtIdpAsync(page, "gina");
        await page.Locator("#result").WaitForAsync();
        Assert.Equal("true", await page.Locator("#result").GetAttributeAsync("data-success"));
        Assert.Contains("gina", await page.Locator("#message").InnerTextAsync(), StringComparison.Ordinal);
        await page.WaitForURLAsync(url => !url.Contains("code=", StringComparison.Ordinal));
        await DashboardKit.AssertStyledAsync(page);
        await DashboardKit.ScreenshotAsync(page, "connect-link-connected");
        await DashboardKit.AssertAccessibleAsync(page);

        // 4. The agent's wait answers complete, and its token route now gives a live token of that connection.
        var done = await agentWait;
        Assert.Equal("complete", done.GetProperty("status").GetString());
        var connectionId = done.GetProperty("connection_id").GetString()!;
        var token = await RefreshKit.TokenAsync(agent, new Uri(_server.BaseUrl, "/v1/providers/idp/token"));
        Assert.True(token.Status == HttpStatusCode.OK, token.Text);
        Assert.Equal(connectionId, token.Body.GetProperty("connection_id").GetString());
        Assert.True(await idp.IsActiveAsync(token.AccessToken!));

        // 5. The result page leads into the dashboard, signed in to the flow's org, on the new connection.
        await page.Locator("#open-dashboard").ClickAsync();
        await page.WaitForURLAsync(url => url.EndsWith("/connections/" + connectionId, StringComparison.Ordinal));
        Assert.Equal("gina", (await page.Locator("main h1").InnerTextAsync()).Trim());
        Assert.Contains("acme", await page.Locator("footer").InnerTextAsync(), StringComparison.Ordinal);

        Assert.Empty(consoleErrors);

        // 6. The same link once more: the flow is finished, and the page says so (409), styled and accessible. (Chromium
        // logs the document's own 409 as a console error; nothing else may appear.)
        var again = await page.GotoAsync(connectUrl.ToString());
        Assert.Equal(409, again!.Status);
        Assert.Contains("already been used", await page.Locator("#message").InnerTextAsync(), StringComparison.Ordinal);
        await DashboardKit.AssertStyledAsync(page);
        await DashboardKit.ScreenshotAsync(page, "connect-link-finished");
        await DashboardKit.AssertAccessibleAsync(page);
        Assert.All(consoleErrors, e => Assert.Contains("status of 409", e, StringComparison.Ordinal));
    }

    private async Task<string> ConnectThroughApiAsync(string login, string[]? scopes = null)
    {
        using var admin = _server.Client();
        var started = await (await admin.PostAsJsonAsync("/v1/orgs/default/connect", new { provider = "idp", scopes })).Content.ReadFromJsonAsync<JsonElement>();
        var page = await browser.AuthorizeAsync(started.GetProperty("authorize_url").GetString()!, login);
        Assert.Equal("true", await page.Locator("#result").GetAttributeAsync("data-success"));
        await page.Context.CloseAsync();
        var flow = await admin.GetFromJsonAsync<JsonElement>($"/v1/flows/{started.GetProperty("flow_id").GetString()}/wait?timeout=10");
        return flow.GetProperty("connection_id").GetString()!;
    }

    private static async Task<List<string>> HistoryKindsAsync(Microsoft.Playwright.IPage page) =>
        [.. (await page.Locator("section[aria-labelledby=h-history] tbody tr").EvaluateAllAsync<string[]>("rows => rows.map(r => r.dataset.kind)"))];
}
