using System.Net.Http.Json;
using System.Text.Json;
using Microsoft.Playwright;
using Valet.Tests.Infrastructure;

namespace Valet.Tests.Dashboard;

/// <summary>
/// The pages outside a dashboard session — sign-in and its refusals, sign-out, sign-in links, the callback result, the
/// demo consent — in Chromium: drawn with the dashboard's stylesheet (light, dark, phone width), no CSP refusal, axe-clean,
/// and screenshotted under TestResults/dashboard/.
/// </summary>
[Collection(IdpPagesCollection.Name)]
public sealed class PlainPagesTests(IdpFixture idp, BrowserFixture browser) : IAsyncLifetime
{
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
    public async Task SignIn_AnExpiredForm_SignOut_AndALink_ArePagesInTheDashboardsLook_ThatWork()
    {
        using var admin = _server.Client();
        (await admin.PostAsJsonAsync("/v1/orgs", new { id = "acme", name = "Acme" })).EnsureSuccessStatusCode();
        var (page, consoleErrors) = await DashboardKit.NewPageAsync(browser);

        // The sign-in page.
        await page.GotoAsync(new Uri(_server.BaseUrl, "/signin").ToString());
        await DashboardKit.AssertStyledAsync(page);
        await DashboardKit.ScreenshotAsync(page, "signin");
        await DashboardKit.AssertAccessibleAsync(page);

        // A form whose antiforgery cookie is gone: the form again, 400, saying why, the token not kept.
        await page.Locator("#signin-token").FillAsync(ValetTestServer.AdminToken);
        await page.Context.ClearCookiesAsync();
        var refused = await page.RunAndWaitForResponseAsync(() => page.Locator("#signin").ClickAsync(),
            r => r.Request.Method == "POST" && r.Url.EndsWith("/signin", StringComparison.Ordinal));
        Assert.Equal(400, refused.Status);
        await page.Locator("#flash-error").WaitForAsync();
        Assert.Contains("expired", await page.Locator("#flash-error").InnerTextAsync(), StringComparison.Ordinal);
        Assert.Equal(string.Empty, await page.Locator("#signin-token").InputValueAsync());
        await DashboardKit.AssertStyledAsync(page);
        await DashboardKit.ScreenshotAsync(page, "signin-form-expired");
        await DashboardKit.AssertAccessibleAsync(page);

        // That page's own form signs in, and with no page asked for, lands on the dashboard.
        await page.Locator("#signin-token").FillAsync(ValetTestServer.AdminToken);
        await page.Locator("#signin").ClickAsync();
        await DashboardKit.LeftSignInAsync(page);
        Assert.Equal("Integrations", await page.Locator("main h1").InnerTextAsync());

        // Sign out: the sign-in page, saying so.
        await page.Locator("#signout").ClickAsync();
        await page.WaitForURLAsync(url => url.Contains("done=signed_out", StringComparison.Ordinal));
        Assert.Equal("You are signed out.", await page.Locator("#flash-ok").InnerTextAsync());
        Assert.Equal(401, (await page.APIRequest.GetAsync(new Uri(_server.BaseUrl, "/me").ToString())).Status);
        await DashboardKit.ScreenshotAsync(page, "signed-out");
        await DashboardKit.AssertAccessibleAsync(page);

        // A single-use link (what `valet dashboard` opens): signs in as the local operator on its page, once.
        using var service = _server.Client(_server.ServiceToken);
        var link = (await (await service.PostAsJsonAsync("/internal/dashboard/signin-link", new { org = "default", @return = "/keys" }))
            .Content.ReadFromJsonAsync<JsonElement>()).GetProperty("url").GetString()!;
        await page.GotoAsync(link);
        Assert.Equal("/keys", new Uri(page.Url).AbsolutePath);
        Assert.Equal("Keys", await page.Locator("main h1").InnerTextAsync());
        var me = (await (await page.APIRequest.GetAsync(new Uri(_server.BaseUrl, "/me").ToString())).JsonAsync())!.Value;
        Assert.Equal("local", me.GetProperty("operator").GetString());

        // The org switcher in the header: a session for the other org, on the same page.
        await page.Locator("#org-select").SelectOptionAsync("acme");
        await page.GetByRole(AriaRole.Button, new() { Name = "Switch" }).ClickAsync();
        await page.WaitForURLAsync(url => url.Contains("done=org_switched", StringComparison.Ordinal));
        Assert.Equal("/keys", new Uri(page.Url).AbsolutePath);
        Assert.Contains("acme", await page.Locator("footer").InnerTextAsync(), StringComparison.Ordinal);
        me = (await (await page.APIRequest.GetAsync(new Uri(_server.BaseUrl, "/me").ToString())).JsonAsync())!.Value;
        Assert.Equal("acme", me.GetProperty("org").GetString());

        // At phone width the header keeps the brand, the switcher and Sign out within the screen.
        await page.SetViewportSizeAsync(390, 844);
        await DashboardKit.AssertFitsWidthAsync(page);
        var brand = (await page.Locator(".brand").BoundingBoxAsync())!;
        var signOut = (await page.Locator("#signout").BoundingBoxAsync())!;
        var switcher = (await page.Locator("#org-select").BoundingBoxAsync())!;
        var nav = (await page.Locator("nav.nav").BoundingBoxAsync())!;
        Assert.True(Math.Abs((brand.Y + brand.Height / 2) - (signOut.Y + signOut.Height / 2)) < 12, "Sign out shares the brand's row");
        Assert.True(signOut.X > 390 / 2, "Sign out is on the right");
        Assert.True(switcher.Y >= brand.Y + brand.Height, "the org switcher is on the next row");
        Assert.True(nav.Y >= switcher.Y + switcher.Height, "the navigation comes last");
        await DashboardKit.ScreenshotAsync(page, "org-switcher-phone");
        await page.SetViewportSizeAsync(1280, 860);

        var used = await page.GotoAsync(link);
        Assert.Equal(410, used!.Status);
        Assert.Contains("already been used", await page.Locator("#message").InnerTextAsync(), StringComparison.Ordinal);
        await DashboardKit.AssertStyledAsync(page);
        await DashboardKit.ScreenshotAsync(page, "signin-link-used");
        await DashboardKit.AssertAccessibleAsync(page);
        AssertNoCspRefusal(consoleErrors);
        await page.Context.CloseAsync();

        // Phone width, dark: the same form, nothing wider than the screen.
        var (phone, phoneErrors) = await DashboardKit.NewPageAsync(browser, 390, 844, ColorScheme.Dark);
        await phone.GotoAsync(new Uri(_server.BaseUrl, "/signin?return=/keys").ToString());
        await DashboardKit.AssertStyledAsync(phone);
        await DashboardKit.AssertFitsWidthAsync(phone);
        await DashboardKit.ScreenshotAsync(phone, "signin-phone-dark");
        await DashboardKit.AssertAccessibleAsync(phone);
        Assert.Empty(phoneErrors);
        await phone.Context.CloseAsync();
    }

