using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Playwright;
using Valet.Core.Stores;
using Valet.Tests.Infrastructure;

namespace Valet.Tests.Dashboard;

/// <summary>
/// SPEC §10 "Sign in with a provider", in Chromium against the real oidc-provider configured under two provider ids
/// (<c>idp</c> and <c>idp2</c>), with an allow-list of one operator.
/// </summary>
[Collection(IdpPagesCollection.Name)]
public sealed class ProviderSignInTests(IdpFixture idp, BrowserFixture browser) : IAsyncLifetime
{
    private const string Operator = "op-alice";
    private ValetTestServer _server = null!;

    public async Task InitializeAsync()
    {
        await idp.ResetAsync();
        var settings = idp.ProviderSettings("idp");
        foreach (var (key, value) in idp.ProviderSettings("idp2"))
        {
            settings[key] = value;
        }

        settings["Dashboard:SignInProvider"] = "idp,idp2";
        settings["Dashboard:Operators"] = "someone-else@example.test, OP-ALICE";
        _server = await ValetTestServer.StartAsync(settings);
    }

    public async Task DisposeAsync()
    {
        await _server.DisposeAsync();
        await idp.ResetAsync();
    }

    [Fact]
    public async Task SignInThroughTheIdp_MeShowsProviderAndLogin_SwitchingProviders_KeepsTheFirstConnection()
    {
        var (page, consoleErrors) = await DashboardKit.NewPageAsync(browser);
        var orgs = _server.Services.GetRequiredService<IOrgStore>();
        var connections = _server.Services.GetRequiredService<IConnectionStore>();

        await page.GotoAsync(new Uri(_server.BaseUrl, "/keys").ToString());
        Assert.Equal("/keys", await page.Locator("input[name=return]").First.InputValueAsync());
        await DashboardKit.AssertStyledAsync(page);
        await DashboardKit.ScreenshotAsync(page, "signin-providers");
        await DashboardKit.AssertAccessibleAsync(page);
        await page.Locator("#signin-idp").ClickAsync();
        await CompleteAtIdpAsync(page, Operator);

        Assert.EndsWith("/keys", page.Url, StringComparison.Ordinal);
        Assert.Equal("Keys", await page.Locator("main h1").InnerTextAsync());
        var me = await MeAsync(page);
        Assert.Equal("idp", me.GetProperty("provider").GetString());
        Assert.Equal(Operator, me.GetProperty("account_login").GetString());
        Assert.Equal(Operator, me.GetProperty("operator").GetString());
        Assert.Equal("default", me.GetProperty("org").GetString());
        Assert.Equal(idp.Issuer + "/api", me.GetProperty("base_url").GetString());
        var first = Assert.Single(await connections.ListAsync("default", CancellationToken.None).ToListAsync());
        Assert.Equal(first.Id, await orgs.FindDefaultConnectionAsync("default", "idp", CancellationToken.None));

        await page.GotoAsync(new Uri(_server.BaseUrl, "/signin?return=/").ToString());
        await page.Locator("#signin-idp2").ClickAsync();
        await CompleteAtIdpAsync(page, Operator);

        Assert.Equal("Integrations", await page.Locator("main h1").InnerTextAsync());
        me = await MeAsync(page);
        Assert.Equal("idp2", me.GetProperty("provider").GetString());
        Assert.Equal(Operator, me.GetProperty("account_login").GetString());
        var all = await connections.ListAsync("default", CancellationToken.None).ToListAsync();
        Assert.Equal(["idp", "idp2"], all.Select(c => c.Provider).Order(StringComparer.Ordinal));
        Assert.Contains(all, c => c.Id == first.Id);
        Assert.Equal(first.Id, await orgs.FindDefaultConnectionAsync("default", "idp", CancellationToken.None));
        Assert.Equal(all.Single(c => c.Provider == "idp2").Id, await orgs.FindDefaultConnectionAsync("default", "idp2", CancellationToken.None));
        await DashboardKit.ScreenshotAsync(page, "signed-in-with-provider");
        // The page says who is signed in, and through which provider (it said "local" for every non-admin session); a
        // provider session operates its one org, so no switcher.
        Assert.Contains($"Signed in as {Operator} (via idp2)", await page.Locator("footer").InnerTextAsync(), StringComparison.Ordinal);
        Assert.Equal(0, await page.Locator("#org-select").CountAsync());
        // The IdP's pages log their own failed loads; what must not happen is a CSP refusal on Valet's pages (the form-action redirect).
        Assert.DoesNotContain(consoleErrors, e => e.Contains("Content Security Policy", StringComparison.Ordinal));
        await page.Context.CloseAsync();
    }

    [Fact]
    public async Task ALoginNotOnTheAllowList_IsRefused_AndLeavesNoConnectionOrSession()
    {
        var (page, _) = await DashboardKit.NewPageAsync(browser);

        await page.GotoAsync(new Uri(_server.BaseUrl, "/signin").ToString());
        await page.Locator("#signin-idp").ClickAsync();
        await CompleteAtIdpAsync(page, "op-mallory");

        Assert.Equal("Sign-in refused", await page.Locator("#result").InnerTextAsync());
        Assert.Contains("not_an_operator", await page.ContentAsync(), StringComparison.Ordinal);
        await DashboardKit.ScreenshotAsync(page, "signin-refused");
        await DashboardKit.AssertAccessibleAsync(page);
        var me = await page.APIRequest.GetAsync(new Uri(_server.BaseUrl, "/me").ToString());
        Assert.Equal(401, me.Status);
        Assert.Empty(await _server.Services.GetRequiredService<IConnectionStore>().ListAsync("default", CancellationToken.None).ToListAsync());
        // The log names the account's immutable id, so an operator who means to admit it can write the exact entry.
        Assert.Contains("the idp account op-mallory is not on VALET_DASHBOARD__OPERATORS (the entry idp:op-mallory would admit it)", _server.Logs.All, StringComparison.Ordinal);
        await page.Context.CloseAsync();
    }

