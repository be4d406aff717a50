using Valet.Core.Domain;
using Valet.Core.Stores;

namespace Valet.Storage.Caching;

/// <summary>
/// Serves <see cref="FindByPrefixAsync"/> (every agent request) from <see cref="StorageCache.Keys"/>. Every write
/// invalidates the key's prefix after it ran, whatever its outcome. Unknown prefixes are never cached, so guessing keys
/// neither fills memory nor hides a key created a moment later. <see cref="FindAsync"/> by id serves only the admin API
/// and is not cached: notifications name the prefix, not the id.
/// </summary>
internal sealed class CachingApiKeyStore(IApiKeyStore inner, StorageCache cache) : IApiKeyStore
{
    public async Task CreateAsync(ApiKey key, CancellationToken cancellationToken)
    {
        try
        {
            await inner.CreateAsync(key, cancellationToken);
        }
        finally
        {
            cache.Keys.Invalidate(key.Prefix);
        }
    }

    public ValueTask<ApiKey?> FindByPrefixAsync(string prefix, CancellationToken cancellationToken)
    {
        if (!cache.IsActive)
        {
            return inner.FindByPrefixAsync(prefix, cancellationToken);
        }

        // The shared read runs on no caller's token: the database command timeout bounds it.
        return cache.Keys.GetOrReadAsync(prefix, inner, static (store, p) => store.FindByPrefixAsync(p, CancellationToken.None), cancellationToken);
    }

    public ApiKey? FindCachedByPrefix(string prefix) => cache.IsActive && cache.Keys.TryGet(prefix, out var key) ? key : null;

    public ValueTask<ApiKey?> FindAsync(string id, CancellationToken cancellationToken) => inner.FindAsync(id, cancellationToken);

    public IAsyncEnumerable<ApiKey> ListAsync(string orgId, CancellationToken cancellationToken) => inner.ListAsync(orgId, cancellationToken);

    /// <summary>Not a change of the key row (its own table, no notification): the cached key stays.</summary>
    public Task RecordUseAsync(string id, DateTimeOffset at, CancellationToken cancellationToken) => inner.RecordUseAsync(id, at, cancellationToken);

    public async Task<ApiKey?> SetPermissionsAsync(string id, IReadOnlyList<Permission> permissions, CancellationToken cancellationToken)
    {
        ApiKey? updated = null;
        try
        {
            updated = await inner.SetPermissionsAsync(id, permissions, cancellationToken);
            return updated;
        }
        finally
        {
            await InvalidateAsync(id, updated);
        }
    }

    public async Task<bool> DeleteAsync(string id, CancellationToken cancellationToken)
    {
        // The prefix is needed to invalidate, and the row is gone afterwards: read it first (admin path, not hot).
        var existing = await inner.FindAsync(id, cancellationToken);
        try
        {
            return await inner.DeleteAsync(id, cancellationToken);
        }
        finally
        {
            await InvalidateAsync(id, existing);
        }
    }

    /// <summary>After a write to key <paramref name="id"/>: forget its prefix, or everything when the prefix is unknown.</summary>
    private async Task InvalidateAsync(string id, ApiKey? known)
    {
        if (known is not null)
        {
            cache.Keys.Invalidate(known.Prefix);
            return;
        }

        try
        {
            if (await inner.FindAsync(id, CancellationToken.None) is { } key)
            {
                cache.Keys.Invalidate(key.Prefix);
                return;
            }
        }
        catch (Exception)
        {
            // Fall through to clearing: the safe answer when the row cannot be read.
        }

        cache.Keys.Clear();
    }
}

/// <summary>
/// Serves <see cref="FindAsync"/> (the token route and the proxy) from <see cref="StorageCache.Connections"/>, decrypted,
/// so neither the read nor the vault open is repeated. Every write invalidates the ids it touched after it ran.
/// Refreshes never read through here: <see cref="IConnectionLocks"/> re-reads the row under the lock, uncached.
/// </summary>
internal sealed class CachingConnectionStore(IConnectionStore inner, StorageCache cache) : IConnectionStore
{
    public ValueTask<Connection?> FindAsync(string id, CancellationToken cancellationToken)
    {
        if (!cache.IsActive)
        {
            return inner.FindAsync(id, cancellationToken);
        }

        return cache.Connections.GetOrReadAsync(id, inner, static (store, i) => store.FindAsync(i, CancellationToken.None), cancellationToken);
    }

