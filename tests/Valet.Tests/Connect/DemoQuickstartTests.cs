using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using Microsoft.Playwright;
using Valet.Tests.Infrastructure;

namespace Valet.Tests.Connect;

/// <summary>The README's first command: `valet demo` shows connect → token on a machine with no internet.</summary>
[Collection(IdpPagesCollection.Name)]
public sealed class DemoQuickstartTests(BrowserFixture browser)
{
    [Fact]
    public async Task Demo_ConnectsInTheBrowser_ThenAnAgentGetsAToken()
    {
        var dataDir = Path.Combine(Path.GetTempPath(), "valet-demo-" + Guid.NewGuid().ToString("N"));
        try
        {
            var (output, page, link, port) = await RunDemoAsync(dataDir, account: null);
            try
            {
                Assert.Contains(output, l => l.Contains("DEMO MODE", StringComparison.Ordinal));
                Assert.Contains(output, l => l.Contains("→ HTTP 200: access_token demo_at_", StringComparison.Ordinal));
                Assert.Contains(output, l => l.Contains("→ HTTP 200: {", StringComparison.Ordinal) && l.Contains("\"sub\"", StringComparison.Ordinal));

                // The walkthrough ends in the dashboard, signed in, on the new connection.
                Assert.Contains(output, l => l.StartsWith("Connected: conn_", StringComparison.Ordinal));
                var connectionId = output.First(l => l.StartsWith("Connected: ", StringComparison.Ordinal))["Connected: ".Length..].TrimEnd('.');
                await page.GotoAsync(link);
                await page.Locator("main h1").WaitForAsync();
                Assert.EndsWith("/connections/" + connectionId, page.Url, StringComparison.Ordinal);
                Assert.Contains("demo", await page.Locator("main").InnerTextAsync(), StringComparison.OrdinalIgnoreCase);
            }
            finally
            {
                await port.DisposeAsync();
            }

            // A successful walkthrough logs no authentication failure (the demo's user-info call carries the demo's own
            // access token, which is not a Valet key).
            var log = await port.Stderr;
            Assert.False(log.Contains("not authenticated", StringComparison.Ordinal), log);
        }
        finally
        {
            Directory.Delete(dataDir, recursive: true);
        }
    }

    [Fact]
    public async Task Demo_RunAgain_OnADataDirectoryWithAnotherDemoAccount_StillGetsItsToken()
    {
        // The second run's data directory holds two demo connections: its key must not be ambiguous between them.
        var dataDir = Path.Combine(Path.GetTempPath(), "valet-demo-" + Guid.NewGuid().ToString("N"));
        try
        {
            foreach (var account in new[] { "alice", "bob" })
            {
                var (output, _, _, process) = await RunDemoAsync(dataDir, account);
                await process.DisposeAsync();
                Assert.Contains(output, l => l.Contains("→ HTTP 200: access_token demo_at_", StringComparison.Ordinal));
            }
        }
        finally
        {
            Directory.Delete(dataDir, recursive: true);
        }
    }

    /// <summary>Runs `valet demo` until it prints its sign-in link; the output so far, the browser page, the link and the process (dispose to stop).</summary>
    private async Task<(List<string> Output, IPage Page, string Link, DemoProcess Process)> RunDemoAsync(string dataDir, string? account)
    {
        var port = FreePort();
        var process = new DemoProcess(Process.Start(CliRunner.StartInfo(["demo", "--urls", $"http://127.0.0.1:{port}"],
            new Dictionary<string, string?> { ["VALET_DATA_DIR"] = dataDir }))!);
        try
        {
            process.Value.StandardInput.Close();
            process.Stderr = process.Value.StandardError.ReadToEndAsync();
            using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(60));
            var output = new List<string>();

            async Task<string> LineAsync(Func<string, bool> wanted)
            {
                while (await process.Value.StandardOutput.ReadLineAsync(timeout.Token) is { } line)
                {
                    output.Add(line);
                    if (wanted(line))
                    {
                        return line.Trim();
                    }
                }

                throw new Xunit.Sdk.XunitException("valet demo ended early:\n" + string.Join('\n', output));
            }

            var url = await LineAsync(l => l.TrimStart().StartsWith($"http://127.0.0.1:{port}/demo-oauth/authorize", StringComparison.Ordinal));
            var page = await browser.NewPageAsync();
            await page.GotoAsync(url);
            Assert.Contains("DEMO", await page.ContentAsync(), StringComparison.Ordinal);
            if (account is not null)
            {
                await page.Locator("#demo-user").FillAsync(account);
            }

            await page.Locator("#allow").ClickAsync();
            await page.Locator("#result[data-success=true]").WaitForAsync();

            await LineAsync(l => l.Contains("→ HTTP", StringComparison.Ordinal));
            var link = await LineAsync(l => l.TrimStart().StartsWith($"http://127.0.0.1:{port}/signin/link/", StringComparison.Ordinal));
            return (output, page, link, process);
        }
        catch
        {
            await process.DisposeAsync();
            throw;
        }
    }

    /// <summary>Stops the demo (and its whole process tree) when disposed.</summary>
    private sealed class DemoProcess(Process value) : IAsyncDisposable
    {
        public Process Value => value;

        /// <summary>Everything the demo wrote on stderr (its log), complete once it is disposed.</summary>
        public Task<string> Stderr { get; set; } = Task.FromResult(string.Empty);

        public async ValueTask DisposeAsync()
        {
            value.Kill(entireProcessTree: true);
            await value.WaitForExitAsync();
            value.Dispose();
        }
    }

    private static int FreePort()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }
}
