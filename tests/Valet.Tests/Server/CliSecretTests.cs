using Microsoft.Extensions.DependencyInjection;
using Valet.Core.Stores;
using Valet.Tests.Infrastructure;

namespace Valet.Tests.Server;

/// <summary>SPEC §7: secrets never on a command line. `valet connect` takes a client secret from stdin or VALET_CLIENT_SECRET.</summary>
public sealed class CliSecretTests
{
    private const string Literal = "literal-secret-On-The-Command-Line-4d2e";

    private static Dictionary<string, string?> Env(ValetTestServer server) => new()
    {
        ["VALET_URL"] = server.BaseUrl.ToString(),
        ["VALET_DATA_DIR"] = server.DataDirectory,
    };

    private static async Task<List<(string ClientId, string? Secret)>> CredentialsAsync(ValetTestServer server)
    {
        var found = new List<(string, string?)>();
        await foreach (var credential in server.Services.GetRequiredService<ICredentialStore>().ListAsync("default", CancellationToken.None))
        {
            found.Add((credential.ClientId, credential.ClientSecret?.Reveal()));
        }

        return found;
    }

    [Fact]
    public async Task Connect_ClientSecretAsALiteral_IsRefusedInOneLineSayingHow_Exit2_BeforeAnythingReachesTheServer()
    {
        await using var server = await ValetTestServer.StartAsync();

        var result = await CliRunner.RunAsync(
            ["connect", "github", "--client-id", "Iv1.literal", "--client-secret", Literal, "--no-browser", "--timeout", "2s"], Env(server));

        Assert.Equal(2, result.ExitCode);
        var line = Assert.Single(result.StdErr.Split('\n', StringSplitOptions.RemoveEmptyEntries));
        Assert.Contains("--client-secret -", line, StringComparison.Ordinal);
        Assert.Contains("VALET_CLIENT_SECRET", line, StringComparison.Ordinal);
        Assert.DoesNotContain(Literal, result.StdErr + result.StdOut, StringComparison.Ordinal);
        Assert.Empty(await CredentialsAsync(server));
    }

    [Fact]
    public async Task Connect_ClientSecretFromTheEnvironmentOrStdin_ReachesTheServer()
    {
        await using var server = await ValetTestServer.StartAsync();
        var fromEnvironment = new Dictionary<string, string?>(Env(server)) { ["VALET_CLIENT_SECRET"] = "secret-from-env" };

        // The flow starts (and times out: nobody finishes it in a browser); what matters is the credential it registered.
        var viaEnvironment = await CliRunner.RunAsync(["connect", "github", "--client-id", "Iv1.env", "--no-browser", "--timeout", "1s"], fromEnvironment);
        var viaStdin = await CliRunner.RunAsync(["connect", "github", "--client-id", "Iv1.stdin", "--client-secret", "-", "--no-browser", "--timeout", "1s"],
            Env(server), stdin: "secret-from-stdin\n");

        Assert.DoesNotContain("--client-id needs", viaEnvironment.StdErr, StringComparison.Ordinal);
        Assert.Contains("Open this URL", viaEnvironment.StdErr, StringComparison.Ordinal);
        Assert.Contains("Open this URL", viaStdin.StdErr, StringComparison.Ordinal);
        var credentials = await CredentialsAsync(server);
        Assert.Contains(("Iv1.env", "secret-from-env"), credentials);
        Assert.Contains(("Iv1.stdin", "secret-from-stdin"), credentials);
    }

    [Fact]
    public async Task Connect_ClientIdWithoutAnySecretSource_IsAUsageError()
    {
        await using var server = await ValetTestServer.StartAsync();

        var result = await CliRunner.RunAsync(["connect", "github", "--client-id", "Iv1.none", "--no-browser", "--timeout", "1s"], Env(server));

        Assert.Equal(2, result.ExitCode);
        Assert.Contains("VALET_CLIENT_SECRET", result.StdErr, StringComparison.Ordinal);
    }
}
