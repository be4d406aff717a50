using System.Text;
using Npgsql;
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

    protected override async Task<byte[]> ReadAtRestAsync(Node node) =>
        Encoding.UTF8.GetBytes(await postgres.DumpAsync(_connectionString!));
}
