using Valet.Core.Domain;

namespace Valet.Core.Stores;

/// <summary>A uniqueness or optimistic-concurrency conflict, translated from whatever the backend raised.</summary>
public sealed class StoreConflictException(string message, Exception? inner = null) : Exception(message, inner);

public interface IOrgStore
{
    /// <summary>Creates the org; throws <see cref="StoreConflictException"/> when the id exists.</summary>
    Task CreateAsync(Org org, CancellationToken cancellationToken);

    /// <summary>Creates the org unless it exists (used for <c>default</c> at boot, from several nodes at once).</summary>
    Task EnsureAsync(Org org, CancellationToken cancellationToken);

    ValueTask<Org?> FindAsync(string id, CancellationToken cancellationToken);

    IAsyncEnumerable<Org> ListAsync(CancellationToken cancellationToken);

    /// <summary>Returns the updated org, or null when unknown.</summary>
    Task<Org?> SetHeadlessAsync(string id, bool headless, CancellationToken cancellationToken);

    Task SetDefaultConnectionAsync(string orgId, string provider, string connectionId, CancellationToken cancellationToken);

    ValueTask<string?> FindDefaultConnectionAsync(string orgId, string provider, CancellationToken cancellationToken);
}

public interface ICredentialStore
{
    Task CreateAsync(Credential credential, CancellationToken cancellationToken);

    ValueTask<Credential?> FindAsync(string id, CancellationToken cancellationToken);

    IAsyncEnumerable<Credential> ListAsync(string orgId, CancellationToken cancellationToken);

    Task<bool> DeleteAsync(string id, CancellationToken cancellationToken);
}

public interface IConnectionStore
{
    ValueTask<Connection?> FindAsync(string id, CancellationToken cancellationToken);

    ValueTask<Connection?> FindByAccountAsync(string orgId, string provider, string accountId, CancellationToken cancellationToken);

    IAsyncEnumerable<Connection> ListAsync(string orgId, CancellationToken cancellationToken);

    /// <summary>
    /// Inserts, or updates the row with the same (org, provider, account id) keeping its id and created_at.
    /// Returns the stored row (with its id and version) and whether it was created.
    /// </summary>
    Task<(Connection Connection, bool Created)> UpsertAsync(Connection connection, CancellationToken cancellationToken);

    /// <summary>
    /// <see cref="UpsertAsync"/> that also makes the stored row the org's default connection for its provider, in the same
    /// transaction (a dashboard sign-in through a provider). Stores that cannot do both atomically do not offer it.
    /// </summary>
    Task<(Connection Connection, bool Created)> UpsertAsDefaultAsync(Connection connection, CancellationToken cancellationToken) =>
        throw new NotSupportedException("This connection store cannot upsert and set the default in one transaction.");

    /// <summary>
    /// Writes every mutable column when the stored version equals <c>connection.Version</c>; the stored version becomes
    /// <c>Version + 1</c>. Returns the stored row, or null when the version moved or the row is gone.
    /// </summary>
    Task<Connection?> UpdateAsync(Connection connection, CancellationToken cancellationToken);

    /// <summary>Deletes the connection and, in the same transaction, its managed targets and default pointers.</summary>
    Task<bool> DeleteAsync(string id, CancellationToken cancellationToken);

    /// <summary>
    /// Claims up to <paramref name="batchSize"/> active connections whose <c>NextRefreshAt</c> is at or before
    /// <paramref name="now"/>, moving their <c>NextRefreshAt</c> to <paramref name="leaseUntil"/> so no other node
    /// claims them meanwhile (PostgreSQL: <c>FOR UPDATE SKIP LOCKED</c>). Each is returned with the <c>NextRefreshAt</c>
    /// it was due at (not the lease), so the caller can tell how late it is.
    /// </summary>
    Task<IReadOnlyList<Connection>> ClaimDueAsync(DateTimeOffset now, DateTimeOffset leaseUntil, int batchSize, CancellationToken cancellationToken);
}

/// <summary>
/// Exclusive hold on one connection for the duration of a refresh. PostgreSQL: a row lock (<c>SELECT … FOR UPDATE</c>)
/// in a transaction held across the provider call, so every node is excluded; SQLite: an in-process lock. The
/// connection is re-read after the lock is taken.
/// </summary>
public interface IConnectionLocks
{
    /// <summary>Waits for the lock; null when the connection no longer exists.</summary>
    Task<IConnectionLease?> AcquireAsync(string connectionId, CancellationToken cancellationToken);
}

