using System.Net.Http.Json;
using System.Text.Json;
using Microsoft.Playwright;
using Valet.Tests.Infrastructure;
using Valet.Tests.Providers.Fidelity;

namespace Valet.Tests.Dashboard;

/// <summary>
/// Issue 15, item 5, in the dashboard: Zendesk's Connect asks for the subdomain (one labelled input), starts the flow at
/// that subdomain through the API's flow start, and a value that is not a host label is the page's readable error. In
/// Chromium against <see cref="ZendeskServer"/> (the real server and the Zendesk fake that plays every subdomain).
/// </summary>
[Collection(IdpPagesCollection.Name)]
public sealed class ConnectParametersFormTests(BrowserFixture browser) : IAsyncLifetime
{
    private readonly ZendeskServer _zendesk = new();

    public Task InitializeAsync() => _zendesk.InitializeAsync();

    public Task DisposeAsync() => _zendesk.DisposeAsync();

    [Fact]
    public async Task ConnectZendesk_WithASubdomain_GoesToThatSubdomain_AndComesBackConnected_ABadSubdomainIsThePagesError()
    {
        var server = _zendesk.Server;
        var fake = _zendesk.Zendesk;
        var (page, consoleErrors) = await DashboardKit.NewPageAsync(browser);
        var navigations = new List<string>();
        page.Request += (_, request) =>
        {
            if (request.IsNavigationRequest && request.Frame == page.MainFrame)
            {
                navigations.Add(request.Url);
            }
        };
        await DashboardKit.SignInAsync(page, server);
        var card = page.Locator("#provider-zendesk");
        var subdomain = card.Locator("#connect-zendesk-subdomain");
        Assert.Equal("Subdomain", await card.Locator("label[for=connect-zendesk-subdomain]").InnerTextAsync());
        Assert.Contains("{subdomain}", await card.Locator("#connect-zendesk-subdomain-hint").InnerTextAsync(), StringComparison.Ordinal);

        // A value that is not one DNS label: 422, the parameter named and what it must be, no flow, the value kept to correct.
        await subdomain.FillAsync("evil.com/x");
        var refused = await page.RunAndWaitForResponseAsync(() => card.GetByRole(AriaRole.Button, new() { Name = "Connect Zendesk" }).ClickAsync(),
            r => r.Request.Method == "POST" && r.Url.EndsWith("/integrations/connect", StringComparison.Ordinal));
        Assert.Equal(422, refused.Status);
        var error = await page.Locator("#flash-error").InnerTextAsync();
        Assert.StartsWith("Zendesk was not connected: Connection parameter 'subdomain' must be", error, StringComparison.Ordinal);
        Assert.Equal(error, await page.Locator("#connect-zendesk-error").InnerTextAsync());
        Assert.Equal("evil.com/x", await page.Locator("#connect-zendesk-subdomain").InputValueAsync());
        Assert.DoesNotContain(navigations, n => n.Contains(ZendeskFake.Domain, StringComparison.Ordinal));
        using var admin = server.Client();
        Assert.Equal(0, (await admin.GetFromJsonAsync<JsonElement>("/v1/orgs/default/connections")).GetArrayLength());
        await page.Locator("#provider-zendesk").ScrollIntoViewIfNeededAsync();
        await DashboardKit.ScreenshotAsync(page, "integrations-connect-parameter-refused");
        await page.Locator("#provider-zendesk").ScreenshotAsync(new() { Path = Path.Combine(DashboardKit.ScreenshotDirectory, "zendesk-card-refused.png") });
        await DashboardKit.AssertAccessibleAsync(page);

        // A subdomain: the browser goes to that subdomain's authorization page (allowed by the page's form-action), the fake
        // consents, the code is exchanged at the same subdomain, and the dashboard says Connected.
        var before = fake.TokenRequests.Count;
        await page.Locator("#connect-zendesk-subdomain").FillAsync("Acme");
        await page.Locator("#provider-zendesk").GetByRole(AriaRole.Button, new() { Name = "Connect Zendesk" }).ClickAsync();
        await page.WaitForURLAsync(url => url.Contains("status=complete", StringComparison.Ordinal));
        Assert.Contains(navigations, n => n.StartsWith($"http://acme.{ZendeskFake.Domain}:{fake.Port}/oauth/authorizations/new?", StringComparison.Ordinal));
        Assert.Equal("acme." + ZendeskFake.Domain, fake.TokenRequests.Skip(before).Single().Host);
        Assert.Contains("Connected Zendesk account", await page.Locator("#flash-ok").InnerTextAsync(), StringComparison.Ordinal);
        var connection = (await admin.GetFromJsonAsync<JsonElement>("/v1/orgs/default/connections"))[0];
        Assert.Equal("acme", connection.GetProperty("parameters").GetProperty("subdomain").GetString());
        await DashboardKit.ScreenshotAsync(page, "integrations-zendesk-connected");
        await DashboardKit.AssertAccessibleAsync(page);

        // Its page shows the parameter, and Reconnect goes back to the same subdomain (the connection's own values).
        var id = connection.GetProperty("id").GetString()!;
        await page.GotoAsync(new Uri(server.BaseUrl, "/connections/" + id).ToString());
        Assert.Equal("subdomain = acme", (await page.Locator("#parameters").InnerTextAsync()).Trim());
        await DashboardKit.AssertAccessibleAsync(page);
        var authorizations = navigations.Count(n => n.Contains("/oauth/authorizations/new", StringComparison.Ordinal));
        await page.Locator($"[data-reconnect='{id}']").ClickAsync();
        await page.WaitForURLAsync(url => url.Contains("status=complete", StringComparison.Ordinal));
        var again = navigations.Where(n => n.Contains("/oauth/authorizations/new", StringComparison.Ordinal)).ToList();
        Assert.Equal(authorizations + 1, again.Count);
        Assert.StartsWith($"http://acme.{ZendeskFake.Domain}:{fake.Port}/", again[^1], StringComparison.Ordinal);
        Assert.DoesNotContain(consoleErrors, e => e.Contains("Content Security Policy", StringComparison.Ordinal));
        await page.Context.CloseAsync();

        // Phone width, dark: the card with its input fits.
        var (phone, _) = await DashboardKit.NewPageAsync(browser, 390, 844, ColorScheme.Dark);
        await DashboardKit.SignInAsync(phone, server);
        await phone.Locator("#connect-zendesk-subdomain").FillAsync("acme");
        await DashboardKit.AssertFitsWidthAsync(phone);
        await phone.Locator("#provider-zendesk").ScreenshotAsync(new() { Path = Path.Combine(DashboardKit.ScreenshotDirectory, "zendesk-card-phone-dark.png") });
        await DashboardKit.AssertAccessibleAsync(phone);
        await phone.Context.CloseAsync();
    }
}
