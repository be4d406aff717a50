using System.Net.Http.Json;
using Microsoft.Playwright;
using Valet.Tests.Infrastructure;
using Valet.Tests.Refresh;

namespace Valet.Tests.Dashboard;

/// <summary>
/// Issue 12: the refusal pages a person can meet had no axe run — the dashboard's "Form expired" and "Org not found", an
/// agent's connect link opened by an operator of another org (403) or for an unknown flow (404), a stale sign-out form,
/// provider sign-in's "Form expired" and "Cannot sign in", and the sign-in lockout (429). Each is reached in Chromium the
/// way a person reaches it, checked for its status and words, styled, screenshotted and run through axe-core.
/// </summary>
[Collection(IdpPagesCollection.Name)]
public sealed class ErrorPagesTests(IdpFixture idp, BrowserFixture browser) : IAsyncLifetime
{
    private ValetTestServer _server = null!;

    public async Task InitializeAsync()
    {
        await idp.ResetAsync();
        var settings = idp.ProviderSettings();
        settings["Dashboard:SignInProvider"] = "idp";
        settings["Dashboard:Operators"] = "op-alice";
        settings["RateLimits:FailureBurst"] = "3";
        _server = await ValetTestServer.StartAsync(settings);
    }

    public async Task DisposeAsync()
    {
        await _server.DisposeAsync();
        await idp.ResetAsync();
    }

    [Fact]
    public async Task EveryRefusalPage_SaysWhy_WithItsStatus_InTheStylesheet_AndHasNoSeriousAxeViolation()
    {
        using var admin = _server.Client();
        (await admin.PostAsJsonAsync("/v1/orgs", new { id = "acme", name = "Acme" })).EnsureSuccessStatusCode();
        var (_, key) = await _server.CreateKeyAsync("acme", new { provider = "idp" });
        using var agent = _server.Client(key);
        var envelope = await RefreshKit.TokenAsync(agent, new Uri(_server.BaseUrl, "/v1/providers/idp/token"));
        var connectUrl = envelope.Body.GetProperty("connect_url").GetString()!;

        var (page, _) = await DashboardKit.NewPageAsync(browser);
        await DashboardKit.SignInAsync(page, _server, "/keys");

        // A dashboard form whose antiforgery cookie is gone: 400 "Form expired", nothing created.
        await page.Locator("input[name=name]").FillAsync("never-made");
        await DropAntiforgeryCookieAsync(page);
        await AssertPageAsync(page, () => page.Locator("form[action='/keys'] button[type=submit]").ClickAsync(), 400, "Form expired", "dashboard-form-expired");
        Assert.Contains("Nothing was changed", await page.Locator("main").InnerTextAsync(), StringComparison.Ordinal);
        Assert.DoesNotContain("never-made", await admin.GetStringAsync("/v1/orgs/default/keys"), StringComparison.Ordinal);

        // The org switcher posting an org that is not there (deleted meanwhile): 404 "Org not found".
        await page.GotoAsync(new Uri(_server.BaseUrl, "/").ToString());
        await page.Locator("#org-select option[value=acme]").EvaluateAsync("o => o.value = 'gone'");
        await page.Locator("#org-select").SelectOptionAsync("gone");
        await AssertPageAsync(page, () => page.GetByRole(AriaRole.Button, new() { Name = "Switch" }).ClickAsync(), 404, "Org not found", "dashboard-org-not-found");
        Assert.Equal("No such org.", await page.Locator("#flash-error").InnerTextAsync());

        // An agent's connect link for org acme, opened signed in to default: 403, with the way to the link's org.
        await AssertPageAsync(page, () => page.GotoAsync(connectUrl), 403, "Cannot continue", "connect-link-other-org");
        Assert.Contains("another org", await page.Locator("#message").InnerTextAsync(), StringComparison.Ordinal);
        Assert.Contains("org=acme", await page.GetByRole(AriaRole.Link, new() { Name = "Sign in to the link's org" }).GetAttributeAsync("href"),
            StringComparison.Ordinal);

        // A connect link naming no flow this server knows: 404.
        await AssertPageAsync(page, () => page.GotoAsync(new Uri(_server.BaseUrl, "/connect-authorize?flow=flow_unknown").ToString()), 404,
            "Cannot continue", "connect-link-unknown");
        Assert.Contains("unknown, or has expired", await page.Locator("#message").InnerTextAsync(), StringComparison.Ordinal);

        // A sign-out form gone stale: 400 "Not signed out", still signed in.
        await page.GotoAsync(new Uri(_server.BaseUrl, "/").ToString());
        await DropAntiforgeryCookieAsync(page);
        await AssertPageAsync(page, () => page.Locator("#signout").ClickAsync(), 400, "Not signed out", "signout-refused");
        Assert.Equal(200, (await page.APIRequest.GetAsync(new Uri(_server.BaseUrl, "/me").ToString())).Status);
        await page.Context.CloseAsync();

        // Outside a session: "Sign in with" from a stale page (400 "Form expired"), and for a provider not offered (400).
        var (signedOut, _) = await DashboardKit.NewPageAsync(browser);
        await signedOut.GotoAsync(new Uri(_server.BaseUrl, "/signin").ToString());
        await signedOut.Context.ClearCookiesAsync();
        await AssertPageAsync(signedOut, () => signedOut.Locator("#signin-idp").ClickAsync(), 400, "Form expired", "signin-provider-form-expired");
        await signedOut.GotoAsync(new Uri(_server.BaseUrl, "/signin").ToString());
        await signedOut.Locator("#signin-idp").EvaluateAsync("b => b.form.querySelector('input[name=provider]').value = 'not-a-provider'");
        await AssertPageAsync(signedOut, () => signedOut.Locator("#signin-idp").ClickAsync(), 400, "Cannot sign in", "signin-provider-refused");

        // Phone width, dark: one of them, for the eyes (before the lockout below, which would refuse this sign-in).
        var (phone, _) = await DashboardKit.NewPageAsync(browser, 390, 844, ColorScheme.Dark);
        await DashboardKit.SignInAsync(phone, _server);
        await phone.GotoAsync(new Uri(_server.BaseUrl, "/connect-authorize?flow=flow_unknown").ToString());
        await DashboardKit.AssertFitsWidthAsync(phone);
        await DashboardKit.ScreenshotAsync(phone, "connect-link-unknown-phone-dark");
        await DashboardKit.AssertAccessibleAsync(phone);
        await phone.Context.CloseAsync();

        // Three wrong tokens from this address, then the lockout: 429 "Too many attempts" with Retry-After.
        for (var i = 0; i < 3; i++)
        {
            await signedOut.GotoAsync(new Uri(_server.BaseUrl, "/signin").ToString());
            await signedOut.Locator("#signin-token").FillAsync("wrong-token-" + i);
            var wrong = await signedOut.RunAndWaitForResponseAsync(() => signedOut.Locator("#signin").ClickAsync(),
                r => r.Request.Method == "POST" && r.Url.EndsWith("/signin", StringComparison.Ordinal));
            Assert.Equal(401, wrong.Status);
        }

        // The fourth try, even with the right token, is the lockout page.
        await signedOut.Locator("#signin-token").FillAsync(ValetTestServer.AdminToken);
        var locked = await signedOut.RunAndWaitForResponseAsync(() => signedOut.Locator("#signin").ClickAsync(),
            r => r.Request.Method == "POST" && r.Url.EndsWith("/signin", StringComparison.Ordinal));
        Assert.Equal(429, locked.Status);
        Assert.NotNull(await locked.HeaderValueAsync("retry-after"));
        Assert.Equal("Too many attempts", await signedOut.Locator("main h1").InnerTextAsync());
        await DashboardKit.AssertStyledAsync(signedOut);
        await DashboardKit.ScreenshotAsync(signedOut, "signin-locked-out");
        await DashboardKit.AssertAccessibleAsync(signedOut);
        await signedOut.Context.CloseAsync();

    }

