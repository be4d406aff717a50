using Microsoft.Playwright;
using Valet.Tests.Infrastructure;

namespace Valet.Tests.Server;

/// <summary>
/// The API reference page (<c>/docs</c>, Scalar) is opened by operators of a self-hosted broker: it must talk to nothing
/// but this server. By default Scalar loads its fonts from a CDN, sends telemetry, offers an AI chat that sends the
/// document to Scalar's service, and shows a developer-tools bar whose buttons lead to Scalar's cloud.
/// </summary>
public sealed class ApiReferencePageTests(BrowserFixture browser) : IClassFixture<BrowserFixture>, IAsyncLifetime
{
    private ValetTestServer _server = null!;

    public async Task InitializeAsync() => _server = await ValetTestServer.StartAsync();

    public async Task DisposeAsync() => await _server.DisposeAsync();

    [Fact]
    public async Task TheReferencePage_Renders_AndRequestsNothingButThisServer_WithoutAiChatOrCloudButtons()
    {
        var page = await browser.NewPageAsync();
        var requested = new List<string>();
        page.Request += (_, request) => requested.Add(request.Url);
        await page.AddInitScriptAsync(
            "window.__violations = []; document.addEventListener('securitypolicyviolation', e => window.__violations.push(e.violatedDirective + ' ' + e.blockedURI));");

        var response = await page.GotoAsync(new Uri(_server.BaseUrl, "/docs").ToString(), new PageGotoOptions { WaitUntil = WaitUntilState.NetworkIdle });
        Assert.Equal(200, response!.Status);
        var policy = await response.HeaderValueAsync("content-security-policy");
        Assert.NotNull(policy);
        Assert.Contains("default-src 'none'", policy, StringComparison.Ordinal);
        Assert.Contains("connect-src 'self'", policy, StringComparison.Ordinal);
        Assert.Contains("'nonce-", policy, StringComparison.Ordinal); // Scalar's inline configuration script, by this page's nonce
        Assert.DoesNotContain("'unsafe-eval'", policy, StringComparison.Ordinal);
        Assert.Equal("DENY", await response.HeaderValueAsync("x-frame-options"));

        // Rendered: the document's own title and an operation of the agent lane.
        await page.GetByText("409 with an auth-recovery envelope").First.WaitForAsync();
        await page.GetByText("A fresh access token for a connection").First.WaitForAsync();
        await page.WaitForLoadStateAsync(LoadState.NetworkIdle);
        await page.ScreenshotAsync(new PageScreenshotOptions { Path = Path.Combine(Path.GetTempPath(), "valet-docs-page.png") });

        // Rendered under that policy without the browser refusing anything the page needed. One refusal is expected and
        // harmless: the bundled Zod probes whether eval is allowed (`try { Function("") } catch { jitless }`) and, refused,
        // validates without generated code.
        var violations = (await page.EvaluateAsync<string[]>("window.__violations")).Where(v => v != "script-src eval").ToArray();
        Assert.True(violations.Length == 0, "CSP violations: " + string.Join(", ", violations));

        var elsewhere = requested.Where(url => !url.StartsWith(_server.BaseUrl.ToString(), StringComparison.Ordinal) && !url.StartsWith("data:", StringComparison.Ordinal)).ToList();
        Assert.True(elsewhere.Count == 0, "the page requested: " + string.Join(", ", elsewhere));
        Assert.NotEmpty(requested); // the listener saw the page's own requests

        foreach (var cloud in new[] { "Ask AI", "Deploy", "Generate SDK", "Developer Tools", "Open API Client" })
        {
            Assert.Equal(0, await page.GetByText(cloud, new PageGetByTextOptions { Exact = true }).CountAsync());
        }

        // Nor a link that hands the document (or a request) to another site: "Open API Client" pointed at Scalar's hosted
        // client, which sends requests through Scalar's proxy. The "Powered by Scalar" credit is the one outside link.
        var links = await page.EvalOnSelectorAllAsync<string[]>("a[href]", "links => links.map(a => a.href)");
        var outside = links.Where(href => href.StartsWith("http", StringComparison.Ordinal)
            && !href.StartsWith(_server.BaseUrl.ToString(), StringComparison.Ordinal)
            && !href.StartsWith("https://www.scalar.com", StringComparison.Ordinal) && !href.StartsWith("https://scalar.com", StringComparison.Ordinal)).ToList();
        Assert.True(outside.Count == 0, "links to other sites: " + string.Join(", ", outside));
    }

    [Fact]
    public async Task EveryDocumentRoute_GetsItsOwnNonce_AndAssetsCarryThePolicy()
    {
        using var http = new HttpClient { BaseAddress = _server.BaseUrl };
        var nonces = new List<string>();
        foreach (var path in new[] { "/docs/", "/docs/v1", "/DOCS/", "/docs/" })
        {
            using var page = await http.GetAsync(path);
            Assert.Equal(System.Net.HttpStatusCode.OK, page.StatusCode);
            var policy = string.Join(' ', page.Headers.GetValues("Content-Security-Policy"));
            var nonce = System.Text.RegularExpressions.Regex.Match(policy, "'nonce-([^']+)'").Groups[1].Value;
            Assert.False(string.IsNullOrEmpty(nonce), path + ": " + policy);
            Assert.Contains($"nonce=\"{nonce}\"", await page.Content.ReadAsStringAsync(), StringComparison.Ordinal); // the page's scripts carry it
            nonces.Add(nonce);
        }

        Assert.Equal(nonces.Count, nonces.Distinct().Count()); // fresh per response

        using var script = await http.GetAsync("/docs/scalar.js");
        Assert.Equal(System.Net.HttpStatusCode.OK, script.StatusCode);
        Assert.Contains("default-src 'none'", string.Join(' ', script.Headers.GetValues("Content-Security-Policy")), StringComparison.Ordinal);
        Assert.Equal("nosniff", Assert.Single(script.Headers.GetValues("X-Content-Type-Options")));
    }
}
