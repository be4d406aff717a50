using System.Net;
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

    [Theory]
    [InlineData("serve")]
    [InlineData("demo")]
    public async Task AnAddressInUse_IsOneLine_NotAHundredLinesOfStackTraces(string verb)
    {
        using var taken = new System.Net.Sockets.TcpListener(System.Net.IPAddress.Loopback, 0);
        taken.Start();
        var url = $"http://127.0.0.1:{((System.Net.IPEndPoint)taken.LocalEndpoint).Port}";

        var result = await CliRunner.RunAsync([verb, "--urls", url], Env(TempDir()), timeout: TimeSpan.FromSeconds(30));

        Assert.Equal(1, result.ExitCode);
        var lines = result.StdErr.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.StartsWith($"valet: cannot listen on {url}: the address is already in use", lines[^1], StringComparison.Ordinal);
        Assert.DoesNotContain("   at ", result.StdErr, StringComparison.Ordinal);
        Assert.DoesNotContain(lines, line => line.StartsWith("fail:", StringComparison.Ordinal) || line.StartsWith("crit:", StringComparison.Ordinal));
    }

    [Fact]
    public async Task WeakServiceToken_FailsTheBoot_SayingWhy()
    {
        // The service principal may read every org's tokens: a chosen one is held to the admin token's rules.
        const string Token = "changeme-ops";
        var result = await CliRunner.RunAsync(["serve", "--urls", "http://127.0.0.1:0"], Env(TempDir(), ("VALET_SERVICE_TOKEN", Token)),
            timeout: TimeSpan.FromSeconds(30));

        AssertOneLineFailure(result, "at least 32 characters");
        Assert.Contains("VALET_SERVICE_TOKEN is too weak", result.StdErr, StringComparison.Ordinal);
        Assert.DoesNotContain(Token, result.StdErr, StringComparison.Ordinal);
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

        var problems = AssertProblemBlock(result);
        Assert.True(problems.Count >= 3, result.StdErr);
        Assert.Contains(problems, p => p.Contains("acme", StringComparison.OrdinalIgnoreCase));
        Assert.Contains(problems, p => p.Contains("github", StringComparison.OrdinalIgnoreCase));
        Assert.DoesNotContain("secret-without-id", result.StdErr, StringComparison.Ordinal);
    }

    /// <summary>Several problems: <c>valet: N configuration problems:</c>, then one <c>  - problem</c> line each; exit 2, no trace.</summary>
    private static List<string> AssertProblemBlock(CliResult result)
    {
        Assert.True(result.ExitCode == 2, $"exit {result.ExitCode}: {result.StdErr}");
        Assert.DoesNotContain("unexpected", result.StdErr, StringComparison.Ordinal);
        Assert.DoesNotContain("   at ", result.StdErr, StringComparison.Ordinal);
        var lines = result.StdErr.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.Matches(@"^valet: \d+ configuration problems:$", lines[0]);
        var problems = lines.Skip(1).ToList();
        Assert.All(problems, line => Assert.StartsWith("  - ", line, StringComparison.Ordinal));
        Assert.Equal($"valet: {problems.Count} configuration problems:", lines[0]);
        return problems;
    }

    [Theory]
    [InlineData("VALET_REFRESH__LOCKTIMEOUT", "00:00:05", "Refresh:LockTimeout")]
    [InlineData("VALET_FLOWS__LIFETIME", "00:00:01", "Flows:Lifetime")]
    [InlineData("VALET_PROXY__MAXREQUESTBYTES", "0", "Proxy:MaxRequestBytes")]
    [InlineData("VALET_STORAGE__CACHESIZE", "0", "Storage:CacheSize")]
    [InlineData("VALET_FLOWS__LIFETIME", "soon", "Flows:Lifetime")]
    public async Task InvalidOption_FailsTheBoot_WithOneLine(string key, string value, string expected)
    {
        var result = await CliRunner.RunAsync(["serve", "--urls", "http://127.0.0.1:0"], Env(TempDir(), (key, value)));

        AssertOneLineFailure(result, expected);
        Assert.DoesNotContain("unexpected", result.StdErr, StringComparison.Ordinal);
    }

    [Fact]
    public async Task InvalidOptions_InSeveralSections_AreEachNamedOnTheirOwnLine()
    {
        var result = await CliRunner.RunAsync(["serve", "--urls", "http://127.0.0.1:0"], Env(TempDir(),
            ("VALET_REFRESH__LOCKTIMEOUT", "00:00:05"),
            ("VALET_REFRESH__BATCHSIZE", "0"),
            ("VALET_FLOWS__EXCHANGETIMEOUT", "01:00:00"),
            ("VALET_PROXY__CONNECTTIMEOUT", "-00:00:01")));

        var problems = AssertProblemBlock(result);
        Assert.Equal(4, problems.Count);
        Assert.Contains(problems, p => p.Contains("Refresh:LockTimeout", StringComparison.Ordinal));
        Assert.Contains(problems, p => p.Contains("Refresh:BatchSize", StringComparison.Ordinal));
        Assert.Contains(problems, p => p.Contains("Flows:ExchangeTimeout", StringComparison.Ordinal));
        Assert.Contains(problems, p => p.Contains("Proxy:ConnectTimeout", StringComparison.Ordinal));
    }

    [Fact]
    public async Task SettingsAndCatalogProblems_AreReportedTogether()
    {
        var result = await CliRunner.RunAsync(["serve", "--urls", "http://127.0.0.1:0"], Env(TempDir(),
            ("VALET_PUBLIC_URL", "ftp://nope"),
            ("VALET_PROVIDERS__ACME__AUTHORIZATIONENDPOINT", "not a url"),
            ("VALET_PROVIDERS__ACME__TOKENENDPOINT", "http://example.com/token")));

        var problems = AssertProblemBlock(result);
        Assert.Contains(problems, p => p.Contains("VALET_PUBLIC_URL", StringComparison.Ordinal));
        Assert.Contains(problems, p => p.Contains("acme", StringComparison.OrdinalIgnoreCase));
    }

    [Fact]
    public async Task ASecondServe_OnTheSameSqliteDatabase_RefusesInOneLine_AndStartsOnceTheFirstHasStopped()
    {
        var dir = TempDir();
        await using (var first = await ValetTestServer.StartAsync(dataDirectory: dir))
        {
            // Another process (the real CLI): refreshes are coordinated in process, so two servers would each refresh.
            var second = await CliRunner.RunAsync(["serve", "--urls", "http://127.0.0.1:0"], Env(dir));
            AssertOneLineFailure(second, "Another valet serve is already using");
            Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite, File.GetUnixFileMode(Path.Combine(dir, "valet.db.lock")));
        }

        await using var again = await ValetTestServer.StartAsync(dataDirectory: dir);
        Assert.Equal(HttpStatusCode.OK, (await again.Client(null).GetAsync("/healthz")).StatusCode);
    }

    [Fact]
    public async Task ARestoredDatabase_WithoutItsKeyFile_FailsInOneLine_NamingTheKeyId_AndKeepsNoNewKey()
    {
        // A backup restored without its key file: a key generated now could never open the data. It is not kept (it would
        // pass for the data's key), and the line says what is missing instead of blaming a "configured" key.
        var dir = TempDir();
        await using (await ValetTestServer.StartAsync(dataDirectory: dir))
        {
            // Data sealed under the generated key.
        }

        var keyFile = Path.Combine(dir, "encryption.key");
        var original = await File.ReadAllTextAsync(keyFile);
        File.Delete(keyFile);

        foreach (var verb in new[] { new[] { "serve", "--urls", "http://127.0.0.1:0" }, new[] { "vault", "rotate" } })
        {
            var result = await CliRunner.RunAsync(verb, Env(dir));
            AssertOneLineFailure(result, "No encryption key was configured");
            Assert.Contains("was removed", result.StdErr, StringComparison.Ordinal);
            Assert.Contains("sealed with key id k", result.StdErr, StringComparison.Ordinal);
            Assert.False(File.Exists(keyFile), $"{verb[0]}: a key that cannot open the data was left in the data directory");
        }

        // The key restored, the data opens again.
        await File.WriteAllTextAsync(keyFile, original);
        File.SetUnixFileMode(keyFile, UnixFileMode.UserRead | UnixFileMode.UserWrite);
        await using var restored = await ValetTestServer.StartAsync(dataDirectory: dir);
        using var admin = restored.Client();
        Assert.Equal(HttpStatusCode.OK, (await admin.GetAsync("/v1/orgs/default")).StatusCode);
    }

    [Fact]
    public async Task AWrongKeyFile_ThatWasLoaded_NotGenerated_IsKept()
    {
        // Only a key generated on this very start is discarded: a key file the operator put there stays, whatever it opens.
        var dir = TempDir();
        await using (await ValetTestServer.StartAsync(dataDirectory: dir))
        {
            // Data sealed under the generated key.
        }

        var keyFile = Path.Combine(dir, "encryption.key");
        var wrong = ValetTestServer.RandomKey();
        await File.WriteAllTextAsync(keyFile, wrong);
        foreach (var verb in new[] { new[] { "serve", "--urls", "http://127.0.0.1:0" }, new[] { "vault", "rotate" } })
        {
            var result = await CliRunner.RunAsync(verb, Env(dir));
            AssertOneLineFailure(result, "cannot decrypt");
            Assert.Equal(wrong, await File.ReadAllTextAsync(keyFile));
        }
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