    /// <summary>Does <paramref name="action"/>, then checks the document's status and title, the stylesheet, a screenshot and axe.</summary>
    private static async Task AssertPageAsync(IPage page, Func<Task> action, int status, string title, string screenshot)
    {
        var response = await page.RunAndWaitForResponseAsync(action, r => r.Request.IsNavigationRequest && r.Request.Frame == page.MainFrame && r.Status is < 300 or >= 400);
        Assert.Equal(status, response.Status);
        await page.Locator("main h1").WaitForAsync();
        Assert.Equal(title, await page.Locator("main h1").InnerTextAsync());
        await DashboardKit.AssertStyledAsync(page);
        await DashboardKit.ScreenshotAsync(page, screenshot);
        await DashboardKit.AssertAccessibleAsync(page);
    }

    /// <summary>What a form left open across an expired or cleared antiforgery cookie sends: the field, but no cookie to match.</summary>
    private static async Task DropAntiforgeryCookieAsync(IPage page)
    {
        var keep = (await page.Context.CookiesAsync()).Where(c => c.Name != "valet_af").ToList();
        await page.Context.ClearCookiesAsync();
        await page.Context.AddCookiesAsync(keep.Select(c => new Cookie
        {
            Name = c.Name, Value = c.Value, Domain = c.Domain, Path = c.Path, Expires = c.Expires, HttpOnly = c.HttpOnly, Secure = c.Secure, SameSite = c.SameSite,
        }));
    }
}
