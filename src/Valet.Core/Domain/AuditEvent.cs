namespace Valet.Core.Domain;

/// <summary>An audit record. Never holds headers, bodies, query values or secrets.</summary>
public sealed record AuditEvent
{
    public long Id { get; init; }
    public required string OrgId { get; init; }

    /// <summary>Dotted kind: <c>connection.created</c>, <c>connection.refresh_failed</c>, <c>proxy.request</c>, …</summary>
    public required string Kind { get; init; }

    public string? KeyId { get; init; }
    public string? ConnectionId { get; init; }
    public string? TargetId { get; init; }
    public string? Method { get; init; }
    public string? Path { get; init; }
    public int? Status { get; init; }
    public long? DurationMs { get; init; }
    public long? BytesIn { get; init; }
    public long? BytesOut { get; init; }

    /// <summary>Short machine detail (an error class), never provider prose or a secret.</summary>
    public string? Detail { get; init; }

    public DateTimeOffset At { get; init; }
}
