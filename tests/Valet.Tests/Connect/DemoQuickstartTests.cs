using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using Valet.Tests.Infrastructure;

namespace Valet.Tests.Connect;

/// <summary>The README's first command: `valet demo` shows connect → token on a machine with no internet.</summary>
[Collection("idp")]
public sealed class DemoQuickstartTests(BrowserFixture browser)
{
    [Fact]
    public async Task Demo_ConnectsInTheBrowser_ThenAnAgentGetsAToken()
    {
        var dataDir = Path.Combine(Path.GetTempPath(), "valet-demo-" + Guid.NewGuid().ToString("N"));
        var port = FreePort();
        using var process = Process.Start(CliRunner.StartInfo(["demo", "--urls", $"http://127.0.0.1:{port}"], new Dictionary<string, string?> { ["VALET_DATA_DIR"] = dataDir }))!;
        process.StandardInput.Close();
        _ = process.StandardError.ReadToEndAsync();
        try
        {
            using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(60));
            var output = new List<string>();
            string? url = null;
            while (url is null && await process.StandardOutput.ReadLineAsync(timeout.Token) is { } line)
            {
                output.Add(line);
                if (line.TrimStart().StartsWith($"http://127.0.0.1:{port}/demo-oauth/authorize", StringComparison.Ordinal))
                {
                    url = line.Trim();
                }
            }

            Assert.True(url is not null, string.Join('\n', output));
            Assert.Contains(output, l => l.Contains("DEMO MODE", StringComparison.Ordinal));

            var page = await browser.NewPageAsync();
            await page.GotoAsync(url!);
            Assert.Contains("DEMO", await page.ContentAsync(), StringComparison.Ordinal);
            await page.Locator("#allow").ClickAsync();
            await page.Locator("#result[data-success=true]").WaitForAsync();

            string? tokenLine = null;
            while (tokenLine is null && await process.StandardOutput.ReadLineAsync(timeout.Token) is { } line)
            {
                output.Add(line);
                if (line.Contains("→ HTTP", StringComparison.Ordinal))
                {
                    tokenLine = line;
                }
            }

            Assert.True(tokenLine is not null, string.Join('\n', output));
            Assert.Contains("→ HTTP 200: access_token demo_at_", tokenLine, StringComparison.Ordinal);

            // The walkthrough ends in the dashboard, signed in, on the new connection.
            string? link = null;
            while (link is null && await process.StandardOutput.ReadLineAsync(timeout.Token) is { } line)
            {
                output.Add(line);
                if (line.TrimStart().StartsWith($"http://127.0.0.1:{port}/signin/link/", StringComparison.Ordinal))
                {
                    link = line.Trim();
                }
            }

            Assert.True(link is not null, string.Join('\n', output));
            Assert.Contains(output, l => l.StartsWith("Connected: conn_", StringComparison.Ordinal));
            var connectionId = output.First(l => l.StartsWith("Connected: ", StringComparison.Ordinal))["Connected: ".Length..].TrimEnd('.');
            await page.GotoAsync(link!);
            await page.Locator("main h1").WaitForAsync();
            Assert.EndsWith("/connections/" + connectionId, page.Url, StringComparison.Ordinal);
            Assert.Contains("demo", await page.Locator("main").InnerTextAsync(), StringComparison.OrdinalIgnoreCase);
        }
        finally
        {
            process.Kill(entireProcessTree: true);
            await process.WaitForExitAsync();
            Directory.Delete(dataDir, recursive: true);
        }
    }

    private static int FreePort()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }
}
