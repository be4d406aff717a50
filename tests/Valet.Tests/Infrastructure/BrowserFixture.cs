using System.Collections.Concurrent;
using Microsoft.Playwright;

namespace Valet.Tests.Infrastructure;

/// <summary>
/// Debian's Chromium driven by Playwright (its own browser download cannot work here). One browser per fixture; each
/// test gets a fresh context (no shared cookies).
/// </summary>
public sealed class BrowserFixture : IAsyncLifetime
{
    public const string ChromiumPath = "/usr/bin/chromium";
    private IPlaywright? _playwright;

    public IBrowser Browser { get; private set; } = null!;

    public async Task InitializeAsync()
    {
        if (!File.Exists(ChromiumPath))
        {
            throw new InvalidOperationException($"{ChromiumPath} is missing: run scripts/install-test-deps.sh (apt-get install -y chromium).");
        }

        _playwright = await Playwright.CreateAsync();
        Browser = await _playwright.Chromium.LaunchAsync(new BrowserTypeLaunchOptions
        {
            ExecutablePath = ChromiumPath,
            Headless = true,
            Args = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                "--disable-sync", "--no-first-run", "--disable-quic"],
        });
    }

    public async Task<IPage> NewPageAsync()
    {
        var context = await Browser.NewContextAsync();
        context.SetDefaultTimeout(60_000);
        context.SetDefaultNavigationTimeout(60_000);
        return await context.NewPageAsync();
    }

    /// <summary>
    /// Drives oidc-provider's development pages: sign in as <paramref name="login"/>, then consent ("Continue") — or,
    /// with <paramref name="deny"/>, press "[ Cancel ]" (the interaction abort: access_denied). Returns the page after the
    /// redirect back to Valet's callback.
    /// </summary>
    public async Task<IPage> AuthorizeAsync(string authorizeUrl, string login, bool deny = false) =>
        (await AuthorizeCapturingAsync(authorizeUrl, login, deny)).Page;

    /// <summary>
    /// As <see cref="AuthorizeAsync"/>, also returning the callback URL as the provider sent it (with code and state). With
    /// <paramref name="fromCallback"/>, every request the page makes from the callback's navigation on is added to it.
    /// </summary>
    public async Task<(IPage Page, string CallbackUrl)> AuthorizeCapturingAsync(string authorizeUrl, string login, bool deny = false,
        ConcurrentQueue<string>? fromCallback = null)
    {
        var page = await NewPageAsync();
        string? callbackUrl = null;
        page.Request += (_, request) =>
        {
            if (request.IsNavigationRequest && request.Url.Contains("/oauth/callback?", StringComparison.Ordinal))
            {
                callbackUrl = request.Url;
            }

            if (callbackUrl is not null)
            {
                fromCallback?.Enqueue(request.Url);
            }
        };
        await page.GotoAsync(authorizeUrl);
        await page.Locator("input[name=login]").FillAsync(login);
        await page.Locator("input[name=password]").FillAsync("any-password");
        await page.Locator("button[type=submit]").ClickAsync();

        // Wait for the next page itself (consent, or Valet's result when consent is skipped): checking right after the
        // click could still see the login page and skip the consent step.
        var consent = page.GetByRole(AriaRole.Button, new() { Name = "Continue" });
        await consent.Or(page.Locator("#result")).First.WaitForAsync();
        if (deny)
        {
            await page.GetByText("[ Cancel ]").ClickAsync();
        }
        else if (await consent.CountAsync() > 0)
        {
            await consent.ClickAsync();
        }

        // Wait for the callback navigation to commit, then for Valet's result element. Not for DOMContentLoaded: the
        // callback page strips code and state with history.replaceState at once, and under load Playwright then
        // sometimes never reported that load state (seen twice: the browser sat on "Connected" while the wait timed out).
        // Polled rather than WaitForURLAsync(Commit): when the navigation had already committed by the time of the call,
        // Playwright then waited for a "commit" load state that had passed, and timed out with the browser on "Connected".
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(60);
        while (!page.Url.Contains("/oauth/callback", StringComparison.Ordinal))
        {
            if (DateTime.UtcNow > deadline)
            {
                var text = await page.Locator("body").InnerTextAsync(new() { Timeout = 5_000 });
                throw new TimeoutException(
                    $"No redirect to Valet's callback after consent; the browser is at {page.Url.Split('?')[0]} showing: " +
                    text[..Math.Min(text.Length, 400)].ReplaceLineEndings(" "));
            }

            await Task.Delay(100);
        }

        await page.Locator("#result").WaitForAsync();
        return (page, callbackUrl ?? throw new InvalidOperationException("No callback navigation was seen."));
    }

    public async Task DisposeAsync()
    {
        if (Browser is not null)
        {
            await Browser.CloseAsync();
        }

        _playwright?.Dispose();
    }
}