    public ValueTask<Connection?> FindByAccountAsync(string orgId, string provider, string accountId, CancellationToken cancellationToken) =>
        inner.FindByAccountAsync(orgId, provider, accountId, cancellationToken);

    public IAsyncEnumerable<Connection> ListAsync(string orgId, CancellationToken cancellationToken) => inner.ListAsync(orgId, cancellationToken);

    public Task<(Connection Connection, bool Created)> UpsertAsync(Connection connection, CancellationToken cancellationToken) =>
        UpsertAsync(connection, makeDefault: false, cancellationToken);

    public Task<(Connection Connection, bool Created)> UpsertAsDefaultAsync(Connection connection, CancellationToken cancellationToken) =>
        UpsertAsync(connection, makeDefault: true, cancellationToken);

    private async Task<(Connection Connection, bool Created)> UpsertAsync(Connection connection, bool makeDefault, CancellationToken cancellationToken)
    {
        (Connection Connection, bool Created)? result = null;
        try
        {
            result = makeDefault ? await inner.UpsertAsDefaultAsync(connection, cancellationToken) : await inner.UpsertAsync(connection, cancellationToken);
            return result.Value;
        }
        finally
        {
            if (result is { } stored)
            {
                cache.Connections.Invalidate(stored.Connection.Id);
            }
            else
            {
                // Failed or cancelled part-way: the row it may have written is found by account, not by this id.
                cache.Connections.Clear();
            }
        }
    }

    public async Task<Connection?> UpdateAsync(Connection connection, CancellationToken cancellationToken)
    {
        try
        {
            return await inner.UpdateAsync(connection, cancellationToken);
        }
        finally
        {
            cache.Connections.Invalidate(connection.Id);
        }
    }

    public async Task<bool> DeleteAsync(string id, CancellationToken cancellationToken)
    {
        try
        {
            return await inner.DeleteAsync(id, cancellationToken);
        }
        finally
        {
            cache.Connections.Invalidate(id);
        }
    }

    public async Task<IReadOnlyList<Connection>> ClaimDueAsync(DateTimeOffset now, DateTimeOffset leaseUntil, int batchSize, CancellationToken cancellationToken)
    {
        IReadOnlyList<Connection>? claimed = null;
        try
        {
            claimed = await inner.ClaimDueAsync(now, leaseUntil, batchSize, cancellationToken);
            return claimed;
        }
        finally
        {
            if (claimed is null)
            {
                cache.Connections.Clear();
            }
            else
            {
                foreach (var connection in claimed)
                {
                    cache.Connections.Invalidate(connection.Id);
                }
            }
        }
    }
}

/// <summary>Leases as the inner locks give them (the row re-read under the lock, never cached); a commit invalidates.</summary>
internal sealed class CachingConnectionLocks(IConnectionLocks inner, StorageCache cache) : IConnectionLocks
{
    public async Task<IConnectionLease?> AcquireAsync(string connectionId, CancellationToken cancellationToken) =>
        await inner.AcquireAsync(connectionId, cancellationToken) is { } lease ? new Lease(lease, cache) : null;

    private sealed class Lease(IConnectionLease inner, StorageCache cache) : IConnectionLease
    {
        public Connection Connection => inner.Connection;

        public async Task<Connection> CommitAsync(Connection updated, CancellationToken cancellationToken)
        {
            try
            {
                return await inner.CommitAsync(updated, cancellationToken);
            }
            finally
            {
                // After the commit (which released the lock): a reader that started before it will not store its row.
                cache.Connections.Invalidate(inner.Connection.Id);
            }
        }

        public ValueTask DisposeAsync() => inner.DisposeAsync();
    }
}

/// <summary>Rotation rewrites sealed columns of every connection: forget every cached connection afterwards.</summary>
internal sealed class CachingVaultMaintenance(IVaultMaintenance inner, StorageCache cache) : IVaultMaintenance
{
    public Task VerifyKeyAsync(CancellationToken cancellationToken) => inner.VerifyKeyAsync(cancellationToken);

    public Task<long> CountStaleAsync(CancellationToken cancellationToken) => inner.CountStaleAsync(cancellationToken);

    public async Task<long> RotateAsync(IProgress<RotationProgress>? progress, CancellationToken cancellationToken)
    {
        try
        {
            return await inner.RotateAsync(progress, cancellationToken);
        }
        finally
        {
            cache.Connections.Clear();
        }
    }
}
