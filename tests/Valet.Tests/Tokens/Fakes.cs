using System.Collections.Concurrent;
using System.Runtime.CompilerServices;
using Microsoft.Extensions.Options;
using Valet.Core.Domain;
using Valet.Core.OAuth;
using Valet.Core.Providers;
using Valet.Core.Stores;

namespace Valet.Tests.Tokens;

/// <summary>Connections in memory, with the version rule of the real stores and counters for the tests.</summary>
internal sealed class InMemoryConnectionStore : IConnectionStore
{
    private readonly Lock _gate = new();
    private readonly Dictionary<string, Connection> _rows = new(StringComparer.Ordinal);
    private int _reads;

    public int Reads => Volatile.Read(ref _reads);

    /// <summary>Thrown by the next <see cref="ClaimDueAsync"/> calls, one per call, while any are queued.</summary>
    public ConcurrentQueue<Exception> ClaimFailures { get; } = new();

    public int Claims;

    public Connection Put(Connection connection)
    {
        lock (_gate)
        {
            _rows[connection.Id] = connection;
            return connection;
        }
    }

    public Connection Get(string id)
    {
        lock (_gate)
        {
            return _rows[id];
        }
    }

    public Connection? TryGet(string id)
    {
        lock (_gate)
        {
            return _rows.GetValueOrDefault(id);
        }
    }

    public ValueTask<Connection?> FindAsync(string id, CancellationToken cancellationToken)
    {
        Interlocked.Increment(ref _reads);
        return ValueTask.FromResult(TryGet(id));
    }

    public ValueTask<Connection?> FindByAccountAsync(string orgId, string provider, string accountId, CancellationToken cancellationToken)
    {
        lock (_gate)
        {
            return ValueTask.FromResult(_rows.Values.FirstOrDefault(c => c.OrgId == orgId && c.Provider == provider && c.AccountId == accountId));
        }
    }

    public async IAsyncEnumerable<Connection> ListAsync(string orgId, [EnumeratorCancellation] CancellationToken cancellationToken)
    {
        await Task.Yield();
        List<Connection> rows;
        lock (_gate)
        {
            rows = _rows.Values.Where(c => c.OrgId == orgId).ToList();
        }

        foreach (var row in rows)
        {
            yield return row;
        }
    }

    public Task<(Connection Connection, bool Created)> UpsertAsync(Connection connection, CancellationToken cancellationToken)
    {
        lock (_gate)
        {
            var created = !_rows.ContainsKey(connection.Id);
            _rows[connection.Id] = connection with { Version = connection.Version + 1 };
            return Task.FromResult((_rows[connection.Id], created));
        }
    }

    public Task<Connection?> UpdateAsync(Connection connection, CancellationToken cancellationToken) =>
        Task.FromResult(TryWrite(connection));

    /// <summary>Writes when the stored version equals <c>connection.Version</c>; the stored version becomes Version + 1.</summary>
    public Connection? TryWrite(Connection connection)
    {
        lock (_gate)
        {
            if (!_rows.TryGetValue(connection.Id, out var stored) || stored.Version != connection.Version)
            {
                return null;
            }

            return _rows[connection.Id] = connection with { Version = connection.Version + 1 };
        }
    }

    public Task<bool> DeleteAsync(string id, CancellationToken cancellationToken)
    {
        lock (_gate)
        {
            return Task.FromResult(_rows.Remove(id));
        }
    }

    /// <summary>Returns the rows as they were before the claim (their original NextRefreshAt), like the real stores should.</summary>
    public Task<IReadOnlyList<Connection>> ClaimDueAsync(DateTimeOffset now, DateTimeOffset leaseUntil, int batchSize, CancellationToken cancellationToken)
    {
        Interlocked.Increment(ref Claims);
        if (ClaimFailures.TryDequeue(out var failure))
        {
            throw failure;
        }

        lock (_gate)
        {
            var due = _rows.Values
                .Where(c => c.Status == ConnectionStatus.Active && c.NextRefreshAt is { } at && at <= now)
                .OrderBy(c => c.NextRefreshAt)
                .Take(batchSize)
                .ToList();
            foreach (var c in due)
            {
                _rows[c.Id] = c with { NextRefreshAt = leaseUntil, Version = c.Version + 1 };
            }

            return Task.FromResult<IReadOnlyList<Connection>>(due);
        }
    }
}

