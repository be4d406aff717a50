using System.Data.Common;
using Valet.Core.Domain;
using Valet.Core.Stores;
using Valet.Core.Vault;
using Valet.Storage.Data;

namespace Valet.Storage.Stores;

internal sealed class ConnectionStore(Db db, IVault vault, TimeProvider time) : StoreBase(db, time), IConnectionStore
{
    private static readonly string KeepRefreshTokenSql =
        $"UPDATE connections SET {ConnectionRows.SetMutable.Replace("refresh_token = @RefreshToken", "refresh_token = COALESCE(@RefreshToken, refresh_token)", StringComparison.Ordinal)} WHERE id = @Id RETURNING *";

    private readonly ConnectionRows _rows = new(db, vault);

    public async ValueTask<Connection?> FindAsync(string id, CancellationToken cancellationToken)
    {
        await using var connection = await Db.OpenAsync(cancellationToken);
        return await _rows.ReadAsync(connection, null, id, forUpdate: false, cancellationToken);
    }

    public async ValueTask<Connection?> FindByAccountAsync(string orgId, string provider, string accountId, CancellationToken cancellationToken) =>
        await QueryOneAsync(
            "SELECT * FROM connections WHERE org_id = @orgId AND provider = @provider AND account_id = @accountId",
            new { orgId, provider, accountId }, _rows.Map, cancellationToken);

    public IAsyncEnumerable<Connection> ListAsync(string orgId, CancellationToken cancellationToken) =>
        Yield(QueryAsync("SELECT * FROM connections WHERE org_id = @orgId ORDER BY created_at, id", new { orgId }, _rows.Map, cancellationToken));

    public Task<(Connection Connection, bool Created)> UpsertAsync(Connection connection, CancellationToken cancellationToken) =>
        UpsertAsync(connection, makeDefault: false, cancellationToken);

    public Task<(Connection Connection, bool Created)> UpsertAsDefaultAsync(Connection connection, CancellationToken cancellationToken) =>
        UpsertAsync(connection, makeDefault: true, cancellationToken);

    private async Task<(Connection Connection, bool Created)> UpsertAsync(Connection connection, bool makeDefault, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(connection);

        // Select-then-write rather than ON CONFLICT: the secrets are sealed to the row id, which must be known
        // first. A racing insert of the same account loses on the unique index and retries as an update.
        for (var attempt = 0; ; attempt++)
        {
            await using var db = await Db.OpenAsync(cancellationToken);
            await using var transaction = await db.BeginTransactionAsync(cancellationToken);
            try
            {
                var now = Now();
                var existing = await db.ReadOneAsync(
                    Db,
                    "SELECT id, created_at, credential_id FROM connections WHERE org_id = @OrgId AND provider = @Provider AND account_id = @AccountId" + Db.ForUpdate,
                    new { connection.OrgId, connection.Provider, connection.AccountId }, transaction,
                    r => new Tuple<string, DateTimeOffset, string?>(r.Str("id"), r.Time("created_at"), r.StrOrNull("credential_id")), cancellationToken);

                Connection? stored;
                if (existing is null)
                {
                    var args = _rows.Args(connection, connection.Id, OrNow(connection.CreatedAt), now);
                    stored = await db.ReadOneAsync(Db, ConnectionRows.InsertSql, args, transaction, _rows.Map, cancellationToken);
                }
                else
                {
                    // A grant without a refresh token (RFC 6749 §6 lets a server omit it) keeps the stored one, if it was
                    // issued to the same OAuth client: one issued to another client is refused by this one's token
                    // endpoint (RFC 6749 §6: "the refresh token was issued to the authenticated client"), so a grant under
                    // a different client without its own refresh token leaves none (docs/decisions.md).
                    var args = _rows.Args(connection, existing.Item1, existing.Item2, now);
                    var keepsStored = connection.RefreshToken is null && existing.Item3 == connection.CredentialId;
                    stored = await db.ReadOneAsync(
                        Db,
                        keepsStored ? KeepRefreshTokenSql : $"UPDATE connections SET {ConnectionRows.SetMutable} WHERE id = @Id RETURNING *",
                        args, transaction, _rows.Map, cancellationToken);
                }

                if (makeDefault)
                {
                    await db.ExecAsync(
                        """
                        INSERT INTO org_default_connections (org_id, provider, connection_id) VALUES (@OrgId, @Provider, @Id)
                        ON CONFLICT (org_id, provider) DO UPDATE SET connection_id = excluded.connection_id
                        """,
                        new { stored!.OrgId, stored.Provider, stored.Id }, transaction, cancellationToken);
                }

                await transaction.CommitAsync(cancellationToken);
                return (stored!, existing is null);
            }
            catch (DbException e) when (Db.IsConflict(e))
            {
                if (attempt == 0)
                {
                    continue;
                }

                throw new StoreConflictException(
                    $"The connection '{connection.Id}' conflicts with an existing row or refers to an unknown org or credential.", e);
            }
        }
    }

