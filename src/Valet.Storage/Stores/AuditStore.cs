using System.Text;
using System.Data.Common;
using Microsoft.Data.Sqlite;
using Npgsql;
using NpgsqlTypes;
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
    /// One event from elsewhere (a connection created, a refresh) or a batch. PostgreSQL: one event is one INSERT, sent
    /// asynchronously. Anything else goes through <see cref="AppendMany"/>, which blocks the calling thread for the batch
    /// (SQLite's ADO.NET calls are synchronous whatever their name anyway); batches come from the audit writer's own thread,
    /// and from tests.
    /// </summary>
    public async Task AppendManyAsync(IReadOnlyList<AuditEvent> auditEvents, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(auditEvents);
        if (auditEvents.Count != 1 || !Db.IsPostgres)
        {
            AppendMany(auditEvents);
            return;
        }

        await using var connection = await Db.OpenAsync(cancellationToken);
        await using var insert = PostgresInsert(connection, auditEvents[0]);
        await insert.ExecuteNonQueryAsync(cancellationToken);
    }

    /// <summary>
    /// A batch from the audit writer, on the writer's own thread and synchronous on purpose: with async I/O the COPY's
    /// continuations ran on the thread pool, beside the proxied calls (about 1 µs of their CPU per row on PostgreSQL),
    /// instead of on the writer's lower-priority thread. PostgreSQL: one event is one INSERT (one round trip, where a COPY
    /// takes two: under light load most batches are one event), more are one binary <c>COPY</c> (<see cref="Copy"/>).
    /// SQLite: one transaction, committed with <c>synchronous = NORMAL</c>. In WAL mode that keeps the database
    /// consistent and skips the fsync per commit; a power loss may drop the last batches, as a crash drops the writer's
    /// in-memory queue anyway (docs/proxy.md, Audit). Token writes keep the default FULL.
    /// </summary>
    public void AppendMany(IReadOnlyList<AuditEvent> auditEvents)
    {
        ArgumentNullException.ThrowIfNull(auditEvents);
        if (auditEvents.Count == 0)
        {
            return;
        }

        using var connection = Db.Open();
        if (Db.IsPostgres)
        {
            if (auditEvents.Count == 1)
            {
                using var insert = PostgresInsert(connection, auditEvents[0]);
                insert.ExecuteNonQuery();
                return;
            }

            Copy((NpgsqlConnection)connection, auditEvents);
            return;
        }

        SetSynchronous(connection, "NORMAL");
        try
        {
            using var transaction = connection.BeginTransaction();
            InsertSqlite((SqliteConnection)connection, auditEvents);
            transaction.Commit();
        }
        finally
        {
            // Pooled connections keep their pragmas: hand this one back with the default durability, or not at all.
            ResetSynchronous((SqliteConnection)connection);
        }
    }

    /// <summary>
    /// Back to <c>synchronous = FULL</c>. If that fails (the connection broke along with the batch), the pool is cleared:
    /// this connection is then discarded when it is closed instead of going back to a token write with NORMAL. The batch's
    /// own exception, if any, is the one that propagates.
    /// </summary>
    private static void ResetSynchronous(SqliteConnection connection)
    {
        try
        {
            SetSynchronous(connection, "FULL");
        }
        catch (SqliteException)
        {
            SqliteConnection.ClearPool(connection);
        }
    }

    /// <summary>
    /// PostgreSQL's bulk path: <c>COPY … FROM STDIN (FORMAT BINARY)</c>, one statement for the whole batch, atomic like the
    /// batch it replaced. The earlier <see cref="DbBatch"/> of one INSERT per event cost PostgreSQL about 76 µs of CPU per
    /// row (each statement parsed, planned and run on its own); COPY costs a fraction of that (<c>bench -- audit</c>,
    /// docs/performance.md), and every proxied call writes one row.
    /// <para>
    /// The rows are encoded here, in PostgreSQL's binary COPY format, and sent through Npgsql's raw binary COPY stream:
    /// Npgsql's typed importer resolved and bound a converter for each of the 13 values of every row: 6.4–6.7 µs of the
    /// bench process's CPU per row, against 2.7–2.9 µs this way (<c>bench -- audit --rows 300000</c>). The format is
    /// PostgreSQL's documented one (https://www.postgresql.org/docs/current/sql-copy.html, "Binary Format"); the columns'
    /// types are the table's (0001_initial.sql): text, integer, bigint, timestamptz. Text PostgreSQL cannot hold (U+0000,
    /// an unpaired surrogate) is replaced (<see cref="PgBinaryRows.WellFormed"/>). A row PostgreSQL still refuses throws
    /// from the stream's disposal (which sends CopyDone and reads the answer), the batch is rolled back as one, and the
    /// connection goes back to the pool usable.
    /// </para>
    /// </summary>
    private void Copy(NpgsqlConnection connection, IReadOnlyList<AuditEvent> auditEvents)
    {
        using var rows = new PgBinaryRows(auditEvents.Count * 256);
        foreach (var e in auditEvents)
        {
            rows.StartRow(Columns);
            rows.Text(e.OrgId);
            rows.Text(e.Kind);
            rows.Text(e.KeyId);
            rows.Text(e.ConnectionId);
            rows.Text(e.TargetId);
            rows.Text(e.Method);
            rows.Text(e.Path);
            rows.Integer(e.Status);
            rows.Bigint(e.DurationMs);
            rows.Bigint(e.BytesIn);
            rows.Bigint(e.BytesOut);
            rows.Text(e.Detail);
            rows.TimestampTz(OrNow(e.At));
        }

        using var copy = connection.BeginRawBinaryCopy(CopySql);
        copy.Write(rows.Finish());
    }

    private DbCommand PostgresInsert(DbConnection connection, AuditEvent auditEvent)
    {
        var insert = connection.CreateCommand();
        insert.CommandText = PositionalInsertSql;
        foreach (var value in Values(auditEvent))
        {
            var parameter = insert.CreateParameter();
            parameter.Value = value is string text ? PgBinaryRows.WellFormed(text) : value;
            insert.Parameters.Add(parameter);
        }

        return insert;
    }

    private const string CopySql =
        "COPY audit_events (org_id, kind, key_id, connection_id, target_id, method, path, status, duration_ms, bytes_in, bytes_out, detail, at) " +
        "FROM STDIN (FORMAT BINARY)";

    /// <summary>
    /// Every proxied call writes one row, so this is the hottest write Valet has: one statement prepared for the batch,
    /// bound by index straight through SQLitePCL (strings as UTF-16, no per-value binder or UTF-8 copy), stepped, reset.
    /// Microsoft.Data.Sqlite's parameter path allocated about 2 KB per row (docs/proxy.md, Benchmark).
    /// </summary>
    private void InsertSqlite(SqliteConnection connection, IReadOnlyList<AuditEvent> auditEvents)
    {
        var db = connection.Handle!;
        var utf8 = new byte[2048]; // one scratch buffer per batch for the UTF-8 of each text value (a path is at most 512 chars)

        // Whole chunks through one multi-row statement: SQLite runs one statement per chunk instead of one per event,
        // about a third less CPU per row (`bench -- audit --backend sqlite`); the rest one row at a time.
        var whole = auditEvents.Count / RowsPerChunk * RowsPerChunk;
        Insert(SqliteChunkInsertSql, RowsPerChunk, 0, whole);
        Insert(SqliteInsertSql, 1, whole, auditEvents.Count);

        // Events [from, to) through a statement of rowsPerStatement rows, prepared once.
        void Insert(string sql, int rowsPerStatement, int from, int to)
        {
            if (from == to)
            {
                return;
            }

            Check(raw.sqlite3_prepare_v2(db, sql, out var statement), db);
            using (statement)
            {
                for (var at = from; at < to; at += rowsPerStatement)
                {
                    Check(raw.sqlite3_reset(statement), db);
                    for (var row = 0; row < rowsPerStatement; row++)
                    {
                        Bind(statement, row * Columns, auditEvents[at + row]);
                    }

                    Step(statement, db);
                }
            }
        }

        void Bind(sqlite3_stmt statement, int offset, AuditEvent e)
        {
            Text(statement, offset + 1, utf8, e.OrgId);
            Text(statement, offset + 2, utf8, e.Kind);
            Text(statement, offset + 3, utf8, e.KeyId);
            Text(statement, offset + 4, utf8, e.ConnectionId);
            Text(statement, offset + 5, utf8, e.TargetId);
            Text(statement, offset + 6, utf8, e.Method);
            Text(statement, offset + 7, utf8, e.Path);
            Integer(statement, offset + 8, e.Status);
            Integer(statement, offset + 9, e.DurationMs);
            Integer(statement, offset + 10, e.BytesIn);
            Integer(statement, offset + 11, e.BytesOut);
            Text(statement, offset + 12, utf8, e.Detail);
            Integer(statement, offset + 13, OrNow(e.At).ToUnixTimeMilliseconds()); // what Db.Time stores on SQLite, unboxed
        }

        static void Step(sqlite3_stmt statement, sqlite3 db)
        {
            if (raw.sqlite3_step(statement) is var rc && rc != raw.SQLITE_DONE)
            {
                Check(rc, db);
            }
        }

        // As UTF-8, the database's encoding: bound as UTF-16, SQLite converted every value itself, slower than .NET does.
        // SQLite copies the bytes (SQLITE_TRANSIENT), so the scratch buffer is reused for the next value.
        static void Text(sqlite3_stmt statement, int index, byte[] scratch, string? value)
        {
            if (value is null)
            {
                _ = raw.sqlite3_bind_null(statement, index);
                return;
            }

            var buffer = Encoding.UTF8.GetMaxByteCount(value.Length) <= scratch.Length ? scratch : new byte[Encoding.UTF8.GetByteCount(value)];
            _ = raw.sqlite3_bind_text(statement, index, buffer.AsSpan(0, Encoding.UTF8.GetBytes(value, buffer)));
        }

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

    private object[] Values(AuditEvent e) =>
    [
        e.OrgId, e.Kind, (object?)e.KeyId ?? DBNull.Value, (object?)e.ConnectionId ?? DBNull.Value, (object?)e.TargetId ?? DBNull.Value,
        (object?)e.Method ?? DBNull.Value, (object?)e.Path ?? DBNull.Value, (object?)e.Status ?? DBNull.Value,
        (object?)e.DurationMs ?? DBNull.Value, (object?)e.BytesIn ?? DBNull.Value, (object?)e.BytesOut ?? DBNull.Value,
        (object?)e.Detail ?? DBNull.Value, Db.Time(OrNow(e.At)) ?? DBNull.Value,
    ];

    /// <summary>The same statement with SQLite's numbered parameters (<c>?1</c> … <c>?13</c>), bound by index.</summary>
    private static readonly string SqliteInsertSql = PositionalInsertSql.Replace('$', '?');

    private const short Columns = 13;
    private const int RowsPerChunk = 32;

    /// <summary>One INSERT of <see cref="RowsPerChunk"/> rows, parameters numbered in row order (?1…?13 the first row, ?14… the next).</summary>
    private static readonly string SqliteChunkInsertSql =
        PositionalInsertSql[..PositionalInsertSql.IndexOf("VALUES", StringComparison.Ordinal)] + "VALUES " + string.Join(", ",
            Enumerable.Range(0, RowsPerChunk).Select(row => "(" + string.Join(", ", Enumerable.Range(row * Columns + 1, Columns).Select(i => "?" + i)) + ")"));

    private static void SetSynchronous(DbConnection connection, string level)
    {
        using var pragma = connection.CreateCommand();
        pragma.CommandText = "PRAGMA synchronous = " + level;
        pragma.ExecuteNonQuery();
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
