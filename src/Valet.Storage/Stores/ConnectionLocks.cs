using System.Data.Common;
using Valet.Core.Domain;
using Valet.Core.Stores;
using Valet.Core.Vault;
using Valet.Storage.Data;

namespace Valet.Storage.Stores;

/// <summary>
/// PostgreSQL: <c>SELECT … FOR UPDATE</c> in a transaction that the lease keeps open across the provider call, so
/// every node waits on the same row lock; <see cref="IConnectionLease.CommitAsync"/> writes the new tokens and
/// commits in that transaction, which is what releases the lock.
/// </summary>
internal sealed class PostgresConnectionLocks(Db db, IVault vault, TimeProvider time, TimeSpan idleLimit) : IConnectionLocks
{
    private readonly ConnectionRows _rows = new(db, vault);

    private DateTimeOffset Now() => Db.Truncate(time.GetUtcNow());

    public async Task<IConnectionLease?> AcquireAsync(string connectionId, CancellationToken cancellationToken)
    {
        var connection = await db.OpenAsync(cancellationToken);
        DbTransaction? transaction = null;
        try
        {
            transaction = await connection.BeginTransactionAsync(cancellationToken);

            // The row lock lives as long as this transaction. A holder that stops without its socket closing (frozen by a
            // GC pause, SIGSTOP or a VM pause, or cut off behind a NAT) would keep it until TCP gives up, hours later, and
            // every other node's refresh of the connection would time out meanwhile. PostgreSQL ends a transaction idle
            // past this limit (the provider call is the only idle time); a holder that comes back finds its commit
            // refused and stores the answer under a new lease (RefreshCoordinator's commit retry).
            await using (var limit = connection.CreateCommand())
            {
                limit.Transaction = transaction;
                limit.CommandText = $"SET LOCAL idle_in_transaction_session_timeout = {(long)idleLimit.TotalMilliseconds}";
                await limit.ExecuteNonQueryAsync(cancellationToken);
            }

            var current = await _rows.ReadAsync(connection, transaction, connectionId, forUpdate: true, cancellationToken);
            if (current is null)
            {
                await transaction.RollbackAsync(cancellationToken);
                await transaction.DisposeAsync();
                await connection.DisposeAsync();
                return null;
            }

            return new Lease(this, connection, transaction, current);
        }
        catch
        {
            if (transaction is not null)
            {
                await transaction.DisposeAsync();
            }

            await connection.DisposeAsync();
            throw;
        }
    }

    private sealed class Lease(PostgresConnectionLocks owner, DbConnection connection, DbTransaction transaction, Connection current) : IConnectionLease
    {
        private bool _done;

        public Connection Connection { get; } = current;

        public async Task<Connection> CommitAsync(Connection updated, CancellationToken cancellationToken)
        {
            ArgumentNullException.ThrowIfNull(updated);
            ObjectDisposedException.ThrowIf(_done, this);
            var now = owner.Now();
            var stored = await owner._rows.WriteLockedAsync(connection, transaction, updated with { Id = Connection.Id }, now, cancellationToken)
                ?? throw new InvalidOperationException("The locked connection row disappeared.");
            await transaction.CommitAsync(cancellationToken);
            await DisposeAsync();
            return stored;
        }

        public async ValueTask DisposeAsync()
        {
            if (_done)
            {
                return;
            }

            _done = true;
            await transaction.DisposeAsync(); // rolls back when not committed: the lock goes with it
            await connection.DisposeAsync();
        }
    }
}

/// <summary>
/// SQLite serves one process (local mode): an in-process async lock per (database, connection id) gives the same
/// exclusion without holding a write transaction, which in SQLite would block every writer during the provider call.
/// </summary>
internal sealed class SqliteConnectionLocks(Db db, IVault vault, TimeProvider time) : IConnectionLocks
{
    /// <summary>Shared by every store instance in the process, keyed by database file, so two instances still exclude.</summary>
    internal static readonly KeyedAsyncLock Locks = new();

    private readonly ConnectionRows _rows = new(db, vault);

    private DateTimeOffset Now() => Db.Truncate(time.GetUtcNow());

    private ValueTask<DbConnection> OpenAsync(CancellationToken cancellationToken) => db.OpenAsync(cancellationToken);

