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

    /// <summary>As <see cref="AuthorizeAsync"/>, also returning the callback URL as the provider sent it (with code and state).</summary>
    public async Task<(IPage Page, string CallbackUrl)> AuthorizeCapturingAsync(string authorizeUrl, string login, bool deny = false)
    {
        var page = await NewPageAsync();
        string? callbackUrl = null;
        page.Request += (_, request) =>
        {
            if (request.IsNavigationRequest && request.Url.Contains("/oauth/callback?", StringComparison.Ordinal))
            {
                callbackUrl = request.Url;
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

        // Under full-suite load a consent click was once seen not to navigate (the page sat at network idle on the consent
        // page for 60 s). Click again only while the consent button is still there, i.e. the browser never left that
        // page: a callback Valet is slow to answer is not retried, it still has to arrive.
        for (var attempt = 1; ; attempt++)
        {
            try
            {
                await page.WaitForURLAsync(url => url.Contains("/oauth/callback", StringComparison.Ordinal),
                    new() { WaitUntil = WaitUntilState.DOMContentLoaded, Timeout = 60_000 });
                break;
            }
            catch (TimeoutException) when (attempt < 3 && !deny)
            {
                if (await consent.CountAsync() == 0)
                {
                    throw;
                }

                await consent.ClickAsync();
            }
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
