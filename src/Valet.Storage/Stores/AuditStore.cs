using Valet.Core.Domain;
using Valet.Core.Stores;
using Valet.Storage.Data;

namespace Valet.Storage.Stores;

internal sealed class AuditStore(Db db, TimeProvider time) : StoreBase(db, time), IAuditStore
{
    private const string InsertSql =
        """
        INSERT INTO audit_events (org_id, kind, key_id, connection_id, target_id, method, path, status, duration_ms,
            bytes_in, bytes_out, detail, at)
        VALUES (@OrgId, @Kind, @KeyId, @ConnectionId, @TargetId, @Method, @Path, @Status, @DurationMs,
            @BytesIn, @BytesOut, @Detail, @At)
        """;

    public Task AppendAsync(AuditEvent auditEvent, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(auditEvent);
        return ExecAsync(InsertSql, Args(auditEvent), cancellationToken);
    }

    public async Task AppendManyAsync(IReadOnlyList<AuditEvent> auditEvents, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(auditEvents);
        if (auditEvents.Count == 0)
        {
            return;
        }

        await using var connection = await Db.OpenAsync(cancellationToken);
        await using var transaction = await connection.BeginTransactionAsync(cancellationToken);
        foreach (var auditEvent in auditEvents)
        {
            await connection.ExecAsync(InsertSql, Args(auditEvent), transaction, cancellationToken);
        }

        await transaction.CommitAsync(cancellationToken);
    }

    private object Args(AuditEvent auditEvent) => new
    {
        auditEvent.OrgId,
        auditEvent.Kind,
        auditEvent.KeyId,
        auditEvent.ConnectionId,
        auditEvent.TargetId,
        auditEvent.Method,
        auditEvent.Path,
        auditEvent.Status,
        auditEvent.DurationMs,
        auditEvent.BytesIn,
        auditEvent.BytesOut,
        auditEvent.Detail,
        At = Db.Time(OrNow(auditEvent.At)),
    };

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
