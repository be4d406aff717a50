using System.Net.Http.Json;
using System.Text.Json;
using Microsoft.Playwright;
using Valet.Server.Demo;
using Valet.Tests.Infrastructure;

namespace Valet.Tests.Dashboard;

/// <summary>The demo provider's consent page and the gateway callback's results (declined and connected), in Chromium.</summary>
[Collection(IdpPagesCollection.Name)]
public sealed class DemoPagesTests(BrowserFixture browser) : IAsyncLifetime
{
    private ValetTestServer _server = null!;

    public async Task InitializeAsync()
    {
        var port = ValetTestServer.FreePort();
        var settings = DemoAuthorizationServer.ProviderConfiguration($"http://127.0.0.1:{port}", "demo-secret-for-tests-0123456789");
        settings["urls"] = $"http://127.0.0.1:{port}";
        _server = await ValetTestServer.StartAsync(settings);
    }

    public async Task DisposeAsync() => await _server.DisposeAsync();

    [Fact]
    public async Task DemoConsent_AndTheCallbacksResults_AreInTheDashboardsLook_LightAndPhoneDark_AndAccessible()
    {
        // Declined: "Not connected", nothing stored.
        var (page, errors) = await DashboardKit.NewPageAsync(browser);
        await page.GotoAsync(await StartAsync());
        Assert.Equal("Demo provider — consent", await page.Locator("main h1").InnerTextAsync());
        Assert.Equal(0, await page.Locator("#result").CountAsync());
        await DashboardKit.AssertStyledAsync(page);
        await DashboardKit.ScreenshotAsync(page, "demo-consent");
        await DashboardKit.AssertAccessibleAsync(page);
        await page.Locator("#deny").ClickAsync();
        await page.Locator("#result[data-success=false]").WaitForAsync();
        Assert.Equal("Not connected", await page.Locator("#result").InnerTextAsync());
        Assert.Contains("declined", await page.Locator("#message").InnerTextAsync(), StringComparison.Ordinal);
        await DashboardKit.AssertStyledAsync(page);
        await DashboardKit.ScreenshotAsync(page, "callback-not-connected");
        await DashboardKit.AssertAccessibleAsync(page);
        using var admin = _server.Client();
        Assert.Empty((await admin.GetFromJsonAsync<JsonElement>("/v1/orgs/default/connections")).EnumerateArray());

        // Allowed: "Connected", with the way into the dashboard.
        await page.GotoAsync(await StartAsync());
        await page.Locator("#demo-user").FillAsync("demo-dana");
        await page.Locator("#allow").ClickAsync();
        await page.Locator("#result[data-success=true]").WaitForAsync();
        Assert.Contains("demo-dana", await page.Locator("#message").InnerTextAsync(), StringComparison.Ordinal);
        Assert.Equal(1, await page.Locator("#open-dashboard").CountAsync());
        await DashboardKit.ScreenshotAsync(page, "callback-connected");
        await DashboardKit.AssertAccessibleAsync(page);
        Assert.Empty(errors);
        await page.Context.CloseAsync();

        // Phone width, dark.
        var (phone, phoneErrors) = await DashboardKit.NewPageAsync(browser, 390, 844, ColorScheme.Dark);
        await phone.GotoAsync(await StartAsync());
        await DashboardKit.AssertStyledAsync(phone);
        await DashboardKit.AssertFitsWidthAsync(phone);
        await DashboardKit.ScreenshotAsync(phone, "demo-consent-phone-dark");
        await DashboardKit.AssertAccessibleAsync(phone);
        await phone.Locator("#allow").ClickAsync();
        await phone.Locator("#result[data-success=true]").WaitForAsync();
        await DashboardKit.AssertStyledAsync(phone);
        await DashboardKit.AssertFitsWidthAsync(phone);
        await DashboardKit.ScreenshotAsync(phone, "callback-connected-phone-dark");
        await DashboardKit.AssertAccessibleAsync(phone);
        Assert.Empty(phoneErrors);
        await phone.Context.CloseAsync();
    }

    private async Task<string> StartAsync()
    {
        using var admin = _server.Client();
        var started = await (await admin.PostAsJsonAsync("/v1/orgs/default/connect", new { provider = "demo" })).Content.ReadFromJsonAsync<JsonElement>();
        return started.GetProperty("authorize_url").GetString()!;
    }
}