public interface IConnectionLease : IAsyncDisposable
{
    /// <summary>The connection as stored, read after the lock was taken.</summary>
    Connection Connection { get; }

    /// <summary>
    /// Stores <paramref name="updated"/> (version + 1) in the transaction that holds the lock, then releases it. Throws
    /// <see cref="ConnectionReplacedException"/> when the grant was replaced or the row deleted meanwhile (SQLite only:
    /// PostgreSQL's row lock makes those writers wait).
    /// </summary>
    Task<Connection> CommitAsync(Connection updated, CancellationToken cancellationToken);
}

/// <summary>
/// A refresh's result belongs to a grant that is no longer the connection's: a reconnect or an import stored a new one
/// (another refresh token, another client), or the connection was deleted, while the lease was held. The result is
/// dropped; <see cref="Current"/> is the row as it is now, null when deleted.
/// </summary>
public sealed class ConnectionReplacedException(string connectionId, Connection? current)
    : Exception($"The connection '{connectionId}' was {(current is null ? "deleted" : "given a new grant")} while it was being refreshed.")
{
    public string ConnectionId { get; } = connectionId;

    public Connection? Current { get; } = current;
}

public interface IFlowStore
{
    /// <summary>Inserts the flow; also sweeps flows expired before <c>flow.CreatedAt</c> (swept on write).</summary>
    Task CreateAsync(Flow flow, CancellationToken cancellationToken);

    /// <summary>
    /// Finds by id; a pending or exchanging flow past its expiry is reported (and stored) as <see cref="FlowStatus.Expired"/>
    /// (an exchanging flow's expiry already covers its exchange, see <see cref="TryConsumeAsync"/>).
    /// </summary>
    ValueTask<Flow?> FindAsync(string id, DateTimeOffset now, CancellationToken cancellationToken);

    /// <summary>Finds by state hash, with the same expiry rule as <see cref="FindAsync"/>.</summary>
    ValueTask<Flow?> FindByStateAsync(string stateHash, DateTimeOffset now, CancellationToken cancellationToken);

    /// <summary>
    /// Atomically moves a pending, unexpired flow with this state hash to <see cref="FlowStatus.Exchanging"/> and returns
    /// it; null when there is none (unknown, replayed or expired). The state is single use. The flow's expiry becomes at
    /// least <paramref name="exchangeDeadline"/>, the end of its exchange window, so a flow left exchanging by a crash
    /// is expired like a pending one once that window is over.
    /// </summary>
    Task<Flow?> TryConsumeAsync(string stateHash, DateTimeOffset now, DateTimeOffset exchangeDeadline, CancellationToken cancellationToken);

    /// <summary>
    /// Arms a pending or expired flow again with a fresh state, verifier, redirect URI and expiry (the gated connect link
    /// of an envelope). Returns false when the flow is finished or gone.
    /// </summary>
    Task<bool> RearmAsync(string id, string stateHash, Secret codeVerifier, string redirectUri, DateTimeOffset expiresAt, CancellationToken cancellationToken);

    Task CompleteAsync(string id, string connectionId, IReadOnlyList<string> grantedScopes, DateTimeOffset now, CancellationToken cancellationToken);

    Task FailAsync(string id, string error, DateTimeOffset now, CancellationToken cancellationToken);

    /// <summary>
    /// Pending flows of <paramref name="orgId"/> that have not expired at <paramref name="now"/>: dashboard sign-ins when
    /// <paramref name="signIn"/>, every other flow otherwise (each kind has its own cap, so one cannot crowd out the other).
    /// </summary>
    Task<int> CountPendingAsync(string orgId, bool signIn, DateTimeOffset now, CancellationToken cancellationToken);

    /// <summary>
    /// The flow for <c>candidate.EnvelopeKey</c>: the pending one if it has not expired (no write); else the expired or
    /// lapsed one, given a new expiry (its state was never revealed); else <paramref name="candidate"/>, inserted — unless
    /// the org already has <paramref name="maxPending"/> pending flows (then null). Racing callers, on any node, end with
    /// the same row. <c>Created</c> says whether a row was inserted.
    /// </summary>
    Task<(Flow? Flow, bool Created)> FindOrCreateEnvelopeFlowAsync(Flow candidate, int maxPending, DateTimeOffset now, CancellationToken cancellationToken);