    [Fact]
    public async Task LoopbackCallbackResult_IsStyledByItsOwnListener_AndAccessible()
    {
        using var service = _server.Client(_server.ServiceToken);
        var start = await (await service.PostAsJsonAsync("/internal/oauth/connect/start", new { provider = "idp", callback_transport = "loopback" }))
            .Content.ReadFromJsonAsync<JsonElement>();

        var page = await browser.AuthorizeAsync(start.GetProperty("auth_url").GetString()!, "lou");

        Assert.Equal("true", await page.Locator("#result").GetAttributeAsync("data-success"));
        Assert.StartsWith("http://127.0.0.1:", page.Url, StringComparison.Ordinal);
        Assert.NotEqual(_server.BaseUrl.Port, new Uri(page.Url).Port);
        await DashboardKit.AssertStyledAsync(page);
        Assert.Equal(0, await page.Locator("#open-dashboard").CountAsync());
        await DashboardKit.ScreenshotAsync(page, "callback-loopback");
        await DashboardKit.AssertAccessibleAsync(page);
        await page.Context.CloseAsync();
    }

    private static void AssertNoCspRefusal(List<string> consoleErrors) =>
        Assert.DoesNotContain(consoleErrors, e => e.Contains("Content Security Policy", StringComparison.Ordinal) || e.Contains("dashboard.css", StringComparison.Ordinal));
}
