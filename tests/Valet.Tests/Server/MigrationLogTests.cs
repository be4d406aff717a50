using Valet.Tests.Infrastructure;

namespace Valet.Tests.Server;

/// <summary>Event 4001: one line per upgrade that applied anything, none when the database is current (docs/logging.md).</summary>
public sealed class MigrationLogTests
{
    [Fact]
    public async Task AFreshDatabase_LogsOneLineNamingEveryScript_AndARestartLogsNone()
    {
        var scripts = typeof(Valet.Storage.DatabaseTarget).Assembly.GetManifestResourceNames()
            .Where(name => name.Contains(".Migrations.Sqlite.", StringComparison.Ordinal) && name.EndsWith(".sql", StringComparison.Ordinal))
            .ToList();
        var dataDirectory = Directory.CreateTempSubdirectory("valet-migration-log-").FullName;
        try
        {
            List<string> first;
            await using (var server = await ValetTestServer.StartAsync(dataDirectory: dataDirectory))
            {
                first = server.Logs.Lines.Where(line => line.Contains("[4001]", StringComparison.Ordinal)).ToList();
            }

            var line = Assert.Single(first);
            Assert.Contains($"Applied {scripts.Count} database migration(s) to SQLite", line, StringComparison.Ordinal);
            Assert.Contains("0001_initial, ", line, StringComparison.Ordinal);
            Assert.DoesNotContain("Valet.Storage.Migrations", line.Split(" | ")[0], StringComparison.Ordinal);

            await using (var again = await ValetTestServer.StartAsync(dataDirectory: dataDirectory))
            {
                Assert.DoesNotContain(again.Logs.Lines, l => l.Contains("[4001]", StringComparison.Ordinal));
            }
        }
        finally
        {
            Directory.Delete(dataDirectory, recursive: true);
        }
    }
}
