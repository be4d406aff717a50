using System.Data.Common;
using Microsoft.Data.Sqlite;
using Npgsql;

namespace Valet.Storage.Data;

/// <summary>
/// The seam between the two backends: how to open a connection, how a timestamp is stored, how a constraint
/// violation looks, and the few statements whose SQL differs. Everything else is shared SQL.
/// </summary>
internal abstract class Db : IAsyncDisposable
{
    public abstract bool IsPostgres { get; }

    /// <summary>Identifies the database inside this process (for in-process locks).</summary>
    public abstract string Identity { get; }

    public abstract ValueTask<DbConnection> OpenAsync(CancellationToken cancellationToken);

    /// <summary>
    /// <see cref="OpenAsync"/> for a thread of Valet's own that may block (the audit writer): a pooled connection opens
    /// without waiting, and a new one blocks only that thread.
    /// </summary>
    public DbConnection Open()
    {
        var opening = OpenAsync(CancellationToken.None);
        return opening.IsCompletedSuccessfully ? opening.Result : opening.AsTask().GetAwaiter().GetResult();
    }

    /// <summary>A timestamp as a parameter value: UTC, truncated to the millisecond.</summary>
    public abstract object? Time(DateTimeOffset? value);

    public abstract DateTimeOffset ReadTime(DbDataReader reader, int ordinal);

    /// <summary>A uniqueness or foreign-key violation.</summary>
    public abstract bool IsConflict(DbException exception);

    /// <summary>Row-lock suffix for a SELECT inside a transaction (SQLite's write transactions already exclude).</summary>
    public abstract string ForUpdate { get; }

    /// <summary>The first <paramref name="length"/> bytes of a blob column.</summary>
    public abstract string BlobPrefix(string column, int length);

    /// <summary>The larger of two SQL expressions (SQLite's scalar <c>max</c>, PostgreSQL's <c>GREATEST</c>).</summary>
    public abstract string Greatest(string a, string b);

    /// <summary>Claims due connections by moving next_refresh_at to @LeaseUntil; returns the claimed rows.</summary>
    public abstract string ClaimDueSql { get; }

    public virtual ValueTask DisposeAsync() => ValueTask.CompletedTask;

    public static DateTimeOffset Truncate(DateTimeOffset value) =>
        DateTimeOffset.FromUnixTimeMilliseconds(value.ToUnixTimeMilliseconds());
}

internal sealed class SqliteDb(DatabaseTarget target) : Db
{
    public override bool IsPostgres => false;

    public override string Identity { get; } = "sqlite:" + target.SqlitePath;

    public string ConnectionString => target.ConnectionString;

    public override async ValueTask<DbConnection> OpenAsync(CancellationToken cancellationToken)
    {
        var connection = new SqliteConnection(target.ConnectionString);
        try
        {
            await connection.OpenAsync(cancellationToken);
            using var pragma = connection.CreateCommand();
            // Per connection: wait for a writer instead of failing with SQLITE_BUSY; enforce foreign keys.
            pragma.CommandText = "PRAGMA busy_timeout = 10000; PRAGMA foreign_keys = ON;";
            await pragma.ExecuteNonQueryAsync(cancellationToken);
            return connection;
        }
        catch
        {
            await connection.DisposeAsync();
            throw;
        }
    }

    public override object? Time(DateTimeOffset? value) => value?.ToUnixTimeMilliseconds();

    public override DateTimeOffset ReadTime(DbDataReader reader, int ordinal) =>
        DateTimeOffset.FromUnixTimeMilliseconds(reader.GetInt64(ordinal));

    // SQLITE_CONSTRAINT, except NOT NULL (1299) and CHECK (275), which are bugs rather than conflicts. The extended
    // code of a foreign-key RESTRICT differs between statement and commit time, so it is not matched exactly.
    public override bool IsConflict(DbException exception) =>
        exception is SqliteException { SqliteErrorCode: 19 } sqlite && sqlite.SqliteExtendedErrorCode is not (1299 or 275);

