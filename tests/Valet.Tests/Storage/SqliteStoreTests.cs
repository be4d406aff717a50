using Microsoft.Data.Sqlite;
using Valet.Core.Domain;
using Valet.Storage;
using Valet.Storage.Stores;

namespace Valet.Tests.Storage;

public sealed class SqliteStoreTests : StoreSuite
{
    private readonly string _directory = Path.Combine(Path.GetTempPath(), "valet-sqlite-" + Guid.NewGuid().ToString("N")[..12]);

    protected override Task<DatabaseTarget> CreateDatabaseAsync() =>
        Task.FromResult(DatabaseTarget.Parse("sqlite:" + Path.Combine(_directory, "valet.db"), _directory));

    protected override Task DeleteDatabaseAsync(DatabaseTarget target)
    {
        SqliteConnection.ClearAllPools();
        if (Directory.Exists(_directory))
        {
            Directory.Delete(_directory, recursive: true);
        }

        return Task.CompletedTask;
    }

    protected override async Task<byte[]> ReadAtRestAsync(Node node)
    {
        await node.ExecuteRawAsync("PRAGMA wal_checkpoint(TRUNCATE)");
        var bytes = new List<byte>();
        foreach (var file in Directory.GetFiles(_directory))
        {
            if (!file.EndsWith(".lock", StringComparison.Ordinal))
            {
                bytes.AddRange(await File.ReadAllBytesAsync(file));
            }
        }

        return [.. bytes];
    }

    [Fact]
    public async Task Sqlite_UsesWalAndForeignKeys_AndLeaseLocksDoNotLeak()
    {
        var node = await StartWithOrgAsync();
        var (connection, _) = await node.Connections.UpsertAsync(NewConnection("1"), None);
        var before = SqliteConnectionLocks.Locks.Count;

        await using (var lease = await node.Locks.AcquireAsync(connection.Id, None))
        {
            Assert.Equal(before + 1, SqliteConnectionLocks.Locks.Count);
        }

        Assert.Equal(before, SqliteConnectionLocks.Locks.Count);
        await using var db = await node.Db.OpenAsync(None);
        await using var command = db.CreateCommand();
        command.CommandText = "PRAGMA journal_mode";
        Assert.Equal("wal", (string?)await command.ExecuteScalarAsync());
        command.CommandText = "PRAGMA foreign_keys";
        Assert.Equal(1L, (long?)await command.ExecuteScalarAsync());
    }

    [Fact]
    public async Task Sqlite_AuditBatch_HandsItsPooledConnectionBackWithFullDurability()
    {
        var node = await StartWithOrgAsync();
        await node.Audit.AppendManyAsync([new AuditEvent { OrgId = Org, Kind = "proxy.request" }], None);

        // The pool hands out the connection the batch used (one idle connection in the pool): it must not keep NORMAL.
        await using var db = await node.Db.OpenAsync(None);
        await using var command = db.CreateCommand();
        command.CommandText = "PRAGMA synchronous";
        Assert.Equal(2L, (long?)await command.ExecuteScalarAsync()); // FULL
    }
}
