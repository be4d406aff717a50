using System.Text;
using Npgsql;
using Valet.Core.Domain;
using Valet.Storage;
using Valet.Tests.Infrastructure;

namespace Valet.Tests.Storage;

[Collection(PostgresCollection.Name)]
public sealed class PostgresStoreTests(PostgresFixture postgres) : StoreSuite
{
    private string? _connectionString;

    protected override async Task<DatabaseTarget> CreateDatabaseAsync()
    {
        _connectionString = await postgres.CreateDatabaseAsync();
        return DatabaseTarget.Parse(_connectionString, Path.GetTempPath());
    }

    protected override async Task DeleteDatabaseAsync(DatabaseTarget target)
    {
        NpgsqlConnection.ClearAllPools();
        await postgres.DropDatabaseAsync(_connectionString!);
    }

    [Fact]
    public async Task ANulCharacter_IsRefusedByPostgres_AndClassedAsUnstorableText_NotAnOutage()
    {
        // What the error handler turns into 422 instead of 500 (JSON bodies refuse NUL before the database sees it).
        await using var node = await StartNodeAsync();
        var error = await Assert.ThrowsAsync<PostgresException>(() =>
            node.Orgs.CreateAsync(new Org { Id = "nul", Name = "a\0b" }, CancellationToken.None));

        Assert.True(StorageFailures.IsUnstorableText(error), error.SqlState);
        Assert.False(StorageFailures.IsUnavailable(error));
        Assert.False(StorageFailures.IsUnstorableText(new InvalidOperationException("other")));
    }

    protected override async Task<byte[]> ReadAtRestAsync(Node node) =>
        Encoding.UTF8.GetBytes(await postgres.DumpAsync(_connectionString!));
}
