using System.Data.Common;
using Microsoft.Data.Sqlite;
using SQLitePCL;
using Valet.Core.Domain;
using Valet.Core.Stores;
using Valet.Storage.Data;

namespace Valet.Storage.Stores;

internal sealed class AuditStore(Db db, TimeProvider time) : StoreBase(db, time), IAuditStore
{
    public Task AppendAsync(AuditEvent auditEvent, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(auditEvent);
        return AppendManyAsync([auditEvent], cancellationToken);
    }

    /// <summary>
    /// A batch from the audit writer (or one event from elsewhere). PostgreSQL: one round trip (<see cref="DbBatch"/>). SQLite: one transaction, one
    /// statement re-bound per event, committed with <c>synchronous = NORMAL</c>. In WAL mode that keeps the database
    /// consistent and skips the fsync per commit; a power loss may drop the last batches, as a crash drops the writer's
    /// in-memory queue anyway (docs/proxy.md, Audit). Token writes keep the default FULL.
    /// </summary>
    public async Task AppendManyAsync(IReadOnlyList<AuditEvent> auditEvents, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(auditEvents);
        if (auditEvents.Count == 0)
        {
            return;
        }

        await using var connection = await Db.OpenAsync(cancellationToken);
        if (Db.IsPostgres)
        {
            await using var batch = connection.CreateBatch();
            foreach (var auditEvent in auditEvents)
            {
                var command = batch.CreateBatchCommand();
                command.CommandText = PositionalInsertSql;
                foreach (var value in Values(auditEvent))
                {
                    var parameter = command.CreateParameter();
                    parameter.Value = value;
                    command.Parameters.Add(parameter);
                }

                batch.BatchCommands.Add(command);
            }

            await batch.ExecuteNonQueryAsync(cancellationToken);
            return;
        }

        await SetSynchronousAsync(connection, "NORMAL", cancellationToken);
        try
        {
            await using var transaction = await connection.BeginTransactionAsync(cancellationToken);
            InsertSqlite((SqliteConnection)connection, auditEvents);
            await transaction.CommitAsync(cancellationToken);
        }
        finally
        {
            // Pooled connections keep their pragmas: hand this one back with the default durability.
            await SetSynchronousAsync(connection, "FULL", CancellationToken.None);
        }
    }

    /// <summary>
    /// Every proxied call writes one row, so this is the hottest write Valet has: one statement prepared for the batch,
    /// bound by index straight through SQLitePCL (strings as UTF-16, no per-value binder or UTF-8 copy), stepped, reset.
    /// Microsoft.Data.Sqlite's parameter path allocated about 2 KB per row (docs/proxy.md, Benchmark).
    /// </summary>
    private void InsertSqlite(SqliteConnection connection, IReadOnlyList<AuditEvent> auditEvents)
    {
        var db = connection.Handle!;
        Check(raw.sqlite3_prepare_v2(db, SqliteInsertSql, out var statement), db);
        using (statement)
        {
            foreach (var e in auditEvents)
            {
                Check(raw.sqlite3_reset(statement), db);
                Text(statement, 1, e.OrgId);
                Text(statement, 2, e.Kind);
                Text(statement, 3, e.KeyId);
                Text(statement, 4, e.ConnectionId);
                Text(statement, 5, e.TargetId);
                Text(statement, 6, e.Method);
                Text(statement, 7, e.Path);
                Integer(statement, 8, e.Status);
                Integer(statement, 9, e.DurationMs);
                Integer(statement, 10, e.BytesIn);
                Integer(statement, 11, e.BytesOut);
                Text(statement, 12, e.Detail);
                Integer(statement, 13, (long?)Db.Time(OrNow(e.At)));
                if (raw.sqlite3_step(statement) is var rc && rc != raw.SQLITE_DONE)
                {
                    Check(rc, db);
                }
            }
        }

        static void Text(sqlite3_stmt statement, int index, string? value) => _ = value is null
            ? raw.sqlite3_bind_null(statement, index)
            : raw.sqlite3_bind_text16(statement, index, value.AsSpan());

        static void Integer(sqlite3_stmt statement, int index, long? value) => _ = value is { } v
            ? raw.sqlite3_bind_int64(statement, index, v)
            : raw.sqlite3_bind_null(statement, index);

        static void Check(int rc, sqlite3 db)
        {
            if (rc != raw.SQLITE_OK)
            {
                SqliteException.ThrowExceptionForRC(rc, db);
            }
        }
    }

    private const string PositionalInsertSql =
        """
        INSERT INTO audit_events (org_id, kind, key_id, connection_id, target_id, method, path, status, duration_ms,
            bytes_in, bytes_out, detail, at)
        VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)
        """;

    /// <summary>The same statement with SQLite's numbered parameters (<c>?1</c> … <c>?13</c>), bound by index.</summary>
    private static readonly string SqliteInsertSql = PositionalInsertSql.Replace('$', '?');

    private object[] Values(AuditEvent e) =>
    [
        e.OrgId, e.Kind, (object?)e.KeyId ?? DBNull.Value, (object?)e.ConnectionId ?? DBNull.Value, (object?)e.TargetId ?? DBNull.Value,
        (object?)e.Method ?? DBNull.Value, (object?)e.Path ?? DBNull.Value, (object?)e.Status ?? DBNull.Value,
        (object?)e.DurationMs ?? DBNull.Value, (object?)e.BytesIn ?? DBNull.Value, (object?)e.BytesOut ?? DBNull.Value,
        (object?)e.Detail ?? DBNull.Value, Db.Time(OrNow(e.At)) ?? DBNull.Value,
    ];

    private static async Task SetSynchronousAsync(DbConnection connection, string level, CancellationToken cancellationToken)
    {
        await using var pragma = connection.CreateCommand();
        pragma.CommandText = "PRAGMA synchronous = " + level;
        await pragma.ExecuteNonQueryAsync(cancellationToken);
    }

    public async Task<IReadOnlyList<AuditEvent>> ListAsync(string orgId, long? before, int limit, CancellationToken cancellationToken)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(limit);
        return await QueryAsync(
            "SELECT * FROM audit_events WHERE org_id = @orgId AND id < @before ORDER BY id DESC LIMIT @limit",
            new { orgId, before = before ?? long.MaxValue, limit }, Map, cancellationToken);
    }

    private static AuditEvent Map(Row r) => new()
    {
        Id = r.Long("id"),
        OrgId = r.Str("org_id"),
        Kind = r.Str("kind"),
        KeyId = r.StrOrNull("key_id"),
        ConnectionId = r.StrOrNull("connection_id"),
        TargetId = r.StrOrNull("target_id"),
        Method = r.StrOrNull("method"),
        Path = r.StrOrNull("path"),
        Status = r.IntOrNull("status"),
        DurationMs = r.LongOrNull("duration_ms"),
        BytesIn = r.LongOrNull("bytes_in"),
        BytesOut = r.LongOrNull("bytes_out"),
        Detail = r.StrOrNull("detail"),
        At = r.Time("at"),
    };
}
