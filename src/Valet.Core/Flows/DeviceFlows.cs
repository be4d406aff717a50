using Valet.Core.Domain;

namespace Valet.Core.Flows;

public enum DeviceFlowStatus
{
    Pending,

    /// <summary>The code was approved and the grant is being stored: no longer cancellable (shown as pending).</summary>
    Completing,
    Complete,
    Error,
    Expired,
}

/// <summary>
/// One device authorization (RFC 8628): the person enters <see cref="UserCode"/> at <see cref="VerificationUri"/>
/// while Valet polls the token endpoint with the sealed <see cref="DeviceCode"/>. Stored, so any node can poll and finish it.
/// </summary>
public sealed record DeviceFlow
{
    public required string Id { get; init; }

    /// <summary>SHA-256 of the handle the CLI polls with (the handle itself is never stored).</summary>
    public required string HandleHash { get; init; }

    public required string OrgId { get; init; }
    public required string Provider { get; init; }
    public string? CredentialId { get; init; }
    public IReadOnlyList<string>? Scopes { get; init; }
    public required Secret DeviceCode { get; init; }
    public required string UserCode { get; init; }
    public required string VerificationUri { get; init; }
    public string? VerificationUriComplete { get; init; }

    /// <summary>Seconds between polls; <c>slow_down</c> adds five (RFC 8628 §3.5).</summary>
    public int IntervalSeconds { get; init; }

    public DateTimeOffset NextPollAt { get; init; }
    public DateTimeOffset ExpiresAt { get; init; }
    public DeviceFlowStatus Status { get; init; }
    public string? ConnectionId { get; init; }
    public string? Error { get; init; }
    public DateTimeOffset CreatedAt { get; init; }
    public DateTimeOffset UpdatedAt { get; init; }
}

public interface IDeviceFlowStore
{
    Task CreateAsync(DeviceFlow flow, CancellationToken cancellationToken);

    ValueTask<DeviceFlow?> FindByHandleAsync(string handleHash, CancellationToken cancellationToken);

    /// <summary>Pending flows whose next poll is due at <paramref name="now"/> (at most <paramref name="limit"/>).</summary>
    Task<IReadOnlyList<DeviceFlow>> ListDueAsync(DateTimeOffset now, int limit, CancellationToken cancellationToken);

    /// <summary>
    /// Takes the poll of <paramref name="flow"/>: moves its <c>next_poll_at</c> to <paramref name="leaseUntil"/> if it is
    /// still pending at the value read. True when this caller won (no other node polls it meanwhile).
    /// </summary>
    Task<bool> TryClaimAsync(DeviceFlow flow, DateTimeOffset leaseUntil, CancellationToken cancellationToken);

    /// <summary>After a poll: the interval and the next poll time (still pending).</summary>
    Task ScheduleAsync(string id, int intervalSeconds, DateTimeOffset nextPollAt, CancellationToken cancellationToken);

    /// <summary>
    /// The poll that got the tokens claims the flow for storing them: pending → completing, atomically. False when it was
    /// no longer pending (cancelled meanwhile): nothing may be stored.
    /// </summary>
    Task<bool> TryStartCompletingAsync(string id, CancellationToken cancellationToken);

    /// <summary>The CLI gave up: pending → error <c>cancelled</c>, atomically. False when the flow was no longer pending.</summary>
    Task<bool> TryCancelAsync(string id, CancellationToken cancellationToken);

    /// <summary>The flow ends (from pending or completing): complete (with the connection), error or expired.</summary>
    Task FinishAsync(string id, DeviceFlowStatus status, string? connectionId, string? error, CancellationToken cancellationToken);
}
