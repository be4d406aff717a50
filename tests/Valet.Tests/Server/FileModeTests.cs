using System.Net.Http.Json;
using Valet.Tests.Infrastructure;

namespace Valet.Tests.Server;

/// <summary>SPEC §7: the data directory is 0700 and its files 0600, also the ones SQLite creates later (WAL, SHM).</summary>
[System.Runtime.Versioning.UnsupportedOSPlatform("windows")]
public sealed class FileModeTests
{
    private const UnixFileMode OwnerOnlyFile = UnixFileMode.UserRead | UnixFileMode.UserWrite;
    private const UnixFileMode OwnerOnlyDirectory = OwnerOnlyFile | UnixFileMode.UserExecute;

    private static readonly string[] ValetFiles = ["valet.db", "valet.db-wal", "valet.db-shm", "encryption.key", "service-token"];

    private static async Task WriteSomethingAsync(ValetTestServer server)
    {
        using var admin = server.Client();
        var response = await admin.PostAsJsonAsync("/v1/orgs", new { id = "modes-" + Guid.NewGuid().ToString("N")[..8], name = "Modes" });
        response.EnsureSuccessStatusCode();
    }

    private static void AssertOwnerOnly(string directory)
    {
        Assert.Equal(OwnerOnlyDirectory, File.GetUnixFileMode(directory));
        foreach (var name in ValetFiles)
        {
            var path = Path.Combine(directory, name);
            Assert.True(File.Exists(path), name + " is missing");
            Assert.True(File.GetUnixFileMode(path) == OwnerOnlyFile, $"{name} is {File.GetUnixFileMode(path)}");
        }

        foreach (var path in Directory.EnumerateFiles(directory))
        {
            Assert.True((File.GetUnixFileMode(path) & ~OwnerOnlyFile) == 0, $"{Path.GetFileName(path)} is {File.GetUnixFileMode(path)}");
        }
    }

    [Fact]
    public async Task FreshDataDirectory_AfterAWrite_IsOwnerOnly_DatabaseWalShmKeyAndServiceToken()
    {
        await using var server = await ValetTestServer.StartAsync();

        await WriteSomethingAsync(server);

        AssertOwnerOnly(server.DataDirectory);
    }

    [Fact]
    public async Task ExistingDirectoryAndFilesReadableByOthers_AreTightenedAtBoot_WithOneLogLine()
    {
        var directory = Path.Combine(Path.GetTempPath(), "valet-modes-" + Guid.NewGuid().ToString("N"));
        try
        {
            await using (var first = await ValetTestServer.StartAsync(dataDirectory: directory))
            {
                await WriteSomethingAsync(first);
            }

            // As an older Valet (or a copy, or a restore) left them.
            File.SetUnixFileMode(directory, OwnerOnlyDirectory | UnixFileMode.GroupRead | UnixFileMode.GroupExecute | UnixFileMode.OtherRead | UnixFileMode.OtherExecute);
            foreach (var path in Directory.EnumerateFiles(directory))
            {
                File.SetUnixFileMode(path, OwnerOnlyFile | UnixFileMode.GroupRead | UnixFileMode.OtherRead);
            }

            await using var second = await ValetTestServer.StartAsync(dataDirectory: directory);
            await WriteSomethingAsync(second);

            AssertOwnerOnly(directory);
            var line = Assert.Single(second.Logs.Lines, l => l.Contains("removed group and other permissions", StringComparison.Ordinal));
            Assert.Contains("valet.db", line, StringComparison.Ordinal);
            Assert.Contains("encryption.key", line, StringComparison.Ordinal);
        }
        finally
        {
            Directory.Delete(directory, recursive: true);
        }
    }
}
