using Valet.Tests.Infrastructure;
using static Valet.Tests.Server.CliUsageTests;

namespace Valet.Tests.Server;

/// <summary>
/// Input the CLI reads besides its arguments — a file, VALET_URL, listening addresses, valet.json — fails as a usage
/// error too: one line naming the input and the problem, exit 2, never an "unexpected" exception or a stack trace.
/// </summary>
public sealed class CliInputErrorTests
{
    [Fact]
    public async Task FileArgumentThatIsADirectory_IsOneLine_Exit2()
    {
        var directory = Directory.CreateTempSubdirectory("valet-usage-").FullName;
        try
        {
            var import = await CliRunner.RunAsync(["import", directory], Env());
            var provider = await CliRunner.RunAsync(["providers", "set", "x", "--file", directory], Env());
            var missing = await CliRunner.RunAsync(["import", Path.Combine(directory, "nope.json")], Env());

            Assert.Contains($"cannot read {directory}: it is a directory", AssertUsageError(import), StringComparison.Ordinal);
            Assert.Contains($"cannot read {directory}: it is a directory", AssertUsageError(provider), StringComparison.Ordinal);
            Assert.Contains("no such file", AssertUsageError(missing), StringComparison.Ordinal);
        }
        finally
        {
            Directory.Delete(directory);
        }
    }

    [Theory]
    [InlineData("notaurl")]
    [InlineData("ftp://127.0.0.1:7878")]
    [InlineData("http://127.0.0.1:7878/base")]
    // Kestrel would read this as the host "127.0.0.1:notaport" on port 80 and listen on every interface.
    [InlineData("http://127.0.0.1:notaport")]
    public async Task Serve_MalformedUrls_IsOneLineNamingIt_BeforeAnythingListens(string urls)
    {
        var result = await CliRunner.RunAsync(["serve", "--urls", urls], Env(), timeout: TimeSpan.FromSeconds(30));

        var line = AssertUsageError(result);
        Assert.Contains($"--urls '{urls}' is not a listening address", line, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Serve_MalformedUrlsFromTheEnvironment_IsOneLineNamingTheVariable()
    {
        var result = await CliRunner.RunAsync(["serve"], Env(("ASPNETCORE_URLS", "notaurl")), timeout: TimeSpan.FromSeconds(30));

        Assert.Contains("ASPNETCORE_URLS 'notaurl' is not a listening address", AssertUsageError(result), StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("localhost:7878")]
    [InlineData("ftp://127.0.0.1:7878")]
    [InlineData("notaurl")]
    public async Task MalformedValetUrl_IsOneLineNamingIt(string url)
    {
        var result = await CliRunner.RunAsync(["providers", "list"], Env(("VALET_URL", url)));

        Assert.Contains($"VALET_URL '{url}' is not an http(s) URL", AssertUsageError(result), StringComparison.Ordinal);
    }

    [Fact]
    public async Task VaultRotate_OnADataDirectoryWithNoDatabase_IsRefused_AndCreatesNothing()
    {
        // A mistyped VALET_DATA_DIR must not become a new key, a new database and "re-encrypted 0 values".
        var env = Env();
        var dataDirectory = env["VALET_DATA_DIR"]!;

        var result = await CliRunner.RunAsync(["vault", "rotate"], env);

        Assert.Contains("no Valet database at", AssertUsageError(result), StringComparison.Ordinal);
        Assert.False(Directory.Exists(dataDirectory) && Directory.EnumerateFileSystemEntries(dataDirectory).Any());
    }

    [Fact]
    public async Task MalformedValetJson_IsOneLineNamingTheFile()
    {
        var env = Env();
        var dataDirectory = env["VALET_DATA_DIR"]!;
        Directory.CreateDirectory(dataDirectory);
        await File.WriteAllTextAsync(Path.Combine(dataDirectory, "valet.json"), "{not json");
        try
        {
            var result = await CliRunner.RunAsync(["vault", "rotate"], env);

            Assert.Contains(Path.Combine(dataDirectory, "valet.json") + " is not valid JSON", AssertUsageError(result), StringComparison.Ordinal);
        }
        finally
        {
            Directory.Delete(dataDirectory, recursive: true);
        }
    }
}
