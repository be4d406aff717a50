using Valet.Core.Stores;
using Valet.Storage.Data;

namespace Valet.Storage.Stores;

internal sealed class RuntimeProviderStore(Db db, TimeProvider time) : StoreBase(db, time), IRuntimeProviderStore
{
    public async Task<IReadOnlyList<RuntimeProviderRow>> ListAsync(CancellationToken cancellationToken) =>
        await QueryAsync("SELECT * FROM runtime_providers ORDER BY id", null, Map, cancellationToken);

    public async ValueTask<RuntimeProviderRow?> FindAsync(string id, CancellationToken cancellationToken) =>
        await QueryOneAsync("SELECT * FROM runtime_providers WHERE id = @id", new { id }, Map, cancellationToken);

    public async Task<(RuntimeProviderRow Row, bool Created)> UpsertAsync(RuntimeProviderRow row, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(row);
        var now = Now();
        await using var connection = await Db.OpenAsync(cancellationToken);

        // One statement: two nodes registering the same id at once end with one row, the last write winning.
        var stored = await connection.ReadOneAsync(
            Db,
            """
            INSERT INTO runtime_providers (id, document, resolved, version, created_at, updated_at)
            VALUES (@Id, @Document, @Resolved, 1, @Now, @Now)
            ON CONFLICT (id) DO UPDATE SET document = excluded.document, resolved = excluded.resolved,
                version = runtime_providers.version + 1, updated_at = excluded.updated_at
            RETURNING *
            """,
            new { row.Id, row.Document, row.Resolved, Now = Db.Time(now) }, null, Map, cancellationToken);
        return (stored!, stored!.Version == 1);
    }

    public async Task<RuntimeProviderDeletion> DeleteAsync(string id, CancellationToken cancellationToken)
    {
        await using var connection = await Db.OpenAsync(cancellationToken);
        var deleted = await connection.ExecAsync(
            "DELETE FROM runtime_providers WHERE id = @id AND NOT EXISTS (SELECT 1 FROM connections WHERE provider = @id)",
            new { id }, null, cancellationToken);
        if (deleted > 0)
        {
            return RuntimeProviderDeletion.Deleted;
        }

        var exists = await connection.ReadOneAsync(Db, "SELECT id FROM runtime_providers WHERE id = @id", new { id }, null, r => r.Str("id"),
            cancellationToken);
        return exists is null ? RuntimeProviderDeletion.NotFound : RuntimeProviderDeletion.InUse;
    }

    public async Task<int> CountConnectionsAsync(string id, CancellationToken cancellationToken)
    {
        await using var connection = await Db.OpenAsync(cancellationToken);
        return (int)await connection.ScalarAsync<long>("SELECT COUNT(*) FROM connections WHERE provider = @id", new { id }, null, cancellationToken);
    }

    private static RuntimeProviderRow Map(Row r) => new()
    {
        Id = r.Str("id"),
        Document = r.Str("document"),
        Resolved = r.StrOrNull("resolved"),
        Version = r.Long("version"),
        CreatedAt = r.Time("created_at"),
        UpdatedAt = r.Time("updated_at"),
    };
}
