using Valet.Tests.Infrastructure;

namespace Valet.Tests.Server;

/// <summary>
/// Usage errors of the real `valet` executable: one readable line per problem on stderr (`valet: … See 'valet VERB
/// --help'.`), nothing on stdout, exit 2 — never the help on stdout, a .NET type name or an "unexpected" exception.
/// None of these reaches a server: the default VALET_URL points at nothing.
/// </summary>
public sealed class CliUsageTests
{
    internal static Dictionary<string, string?> Env(params (string Key, string Value)[] extra)
    {
        var env = new Dictionary<string, string?> { ["VALET_DATA_DIR"] = TempDir(), ["VALET_URL"] = $"http://127.0.0.1:{ValetTestServer.FreePort()}" };
        foreach (var (key, value) in extra)
        {
            env[key] = value;
        }

        return env;
    }

    private static string TempDir() => Path.Combine(Path.GetTempPath(), "valet-usage-" + Guid.NewGuid().ToString("N"));

    internal static string AssertUsageError(CliResult result, int lines = 1)
    {
        Assert.True(result.ExitCode == 2, $"exit {result.ExitCode}; stderr: {result.StdErr}");
        Assert.Equal(string.Empty, result.StdOut);
        var errors = result.StdErr.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.Equal(lines, errors.Length);
        Assert.All(errors, line => Assert.StartsWith("valet: ", line, StringComparison.Ordinal));
        Assert.DoesNotContain("unexpected", result.StdErr, StringComparison.Ordinal);
        Assert.DoesNotContain("System.", result.StdErr, StringComparison.Ordinal);
        Assert.DoesNotContain("   at ", result.StdErr, StringComparison.Ordinal);
        return errors[0];
    }

    [Fact]
    public async Task BadChoice_WithJson_OneLineNamingTheChoices_StdoutEmpty_Exit2()
    {
        var result = await CliRunner.RunAsync(["connect", "github", "--json", "--callback-transport", "carrier"], Env());

        var line = AssertUsageError(result);
        Assert.Equal("valet: --callback-transport must be loopback or gateway, not 'carrier'. See 'valet connect --help'.", line);
    }

    [Theory]
    [InlineData("valet keys create --help", "keys", "create", "a", "--allow", "bogus:x")]
    [InlineData("valet connect --help", "connect", "github", "--timeout", "abc")]
    [InlineData("valet connect --help", "connect", "github", "--param", "nonsense")]
    [InlineData("valet audit --help", "audit", "--limit", "0")]
    [InlineData("valet dashboard --help", "dashboard", "--no-browser", "--page", "keys")]
    public async Task UsageErrorsTheVerbFindsItself_EndWithItsHelp_LikeParseErrors(string help, params string[] args)
    {
        var line = AssertUsageError(await CliRunner.RunAsync(args, Env(("VALET_ADMIN_TOKEN", "operator-admin-token"))));

        Assert.EndsWith($"See '{help}'.", line, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Device_WithAnOptionOnlyTheBrowserFlowUses_IsRefused_NotSilentlyIgnored()
    {
        var result = await CliRunner.RunAsync(["connect", "github", "--device", "--force", "--param", "subdomain=acme"], Env());

        var line = AssertUsageError(result);
        Assert.StartsWith("valet: --param, --force cannot be used with --device", line, StringComparison.Ordinal);
    }

    [Fact]
    public async Task BadBoolean_SaysTrueOrFalse_NotTheDotNetType()
    {
        var result = await CliRunner.RunAsync(["orgs", "set-headless", "acme", "maybe"], Env());

        var line = AssertUsageError(result);
        Assert.Contains("must be true or false, not 'maybe'", line, StringComparison.Ordinal);
        Assert.EndsWith("See 'valet orgs set-headless --help'.", line, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData(new[] { "connect" }, "provider", "valet connect --help")]
    [InlineData(new[] { "keys", "list", "--bogus" }, "--bogus", "valet keys list --help")]
    [InlineData(new[] { "frobnicate" }, "frobnicate", "valet --help")]
    [InlineData(new[] { "keys" }, "create, list, revoke", "valet keys --help")]
    [InlineData(new[] { "credentials", "add", "github" }, "--client-id", "valet credentials add --help")]
    public async Task MissingOrUnknownArguments_AreOneLineEach_PointingAtTheVerbsHelp(string[] args, string named, string help)
    {
        var result = await CliRunner.RunAsync(args, Env());

        var line = AssertUsageError(result);
        Assert.Contains(named, line, StringComparison.Ordinal);
        Assert.Contains($"See '{help}'.", line, StringComparison.Ordinal);
    }

    [Fact]
    public async Task TwoBadValues_AreTwoLines()
    {
        var result = await CliRunner.RunAsync(["audit", "--limit", "x", "--before", "y"], Env());

        AssertUsageError(result, lines: 2);
        Assert.Contains("--limit must be a whole number, not 'x'.", result.StdErr, StringComparison.Ordinal);
        Assert.Contains("--before must be a whole number, not 'y'.", result.StdErr, StringComparison.Ordinal);

        // Digits that do not fit are not "not a whole number": the line says the range.
        var big = await CliRunner.RunAsync(["audit", "--limit", "99999999999999"], Env());
        AssertUsageError(big, lines: 1);
        Assert.Contains("--limit must be a whole number from -2147483648 to 2147483647, not '99999999999999'.", big.StdErr, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Help_StillWinsOverAParseError_OnStdout_Exit0()
    {
        var result = await CliRunner.RunAsync(["connect", "--bogus", "--help"], Env());

        Assert.Equal(0, result.ExitCode);
        Assert.Contains("--callback-transport <loopback|gateway>", result.StdOut, StringComparison.Ordinal);
    }
}