/// <summary>
/// One exclusive lock per connection shared by every "node" that uses this instance, like a PostgreSQL row lock: waiting
/// really waits, the row is re-read after acquiring, and the commit writes then releases.
/// </summary>
internal sealed class FakeConnectionLocks(InMemoryConnectionStore store) : IConnectionLocks
{
    private readonly ConcurrentDictionary<string, SemaphoreSlim> _locks = new(StringComparer.Ordinal);
    private int _acquisitions;
    private int _waiting;

    public int Acquisitions => Volatile.Read(ref _acquisitions);

    public int Waiting => Volatile.Read(ref _waiting);

    /// <summary>Leases held right now.</summary>
    public int Held => Volatile.Read(ref _held);

    private int _held;

    /// <summary>Commits that fail (as a dropped database connection would) before one succeeds; -1: every one fails.</summary>
    public int FailingCommits { get; set; }

    /// <summary>Commits attempted, failed ones included.</summary>
    public int CommitAttempts => Volatile.Read(ref _commitAttempts);

    private int _commitAttempts;

    internal bool NextCommitFails()
    {
        Interlocked.Increment(ref _commitAttempts);
        lock (this)
        {
            if (FailingCommits == 0)
            {
                return false;
            }

            if (FailingCommits > 0)
            {
                FailingCommits--;
            }

            return true;
        }
    }

    public async Task<IConnectionLease?> AcquireAsync(string connectionId, CancellationToken cancellationToken)
    {
        var semaphore = _locks.GetOrAdd(connectionId, _ => new SemaphoreSlim(1, 1));
        Interlocked.Increment(ref _waiting);
        try
        {
            await semaphore.WaitAsync(cancellationToken);
        }
        finally
        {
            Interlocked.Decrement(ref _waiting);
        }

        Interlocked.Increment(ref _acquisitions);
        var row = store.TryGet(connectionId);
        if (row is null)
        {
            semaphore.Release();
            return null;
        }

        Interlocked.Increment(ref _held);
        return new Lease(this, store, semaphore, row, () => Interlocked.Decrement(ref _held));
    }

    private sealed class Lease(FakeConnectionLocks owner, InMemoryConnectionStore store, SemaphoreSlim semaphore, Connection connection, Action released)
        : IConnectionLease
    {
        private int _released;

        public Connection Connection { get; } = connection;

        public Task<Connection> CommitAsync(Connection updated, CancellationToken cancellationToken)
        {
            if (Volatile.Read(ref _released) != 0)
            {
                throw new InvalidOperationException("Lease already released.");
            }

            if (owner.NextCommitFails())
            {
                throw new System.IO.IOException("The database connection was lost (injected).");
            }

            // The row cannot have moved: we hold the lock. Write against the version read under it.
            var stored = store.TryWrite(updated with { Version = Connection.Version })
                ?? throw new InvalidOperationException("The row moved while the lock was held.");
            Release();
            return Task.FromResult(stored);
        }

        public ValueTask DisposeAsync()
        {
            Release();
            return ValueTask.CompletedTask;
        }

        private void Release()
        {
            if (Interlocked.Exchange(ref _released, 1) == 0)
            {
                released();
                semaphore.Release();
            }
        }
    }
}

/// <summary>Counts refresh calls; can be held at a gate, told to fail, or to hang until cancelled.</summary>
internal sealed class FakeOAuthClient : IOAuthClient
{
    private int _calls;
    private int _current;
    private int _maxConcurrent;

