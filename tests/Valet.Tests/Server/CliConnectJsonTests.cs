using System.Text.Json;
using Valet.Tests.Infrastructure;

namespace Valet.Tests.Server;

/// <summary>
/// SPEC §6: with `--json`, `valet connect` prints exactly one JSON document, the outcome — a start the server refuses or
/// a server that cannot be reached included, as `{"status": "error", "error": CODE, …}` — and still one line on stderr.
/// </summary>
public sealed class CliConnectJsonTests
{
    private static JsonElement AssertOneErrorDocument(CliResult result, string code)
    {
        Assert.Equal(1, result.ExitCode);
        var outcome = JsonDocument.Parse(result.StdOut).RootElement; // throws unless stdout is exactly one document
        Assert.Equal("error", outcome.GetProperty("status").GetString());
        Assert.Equal("github", outcome.GetProperty("provider").GetString());
        Assert.Equal(code, outcome.GetProperty("error").GetString());
        Assert.False(string.IsNullOrEmpty(outcome.GetProperty("detail").GetString()));
        Assert.StartsWith("valet: ", Assert.Single(result.StdErr.Split('\n', StringSplitOptions.RemoveEmptyEntries)), StringComparison.Ordinal);
        return outcome;
    }

    [Fact]
    public async Task Connect_Json_StartRefusedByTheServer_PrintsOneErrorDocument_WithTheProblemCode_Exit1()
    {
        await using var server = await ValetTestServer.StartAsync(); // github has no OAuth client here: 422 no_client
        var env = new Dictionary<string, string?> { ["VALET_URL"] = server.BaseUrl.ToString(), ["VALET_DATA_DIR"] = server.DataDirectory };

        var loopback = await CliRunner.RunAsync(["connect", "github", "--no-browser", "--json", "--timeout", "5s"], env);
        var device = await CliRunner.RunAsync(["connect", "github", "--device", "--json", "--timeout", "5s"], env);

        var outcome = AssertOneErrorDocument(loopback, "no_client");
        Assert.DoesNotContain("(no_client)", outcome.GetProperty("detail").GetString(), StringComparison.Ordinal);
        Assert.Contains("(no_client)", loopback.StdErr, StringComparison.Ordinal);
        AssertOneErrorDocument(device, "device_flow_unsupported");
    }

    [Fact]
    public async Task Connect_Json_NoAnswerWithinTimeout_IsAnErrorDocumentToo_WithTimeoutAndADetail()
    {
        // The flow starts (github has a client here; nothing is fetched at start), and nobody consents before --timeout.
        await using var server = await ValetTestServer.StartAsync(new Dictionary<string, string?>
        {
            ["Providers:github:ClientId"] = "Iv1.timeout", ["Providers:github:ClientSecret"] = "timeout-secret",
        });
        var env = new Dictionary<string, string?> { ["VALET_URL"] = server.BaseUrl.ToString(), ["VALET_DATA_DIR"] = server.DataDirectory };

        var result = await CliRunner.RunAsync(["connect", "github", "--no-browser", "--json", "--timeout", "2s"], env);

        Assert.Equal(1, result.ExitCode);
        var outcome = JsonDocument.Parse(result.StdOut).RootElement;
        Assert.Equal("error", outcome.GetProperty("status").GetString());
        Assert.Equal("timeout", outcome.GetProperty("error").GetString());
        Assert.Contains("--timeout", outcome.GetProperty("detail").GetString(), StringComparison.Ordinal);
        var lines = result.StdErr.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.StartsWith("Open this URL to continue: ", lines[0], StringComparison.Ordinal); // the URL goes to stderr, as SPEC §6 says
        Assert.Equal("valet: connection failed: timeout.", lines[^1]);
    }

    [Fact]
    public async Task Connect_Json_ServerUnreachable_PrintsOneErrorDocument_AndTheLineNamingTheUrl_Exit1()
    {
        var url = $"http://127.0.0.1:{ValetTestServer.FreePort()}";
        var env = new Dictionary<string, string?> { ["VALET_URL"] = url, ["VALET_DATA_DIR"] = Path.Combine(Path.GetTempPath(), "valet-cli-" + Guid.NewGuid().ToString("N")) };

        var result = await CliRunner.RunAsync(["connect", "github", "--no-browser", "--json"], env);

        var outcome = AssertOneErrorDocument(result, "server_unreachable");
        Assert.Contains(url, outcome.GetProperty("detail").GetString(), StringComparison.Ordinal);
        Assert.Contains("valet serve", result.StdErr, StringComparison.Ordinal);
    }
}