    public async Task<IConnectionLease?> AcquireAsync(string connectionId, CancellationToken cancellationToken)
    {
        var held = await Locks.AcquireAsync(db.Identity + "\n" + connectionId, cancellationToken);
        try
        {
            Connection? current;
            await using (var connection = await db.OpenAsync(cancellationToken))
            {
                current = await _rows.ReadAsync(connection, null, connectionId, forUpdate: false, cancellationToken);
            }

            if (current is null)
            {
                held.Dispose();
                return null;
            }

            return new Lease(this, held, current);
        }
        catch
        {
            held.Dispose();
            throw;
        }
    }

    private sealed class Lease(SqliteConnectionLocks owner, IDisposable held, Connection current) : IConnectionLease
    {
        private bool _done;

        public Connection Connection { get; } = current;

        public async Task<Connection> CommitAsync(Connection updated, CancellationToken cancellationToken)
        {
            ArgumentNullException.ThrowIfNull(updated);
            ObjectDisposedException.ThrowIf(_done, this);
            try
            {
                // The lock here is in-process and only refreshes take it: a reconnect, an import or a delete does not wait.
                // So the write is guarded by the version read under the lock, and a miss is looked at: a row whose tokens or
                // client changed holds a newer grant (every grant write changes the access token), which wins — this result
                // belongs to the old one (except a rotated refresh token the newer grant would otherwise lose); a row that
                // changed otherwise (the refresher's schedule) is written over, as before.
                await using var connection = await owner.OpenAsync(cancellationToken);
                var now = owner.Now();
                var expected = Connection.Version;
                while (true)
                {
                    if (await owner._rows.WriteIfVersionAsync(connection, updated with { Id = Connection.Id, Version = expected }, now, cancellationToken)
                        is { } written)
                    {
                        return written;
                    }

                    var latest = await owner._rows.ReadAsync(connection, null, Connection.Id, forUpdate: false, cancellationToken);
                    if (latest is null)
                    {
                        throw new ConnectionReplacedException(Connection.Id, null);
                    }

                    if (!latest.HoldsSameGrant(Connection))
                    {
                        // The newer grant wins, but if it kept the refresh token this refresh spent, the rotated one goes in
                        // its place: the spent one is dead at the provider (Connection.WithRotatedRefreshToken).
                        if (latest.WithRotatedRefreshToken(Connection, updated) is not { } merged)
                        {
                            throw new ConnectionReplacedException(Connection.Id, latest);
                        }

                        if (await owner._rows.WriteIfVersionAsync(connection, merged, now, cancellationToken) is { } kept)
                        {
                            throw new ConnectionReplacedException(Connection.Id, kept);
                        }

                        continue; // changed again meanwhile: look again
                    }

                    expected = latest.Version;
                }
            }
            finally
            {
                await DisposeAsync();
            }
        }

        public ValueTask DisposeAsync()
        {
            if (!_done)
            {
                _done = true;
                held.Dispose();
            }

            return ValueTask.CompletedTask;
        }
    }
}

/// <summary>Async mutual exclusion per key; entries are reference-counted and removed when nobody holds or waits.</summary>
internal sealed class KeyedAsyncLock
{
    private readonly Dictionary<string, Entry> _entries = new(StringComparer.Ordinal);

    /// <summary>Keys currently held or awaited (for tests: it returns to zero, nothing leaks).</summary>
    public int Count
    {
        get
        {
            lock (_entries)
            {
                return _entries.Count;
            }
        }
    }

    public async Task<IDisposable> AcquireAsync(string key, CancellationToken cancellationToken)
    {
        Entry entry;
        lock (_entries)
        {
            if (!_entries.TryGetValue(key, out entry!))
            {
                entry = new Entry();
                _entries[key] = entry;
            }

            entry.References++;
        }

        try
        {
            await entry.Gate.WaitAsync(cancellationToken);
        }
        catch
        {
            Release(key, entry, held: false);
            throw;
        }

        return new Releaser(this, key, entry);
    }

    private void Release(string key, Entry entry, bool held)
    {
        if (held)
        {
            entry.Gate.Release();
        }

        lock (_entries)
        {
            if (--entry.References == 0)
            {
                _entries.Remove(key);
                entry.Gate.Dispose();
            }
        }
    }

    private sealed class Entry
    {
        public SemaphoreSlim Gate { get; } = new(1, 1);
        public int References { get; set; }
    }

    private sealed class Releaser(KeyedAsyncLock owner, string key, Entry entry) : IDisposable
    {
        private int _released;

        public void Dispose()
        {
            if (Interlocked.Exchange(ref _released, 1) == 0)
            {
                owner.Release(key, entry, held: true);
            }
        }
    }
}