    [Fact]
    public async Task Me_WithoutASession_Is401_AndTheSignInPageOffersEachProvider()
    {
        using var client = SessionKit.Client(_server.BaseUrl);

        using var me = await client.GetAsync("/me");
        var signIn = await client.GetStringAsync("/signin");

        Assert.Equal(HttpStatusCode.Unauthorized, me.StatusCode);
        Assert.Contains("id=\"signin-idp\"", signIn, StringComparison.Ordinal);
        Assert.Contains("id=\"signin-idp2\"", signIn, StringComparison.Ordinal);
    }

    [Fact]
    public async Task TheSignInPage_NamesTheOrgAProviderSignInWouldConnectTheAccountTo()
    {
        using var admin = _server.Client();
        Assert.True((await admin.PostAsJsonAsync("/v1/orgs", new { id = "tenant-b" })).IsSuccessStatusCode);
        using var client = SessionKit.Client(_server.BaseUrl);

        // A link may name the org (an envelope's connect link does). Signing in with a provider makes the person's account
        // that org's default connection, so the page says which org, on the button and in words.
        var other = await client.GetStringAsync("/signin?org=tenant-b");
        Assert.Contains(">Sign in to tenant-b with ", other, StringComparison.Ordinal);
        Assert.Contains("connects that account to the org <strong>tenant-b</strong>", other, StringComparison.Ordinal);
        var usual = await client.GetStringAsync("/signin");
        Assert.Contains(">Sign in with ", usual, StringComparison.Ordinal);
        Assert.Contains("connects that account to the org <strong>default</strong>", usual, StringComparison.Ordinal);
    }

    [Fact]
    public async Task ProviderSignInStarts_NeedNoCredentials_SoTheyAreLimitedPerAddress_AndNeverFillTheOrgsConnectFlows()
    {
        using var client = SessionKit.Client(_server.BaseUrl);
        var (field, token, cookie) = await SessionKit.AntiforgeryAsync(client, "/signin");
        async Task<HttpStatusCode> StartAsync()
        {
            using var request = new HttpRequestMessage(HttpMethod.Post, "/signin/provider")
            {
                Content = new FormUrlEncodedContent(new Dictionary<string, string> { [field] = token, ["provider"] = "idp", ["org"] = "default" }),
            };
            request.Headers.Add("Cookie", cookie);
            using var response = await client.SendAsync(request);
            return response.StatusCode;
        }

        // The default start budget (20, then 10 a minute, a bucket of its own): a flood from one address stops there.
        var statuses = new List<HttpStatusCode>();
        for (var i = 0; i < 25; i++)
        {
            statuses.Add(await StartAsync());
        }

        Assert.Equal(20, statuses.Count(s => s == HttpStatusCode.SeeOther));
        Assert.All(statuses.Skip(20), s => Assert.Equal(HttpStatusCode.TooManyRequests, s));

        // Sign-ins are counted apart from the org's connect flows, and their limit is not the failure budget: an operator
        // behind the same address can still sign in with the admin token and start a connect flow.
        using var admin = _server.Client();
        using var connect = await admin.PostAsJsonAsync("/v1/orgs/default/connect", new { provider = "idp" });
        Assert.Equal(HttpStatusCode.Created, connect.StatusCode);
        var flows = _server.Services.GetRequiredService<IFlowStore>();
        Assert.Equal(20, await flows.CountPendingAsync("default", signIn: true, DateTimeOffset.UtcNow, CancellationToken.None));
        Assert.Equal(1, await flows.CountPendingAsync("default", signIn: false, DateTimeOffset.UtcNow, CancellationToken.None));
    }

    private static async Task<JsonElement> MeAsync(IPage page)
    {
        var response = await page.APIRequest.GetAsync(page.Url[..page.Url.IndexOf('/', 8)] + "/me");
        Assert.Equal(200, response.Status);
        return (await response.JsonAsync())!.Value;
    }

    /// <summary>The IdP's login (unless it still has a session for this browser) and consent (unless already given), then back at Valet.</summary>
    private static async Task CompleteAtIdpAsync(IPage page, string login)
    {
        var loginField = page.Locator("input[name=login]");
        var consent = page.GetByRole(AriaRole.Button, new() { Name = "Continue" });
        var back = page.Locator("main h1").Or(page.Locator("#result"));

        // The sign-in page has a heading too: first leave it (for the IdP, or straight back when the IdP remembers all).
        await DashboardKit.LeftSignInAsync(page);
        await loginField.Or(consent).Or(back).First.WaitForAsync();
        if (await loginField.CountAsync() > 0)
        {
            await DashboardKit.ConsentAtIdpAsync(page, login);
        }
        else if (await consent.CountAsync() > 0)
        {
            await consent.ClickAsync();
        }

        await back.First.WaitForAsync();
    }
}
