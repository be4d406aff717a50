using Valet.Tests.Infrastructure;

namespace Valet.Tests.Server;

/// <summary>Every boot check fails `valet serve` with one readable line on stderr and exit code 2, before listening.</summary>
public sealed class BootFailureTests
{
    private static Dictionary<string, string?> Env(string dataDir, params (string Key, string Value)[] extra)
    {
        var env = new Dictionary<string, string?> { ["VALET_DATA_DIR"] = dataDir };
        foreach (var (key, value) in extra)
        {
            env[key] = value;
        }

        return env;
    }

    private static string TempDir() => Path.Combine(Path.GetTempPath(), "valet-boot-" + Guid.NewGuid().ToString("N"));

    private static void AssertOneLineFailure(CliResult result, string expected)
    {
        Assert.Equal(2, result.ExitCode);
        var lines = result.StdErr.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.Single(lines);
        Assert.StartsWith("valet: ", lines[0], StringComparison.Ordinal);
        Assert.Contains(expected, lines[0], StringComparison.Ordinal);
        Assert.DoesNotContain("   at ", result.StdErr, StringComparison.Ordinal);
    }

    [Fact]
    public async Task ShortKey_FailsTheBoot_WithOneLine()
    {
        var result = await CliRunner.RunAsync(["serve", "--urls", "http://127.0.0.1:0"],
            Env(TempDir(), ("VALET_ENCRYPTION_KEY", Convert.ToBase64String(new byte[16]))));

        AssertOneLineFailure(result, "at least 32");
    }

    [Fact]
    public async Task MissingKey_OnPostgres_FailsTheBoot()
    {
        var result = await CliRunner.RunAsync(["serve", "--urls", "http://127.0.0.1:0"],
            Env(TempDir(), ("VALET_DATABASE", "postgres://valet@127.0.0.1:1/valet"), ("VALET_ADMIN_TOKEN", ValetTestServer.AdminToken),
                ("VALET_PUBLIC_URL", "https://valet.example")));

        AssertOneLineFailure(result, "VALET_ENCRYPTION_KEY is required");
    }

    [Fact]
    public async Task Postgres_WithoutPublicUrl_FailsTheBoot()
    {
        var result = await CliRunner.RunAsync(["serve", "--urls", "http://127.0.0.1:0"], Env(TempDir(),
            ("VALET_DATABASE", "postgres://valet@127.0.0.1:1/valet"), ("VALET_ADMIN_TOKEN", ValetTestServer.AdminToken),
            ("VALET_ENCRYPTION_KEY", ValetTestServer.RandomKey())));

        AssertOneLineFailure(result, "VALET_PUBLIC_URL is required with PostgreSQL");
    }

    [Theory]
    [InlineData("0123456789abcdefghijklmnopqrstu", "at least 32 characters")]
    [InlineData("aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", "at least 8 different characters")]
    [InlineData("abcabcabcabcabcabcabcabcabcabcabcabc", "at least 8 different characters")]
    [InlineData("0123456789abcdef0123456789abcdef", "one block repeated")]
    public async Task WeakAdminToken_FailsTheBoot_SayingWhy(string token, string why)
    {
        var result = await CliRunner.RunAsync(["serve", "--urls", "http://127.0.0.1:0"], Env(TempDir(), ("VALET_ADMIN_TOKEN", token)),
            timeout: TimeSpan.FromSeconds(30));

        AssertOneLineFailure(result, why);
        Assert.Contains("VALET_ADMIN_TOKEN is too weak", result.StdErr, StringComparison.Ordinal);
        Assert.DoesNotContain(token, result.StdErr, StringComparison.Ordinal);
    }

    [Fact]
    public async Task WrongKey_ForExistingData_FailsTheBoot()
    {
        var dir = TempDir();
        await using (await ValetTestServer.StartAsync(new Dictionary<string, string?> { ["ENCRYPTION_KEY"] = ValetTestServer.RandomKey() }, dir))
        {
            // Data sealed under the first key.
        }

        var result = await CliRunner.RunAsync(["serve", "--urls", "http://127.0.0.1:0"], Env(dir, ("VALET_ENCRYPTION_KEY", ValetTestServer.RandomKey())));

        AssertOneLineFailure(result, "cannot decrypt");
    }

    [Fact]
    public async Task InvalidCatalogEntries_AreAllListedInOneMessage()
    {
        var result = await CliRunner.RunAsync(["serve", "--urls", "http://127.0.0.1:0"], Env(TempDir(),
            ("VALET_PROVIDERS__ACME__AUTHORIZATIONENDPOINT", "not a url"),
            ("VALET_PROVIDERS__ACME__TOKENENDPOINT", "http://example.com/token"),
            ("VALET_PROVIDERS__GITHUB__CLIENTSECRET", "secret-without-id")));

        Assert.Equal(2, result.ExitCode);
        var line = Assert.Single(result.StdErr.Split('\n', StringSplitOptions.RemoveEmptyEntries));
        Assert.Contains("acme", line, StringComparison.OrdinalIgnoreCase);
        Assert.Contains("github", line, StringComparison.OrdinalIgnoreCase);
        Assert.True(line.Split(';').Length >= 3, line);
        Assert.DoesNotContain("secret-without-id", line, StringComparison.Ordinal);
    }

    [Fact]
    public async Task LocalFirstRun_GeneratesAKeyFile_AndSaysWhere()
    {
        var dir = TempDir();
        await using var server = await ValetTestServer.StartAsync(dataDirectory: dir);

        var keyFile = Path.Combine(dir, "encryption.key");
        Assert.True(File.Exists(keyFile));
        Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite, File.GetUnixFileMode(keyFile));
        Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite, File.GetUnixFileMode(Path.Combine(dir, "service-token")));
        Assert.Contains(server.Logs.Lines, l => l.Contains(keyFile, StringComparison.Ordinal) && l.Contains("Generated", StringComparison.Ordinal));
    }
}