    public override string ForUpdate => string.Empty;

    public override string BlobPrefix(string column, int length) => $"substr({column}, 1, {length})";

    public override string Greatest(string a, string b) => $"max({a}, {b})";

    public override string ClaimDueSql =>
        """
        UPDATE connections SET next_refresh_at = @LeaseUntil
        WHERE id IN (
            SELECT id FROM connections
            WHERE status = 'active' AND next_refresh_at IS NOT NULL AND next_refresh_at <= @Now
            ORDER BY next_refresh_at, id
            LIMIT @BatchSize)
        RETURNING *
        """;
}

internal sealed class PostgresDb(DatabaseTarget target) : Db
{
    private readonly NpgsqlDataSource _dataSource = NpgsqlDataSource.Create(target.ConnectionString);

    public override bool IsPostgres => true;

    public override string Identity => target.Description;

    public NpgsqlDataSource DataSource => _dataSource;

    /// <summary>Waits between attempts when the server refuses a connection for load; about 1.5 s in all.</summary>
    internal static readonly TimeSpan[] OverloadBackoff =
        [TimeSpan.FromMilliseconds(50), TimeSpan.FromMilliseconds(100), TimeSpan.FromMilliseconds(200), TimeSpan.FromMilliseconds(400), TimeSpan.FromMilliseconds(750)];

    /// <summary>
    /// A pooled connection. A server that refuses a new connection for load (53300 too many clients, 57P03 cannot
    /// connect now) usually has one free a moment later: retry briefly, with jitter so nodes do not retry in step,
    /// before letting the caller answer 503 <c>storage_unavailable</c>.
    /// </summary>
    public override async ValueTask<DbConnection> OpenAsync(CancellationToken cancellationToken)
    {
        for (var attempt = 0; ; attempt++)
        {
            try
            {
                return await _dataSource.OpenConnectionAsync(cancellationToken);
            }
            catch (PostgresException e) when (attempt < OverloadBackoff.Length && IsRefusedForLoad(e))
            {
                var wait = OverloadBackoff[attempt];
                await Task.Delay(wait + TimeSpan.FromMilliseconds(Random.Shared.Next(0, (int)wait.TotalMilliseconds / 2 + 1)), cancellationToken);
            }
        }
    }

    internal static bool IsRefusedForLoad(PostgresException e) =>
        e.SqlState is PostgresErrorCodes.TooManyConnections or PostgresErrorCodes.CannotConnectNow;

    public override object? Time(DateTimeOffset? value) => value is { } v ? Truncate(v).ToUniversalTime() : null;

    public override DateTimeOffset ReadTime(DbDataReader reader, int ordinal) => reader.GetFieldValue<DateTimeOffset>(ordinal);

    public override bool IsConflict(DbException exception) =>
        exception is PostgresException { SqlState: PostgresErrorCodes.UniqueViolation or PostgresErrorCodes.ForeignKeyViolation };

    public override string ForUpdate => " FOR UPDATE";

    public override string BlobPrefix(string column, int length) => $"substring({column} from 1 for {length})";

    public override string Greatest(string a, string b) => $"GREATEST({a}, {b})";

    public override string ClaimDueSql =>
        """
        WITH due AS (
            SELECT id, next_refresh_at AS claimed_due FROM connections
            WHERE status = 'active' AND next_refresh_at IS NOT NULL AND next_refresh_at <= @Now
            ORDER BY next_refresh_at, id
            LIMIT @BatchSize
            FOR UPDATE SKIP LOCKED)
        UPDATE connections AS c SET next_refresh_at = @LeaseUntil
        FROM due WHERE c.id = due.id
        RETURNING c.*, due.claimed_due
        """;

    public override async ValueTask DisposeAsync()
    {
        await _dataSource.DisposeAsync();
        await base.DisposeAsync();
    }
}
