using System.Text.Json;
using Microsoft.AspNetCore.Builder;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Playwright;
using Valet.Core.Providers;
using Valet.Tests.Infrastructure;

namespace Valet.Tests.Dashboard;

/// <summary>
/// What the dashboard's browser tests share: signing in through the form, screenshots under TestResults/dashboard/,
/// axe-core (tests/dashboard/node_modules) run on the page, and a catalog whose <c>idp</c> provider has a managed target.
/// </summary>
internal static class DashboardKit
{
    public static string RepoRoot { get; } = FindRepoRoot();

    public static string ScreenshotDirectory { get; } = Directory.CreateDirectory(Path.Combine(RepoRoot, "TestResults", "dashboard")).FullName;

    private static readonly Lazy<string> AxeSource = new(() =>
    {
        var path = Path.Combine(RepoRoot, "tests", "dashboard", "node_modules", "axe-core", "axe.min.js");
        return File.Exists(path) ? File.ReadAllText(path)
            : throw new InvalidOperationException($"{path} is missing: run scripts/install-test-deps.sh (npm ci in tests/dashboard).");
    });

    /// <summary>A browser page that records every console error (a CSP violation is one).</summary>
    public static async Task<(IPage Page, List<string> ConsoleErrors)> NewPageAsync(BrowserFixture browser, int width = 1280, int height = 860,
        ColorScheme scheme = ColorScheme.Light)
    {
        var context = await browser.Browser.NewContextAsync(new BrowserNewContextOptions
        {
            ViewportSize = new ViewportSize { Width = width, Height = height },
            ColorScheme = scheme,
        });
        context.SetDefaultTimeout(60_000);
        context.SetDefaultNavigationTimeout(60_000);
        var page = await context.NewPageAsync();
        var errors = new List<string>();
        page.Console += (_, message) =>
        {
            // The IdP's own pages try to load web fonts from the internet, which does not resolve here, and have no icon (the
            // browser's /favicon.ico there is a 404): not the dashboard's doing. Valet's pages declare a data: icon.
            if (message.Type == "error" && !message.Text.Contains("ERR_NAME_NOT_RESOLVED", StringComparison.Ordinal) &&
                !message.Location.Contains("/favicon.ico", StringComparison.Ordinal))
            {
                errors.Add(message.Text + " @ " + message.Location);
            }
        };
        return (page, errors);
    }

    /// <summary>Opens <c>/</c>, which sends a person without a session to the sign-in form, and signs in with the admin token.</summary>
    public static async Task SignInAsync(IPage page, ValetTestServer server, string path = "/")
    {
        await page.GotoAsync(new Uri(server.BaseUrl, path).ToString());
        Assert.Contains("/signin", page.Url, StringComparison.Ordinal);
        Assert.Equal(path, await page.Locator("#signin-form input[name=return]").InputValueAsync());
        await page.Locator("input[name=token]").FillAsync(ValetTestServer.AdminToken);
        await page.Locator("#signin").ClickAsync();

        // The sign-in page has a heading of its own: wait to have left it first.
        await LeftSignInAsync(page);
        await page.Locator("main h1").WaitForAsync();
    }

    /// <summary>Waits until the page is no longer Valet's sign-in page (the form was posted and answered with a redirect).</summary>
    public static Task LeftSignInAsync(IPage page) =>
        page.WaitForURLAsync(url => !new Uri(url).AbsolutePath.StartsWith("/signin", StringComparison.Ordinal), new() { WaitUntil = WaitUntilState.Commit });

    /// <summary>True once a stylesheet named <c>/dashboard.css</c> has loaded its rules into the page.</summary>
    public static async Task AssertStyledAsync(IPage page) =>
        await page.WaitForFunctionAsync(
            "() => [...document.styleSheets].some(s => s.href && new URL(s.href).pathname === '/dashboard.css' && s.cssRules.length > 20)" +
            " && getComputedStyle(document.querySelector('header.top')).borderBottomStyle === 'solid'",
            null, new() { Timeout = 10_000 });

    /// <summary>Fails when the page is wider than the viewport (a phone would scroll sideways).</summary>
    public static async Task AssertFitsWidthAsync(IPage page)
    {
        var (scroll, viewport) = (await page.EvaluateAsync<int>("() => document.documentElement.scrollWidth"), await page.EvaluateAsync<int>("() => window.innerWidth"));
        Assert.True(scroll <= viewport, $"{page.Url} is {scroll}px wide in a {viewport}px viewport");
    }

    public static async Task ScreenshotAsync(IPage page, string name) =>
        await page.ScreenshotAsync(new PageScreenshotOptions { Path = Path.Combine(ScreenshotDirectory, name + ".png"), FullPage = true });

    /// <summary>Runs axe-core on the page (evaluated over the DevTools protocol, so the page's CSP needs no exception) and fails on
    /// any serious or critical violation.</summary>
    public static async Task AssertAccessibleAsync(IPage page)
    {
        await page.EvaluateAsync(AxeSource.Value);
        var result = await page.EvaluateAsync<JsonElement>("async () => (await axe.run(document, { resultTypes: ['violations'] })).violations" +
            ".map(v => ({ id: v.id, impact: v.impact, help: v.help, nodes: v.nodes.slice(0, 3).map(n => n.target.join(' ')) }))");
        var bad = result.EnumerateArray().Where(v => v.GetProperty("impact").GetString() is "serious" or "critical").ToList();
        Assert.True(bad.Count == 0, $"axe on {page.Url}: " + string.Join("; ", bad.Select(v => v.ToString())));
    }

    /// <summary>Completes the IdP's login and consent in this page (the one holding the dashboard session).</summary>
    public static async Task ConsentAtIdpAsync(IPage page, string login)
    {
        await page.Locator("input[name=login]").FillAsync(login);
        await page.Locator("input[name=password]").FillAsync("any-password");
        await page.Locator("button[type=submit]").ClickAsync();
        var consent = page.GetByRole(AriaRole.Button, new() { Name = "Continue" });
        await consent.Or(page.Locator("main h1")).First.WaitForAsync();
        if (await consent.CountAsync() > 0)
        {
            await consent.ClickAsync();
        }
    }

    /// <summary>Replaces the <c>idp</c> provider of the built catalog by one with a managed <c>mail</c> target.</summary>
    public static void WithManagedTarget(WebApplicationBuilder builder)
    {
        var descriptor = builder.Services.Last(d => d.ServiceType == typeof(IProviderCatalog));
        var inner = (IProviderCatalog)descriptor.ImplementationInstance!;
        builder.Services.AddSingleton<IProviderCatalog>(new TargetCatalog(inner));
    }

    private sealed class TargetCatalog(IProviderCatalog inner) : IProviderCatalog
    {
        private readonly Dictionary<string, ProviderDefinition> _providers = inner.All.ToDictionary(p => p.Id, p => p.Id == "idp"
            ? p with { Targets = [new ManagedTargetDefinition { Name = "mail", BaseUrl = p.ApiBaseUrls[0] + "/mail" }] }
            : p, StringComparer.Ordinal);

        public IReadOnlyCollection<ProviderDefinition> All => _providers.Values;

        public ProviderDefinition? Find(string id) => inner.Find(id) is { } found ? _providers[found.Id] : null;
    }

    private static string FindRepoRoot()
    {
        var dir = new DirectoryInfo(AppContext.BaseDirectory);
        while (dir is not null && !File.Exists(Path.Combine(dir.FullName, "Valet.slnx")))
        {
            dir = dir.Parent;
        }

        return dir?.FullName ?? throw new InvalidOperationException("Valet.slnx not found above " + AppContext.BaseDirectory);
    }
}