    public async Task<Connection?> UpdateAsync(Connection connection, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(connection);
        await using var db = await Db.OpenAsync(cancellationToken);
        var now = Now();
        try
        {
            return await db.ReadOneAsync(
                Db,
                $"UPDATE connections SET {ConnectionRows.SetMutable} WHERE id = @Id AND version = @Version RETURNING *",
                _rows.Args(connection, connection.Id, now, now), null, _rows.Map, cancellationToken);
        }
        catch (DbException e) when (Db.IsConflict(e))
        {
            throw new StoreConflictException($"The connection '{connection.Id}' refers to an unknown credential.", e);
        }
    }

    public async Task<bool> DeleteAsync(string id, CancellationToken cancellationToken)
    {
        await using var db = await Db.OpenAsync(cancellationToken);
        await using var transaction = await db.BeginTransactionAsync(cancellationToken);
        var args = new { id };

        // The foreign keys cascade too; the explicit deletes keep the rule visible and independent of them.
        await db.ExecAsync("DELETE FROM targets WHERE connection_id = @id", args, transaction, cancellationToken);
        await db.ExecAsync("DELETE FROM org_default_connections WHERE connection_id = @id", args, transaction, cancellationToken);
        var deleted = await db.ExecAsync("DELETE FROM connections WHERE id = @id", args, transaction, cancellationToken);
        await transaction.CommitAsync(cancellationToken);
        return deleted > 0;
    }

    public async Task<IReadOnlyList<Connection>> ClaimDueAsync(DateTimeOffset now, DateTimeOffset leaseUntil, int batchSize, CancellationToken cancellationToken)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(batchSize);
        await using var db = await Db.OpenAsync(cancellationToken);
        await using var transaction = await db.BeginTransactionAsync(cancellationToken);
        var args = new { Now = Db.Time(now), LeaseUntil = Db.Time(leaseUntil), BatchSize = batchSize };

        // Each row is returned with the NextRefreshAt it was due at, not the lease just written: the refresher measures how
        // late it runs from it (valet.refresh.lag). PostgreSQL's claim returns it (claimed_due); SQLite's RETURNING sees
        // only the new row, so the same rows are read first, in the same (immediate, single-writer) transaction.
        var dues = Db.IsPostgres ? null : (await db.ReadAsync(Db, SqliteDueSql, args, transaction,
            r => (Id: r.Str("id"), Due: r.Time("next_refresh_at")), cancellationToken)).ToDictionary(d => d.Id, d => d.Due, StringComparer.Ordinal);
        var claimed = await db.ReadAsync(Db, Db.ClaimDueSql, args, transaction, r =>
        {
            var row = _rows.Map(r);
            return row with { NextRefreshAt = dues is null ? r.TimeOrNull("claimed_due") : dues.GetValueOrDefault(row.Id, row.NextRefreshAt ?? leaseUntil) };
        }, cancellationToken);
        await transaction.CommitAsync(cancellationToken);
        return claimed;
    }

    /// <summary>The rows SQLite's claim (<c>Db.ClaimDueSql</c>) takes, with the time each was due.</summary>
    private const string SqliteDueSql = """
        SELECT id, next_refresh_at FROM connections
        WHERE status = 'active' AND next_refresh_at IS NOT NULL AND next_refresh_at <= @Now
        ORDER BY next_refresh_at, id
        LIMIT @BatchSize
        """;
}