    /// <summary>Marks pending and exchanging flows past expiry as expired and deletes finished ones older than a day. Returns rows touched.</summary>
    Task<int> SweepAsync(DateTimeOffset now, CancellationToken cancellationToken);
}

public interface IApiKeyStore
{
    Task CreateAsync(ApiKey key, CancellationToken cancellationToken);

    /// <summary>Hot path of every agent request.</summary>
    ValueTask<ApiKey?> FindByPrefixAsync(string prefix, CancellationToken cancellationToken);

    /// <summary>
    /// The key row this node holds in memory for <paramref name="prefix"/>, without reading the database; null when none
    /// is cached (or the store does not cache). Used while an address is locked out, when no database read may be spent.
    /// </summary>
    ApiKey? FindCachedByPrefix(string prefix) => null;

    ValueTask<ApiKey?> FindAsync(string id, CancellationToken cancellationToken);

    IAsyncEnumerable<ApiKey> ListAsync(string orgId, CancellationToken cancellationToken);

    Task<ApiKey?> SetPermissionsAsync(string id, IReadOnlyList<Permission> permissions, CancellationToken cancellationToken);

    Task<bool> DeleteAsync(string id, CancellationToken cancellationToken);

    /// <summary>
    /// Records that key <paramref name="id"/> was used at <paramref name="at"/> (its <see cref="ApiKey.LastUsedAt"/>);
    /// never moves the stamp back, and does nothing for a key that no longer exists. Not a change of the key: no cache
    /// is invalidated.
    /// </summary>
    Task RecordUseAsync(string id, DateTimeOffset at, CancellationToken cancellationToken);
}

public interface ITargetStore
{
    Task CreateAsync(Target target, CancellationToken cancellationToken);

    ValueTask<Target?> FindAsync(string id, CancellationToken cancellationToken);

    IAsyncEnumerable<Target> ListAsync(string orgId, CancellationToken cancellationToken);

    IAsyncEnumerable<Target> ListByConnectionAsync(string connectionId, CancellationToken cancellationToken);

    Task<bool> DeleteAsync(string id, CancellationToken cancellationToken);
}

public interface IAuditStore
{
    Task AppendAsync(AuditEvent auditEvent, CancellationToken cancellationToken);

    /// <summary>Appends several events in one transaction (the proxy's audit writer batches under load).</summary>
    async Task AppendManyAsync(IReadOnlyList<AuditEvent> auditEvents, CancellationToken cancellationToken)
    {
        foreach (var auditEvent in auditEvents)
        {
            await AppendAsync(auditEvent, cancellationToken);
        }
    }

    /// <summary>
    /// <see cref="AppendManyAsync"/> for the audit writer's own thread, which blocks on it: a store that can do its I/O
    /// synchronously keeps the whole batch on that thread instead of the thread pool's.
    /// </summary>
    void AppendMany(IReadOnlyList<AuditEvent> auditEvents) => AppendManyAsync(auditEvents, CancellationToken.None).GetAwaiter().GetResult();

    /// <summary>Newest first; <paramref name="before"/> is the id to page from (exclusive).</summary>
    Task<IReadOnlyList<AuditEvent>> ListAsync(string orgId, long? before, int limit, CancellationToken cancellationToken);
}

/// <summary>Progress of <c>valet vault rotate</c>.</summary>
public sealed record RotationProgress(string Table, string Column, long Done, long Remaining);

/// <summary>Whole-database operations on sealed columns: key check at boot, re-encryption under the current key.</summary>
public interface IVaultMaintenance
{
    /// <summary>
    /// Verifies the key-check value (writing it on a fresh database). Throws <see cref="Vault.VaultKeyMismatchException"/>
    /// when no configured key opens it.
    /// </summary>
    Task VerifyKeyAsync(CancellationToken cancellationToken);

    /// <summary>
    /// Re-encrypts every sealed value not under the current key, in small committed batches, so an interrupted run
    /// resumes where it stopped. Returns the number of values re-encrypted.
    /// </summary>
    Task<long> RotateAsync(IProgress<RotationProgress>? progress, CancellationToken cancellationToken);

    /// <summary>How many sealed values are not yet under the current key.</summary>
    Task<long> CountStaleAsync(CancellationToken cancellationToken);
}