    public int Calls => Volatile.Read(ref _calls);

    public int MaxConcurrent => Volatile.Read(ref _maxConcurrent);

    public int Current => Volatile.Read(ref _current);

    /// <summary>Refresh tokens presented, in order.</summary>
    public ConcurrentQueue<string> RefreshTokensSeen { get; } = new();

    public ConcurrentQueue<ClientCredentials> ClientsSeen { get; } = new();

    /// <summary>When set, every call waits for it (honouring cancellation) before answering.</summary>
    public TaskCompletionSource? Gate { get; set; }

    /// <summary>Completed when a call starts.</summary>
    public TaskCompletionSource Started { get; private set; } = NewSignal();

    /// <summary>(call number from 1, refresh token, cancellation) → answer. Default: a new access token for an hour, no refresh token.</summary>
    public Func<int, string, CancellationToken, Task<TokenResult>> Handler { get; set; } = (n, _, _) => Task.FromResult(Ok(n));

    public static TaskCompletionSource NewSignal() => new(TaskCreationOptions.RunContinuationsAsynchronously);

    public static TokenResult Ok(int n, string? refreshToken = null, long? expiresIn = 3600, IReadOnlyList<string>? scopes = null) =>
        TokenResult.Success(new TokenSet
        {
            AccessToken = new Secret($"at-{n}"),
            RefreshToken = refreshToken is null ? null : new Secret(refreshToken),
            ExpiresIn = expiresIn,
            Scopes = scopes,
        });

    public static TokenResult Fail(TokenErrorKind kind, TimeSpan? retryAfter = null) =>
        TokenResult.Failure(new TokenError(kind, kind.ToString().ToLowerInvariant(), retryAfter));

    public void ResetStarted() => Started = NewSignal();

    /// <summary>Counted and answered like a refresh; the "refresh token" seen is <c>client_credentials</c>.</summary>
    public Task<TokenResult> ClientCredentialsAsync(ProviderDefinition provider, ClientCredentials client, IReadOnlyList<string> scopes,
        CancellationToken cancellationToken) => RefreshAsync(provider, client, "client_credentials", cancellationToken);

    public async Task<TokenResult> RefreshAsync(ProviderDefinition provider, ClientCredentials client, string refreshToken, CancellationToken cancellationToken)
    {
        var n = Interlocked.Increment(ref _calls);
        var now = Interlocked.Increment(ref _current);
        InterlockedMax(ref _maxConcurrent, now);
        RefreshTokensSeen.Enqueue(refreshToken);
        ClientsSeen.Enqueue(client);
        try
        {
            Started.TrySetResult();
            if (Gate is { } gate)
            {
                await gate.Task.WaitAsync(cancellationToken);
            }

            return await Handler(n, refreshToken, cancellationToken);
        }
        finally
        {
            Interlocked.Decrement(ref _current);
        }
    }

    private static void InterlockedMax(ref int target, int value)
    {
        int seen;
        while ((seen = Volatile.Read(ref target)) < value && Interlocked.CompareExchange(ref target, value, seen) != seen)
        {
        }
    }

    public Uri BuildAuthorizationUrl(ProviderDefinition provider, AuthorizationRequest request) => throw new NotSupportedException();

    public Task<TokenResult> ExchangeCodeAsync(ProviderDefinition provider, ClientCredentials client, string code, string redirectUri,
        string codeVerifier, CancellationToken cancellationToken) => throw new NotSupportedException();

    public Task<bool> RevokeAsync(ProviderDefinition provider, ClientCredentials client, string token, string tokenTypeHint,
        CancellationToken cancellationToken) => throw new NotSupportedException();

    public Task<AccountIdentity?> GetIdentityAsync(ProviderDefinition provider, TokenSet tokens, CancellationToken cancellationToken) =>
        throw new NotSupportedException();
}

/// <summary>Orgs as the refresh engine reads them (is it headless?).</summary>
internal sealed class FakeOrgStore : IOrgStore
{
    private readonly ConcurrentDictionary<string, Org> _rows = new(StringComparer.Ordinal);

    public Task CreateAsync(Org org, CancellationToken cancellationToken)
    {
        _rows[org.Id] = org;
        return Task.CompletedTask;
    }

    public Task EnsureAsync(Org org, CancellationToken cancellationToken)
    {
        _rows.TryAdd(org.Id, org);
        return Task.CompletedTask;
    }

    public ValueTask<Org?> FindAsync(string id, CancellationToken cancellationToken) => ValueTask.FromResult(_rows.GetValueOrDefault(id));

    public IAsyncEnumerable<Org> ListAsync(CancellationToken cancellationToken) => _rows.Values.ToAsyncEnumerable();

    public Task<Org?> SetHeadlessAsync(string id, bool headless, CancellationToken cancellationToken) =>
        Task.FromResult(_rows.TryGetValue(id, out var org) ? _rows[id] = org with { Headless = headless } : null);

    public Task SetDefaultConnectionAsync(string orgId, string provider, string connectionId, CancellationToken cancellationToken) =>
        throw new NotSupportedException();

    public ValueTask<string?> FindDefaultConnectionAsync(string orgId, string provider, CancellationToken cancellationToken) =>
        throw new NotSupportedException();
}

internal sealed class FakeCredentialStore : ICredentialStore
{
    private readonly ConcurrentDictionary<string, Credential> _rows = new(StringComparer.Ordinal);

    public Task CreateAsync(Credential credential, CancellationToken cancellationToken)
    {
        _rows[credential.Id] = credential;
        return Task.CompletedTask;
    }

    /// <summary>Set by a test: is a connection lease held right now? Reads made while it is are counted.</summary>
    public Func<bool>? LeaseHeld { get; set; }

    public int ReadsUnderLease => Volatile.Read(ref _readsUnderLease);

    private int _readsUnderLease;

    public ValueTask<Credential?> FindAsync(string id, CancellationToken cancellationToken)
    {
        if (LeaseHeld?.Invoke() == true)
        {
            Interlocked.Increment(ref _readsUnderLease);
        }

        return ValueTask.FromResult(_rows.GetValueOrDefault(id));
    }

    public async IAsyncEnumerable<Credential> ListAsync(string orgId, [EnumeratorCancellation] CancellationToken cancellationToken)
    {
        await Task.Yield();
        foreach (var row in _rows.Values.Where(c => c.OrgId == orgId))
        {
            yield return row;
        }
    }

    public Task<bool> DeleteAsync(string id, CancellationToken cancellationToken) => Task.FromResult(_rows.TryRemove(id, out _));
}

internal sealed class FakeAuditStore : IAuditStore
{
    public ConcurrentQueue<AuditEvent> Events { get; } = new();

    public Task AppendAsync(AuditEvent auditEvent, CancellationToken cancellationToken)
    {
        Events.Enqueue(auditEvent);
        return Task.CompletedTask;
    }

    public Task<IReadOnlyList<AuditEvent>> ListAsync(string orgId, long? before, int limit, CancellationToken cancellationToken) =>
        Task.FromResult<IReadOnlyList<AuditEvent>>(Events.Where(e => e.OrgId == orgId).Reverse().Take(limit).ToList());
}

internal sealed class FakeCatalog(params ProviderDefinition[] providers) : IProviderCatalog
{
    public ProviderDefinition? Find(string id) => providers.FirstOrDefault(p => p.Id == id);

    public IReadOnlyCollection<ProviderDefinition> All => providers;
}

internal sealed class StaticOptionsMonitor<T>(T value) : IOptionsMonitor<T>
{
    public T CurrentValue => value;

    public T Get(string? name) => value;

    public IDisposable? OnChange(Action<T, string?> listener) => null;
}
