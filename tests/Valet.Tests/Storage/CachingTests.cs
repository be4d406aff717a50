using System.Security.Cryptography;
using Dapper;
using Microsoft.Data.Sqlite;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Time.Testing;
using Valet.Core.Domain;
using Valet.Core.Stores;
using Valet.Core.Vault;
using Valet.Storage;
using Valet.Storage.Caching;
using Valet.Storage.Data;

namespace Valet.Tests.Storage;

/// <summary>
/// A "node" for cache tests: the stores exactly as <c>AddValetStorage</c> wires them over one database, with its own
/// cache and (PostgreSQL) its own change listener.
/// </summary>
internal sealed class CacheNode(ServiceProvider services) : IAsyncDisposable
{
    public IConnectionStore Connections => services.GetRequiredService<IConnectionStore>();
    public IConnectionLocks Locks => services.GetRequiredService<IConnectionLocks>();
    public IApiKeyStore Keys => services.GetRequiredService<IApiKeyStore>();
    public IVaultMaintenance Vault => services.GetRequiredService<IVaultMaintenance>();
    public IOrgStore Orgs => services.GetRequiredService<IOrgStore>();
    public StorageCache Cache => services.GetRequiredService<StorageCache>();
    public ChangeListener Listener => services.GetRequiredService<ChangeListener>();
    public IServiceProvider Services => services;

    /// <summary>Raw SQL on the node's database, bypassing the stores and their cache.</summary>
    public async Task<int> ExecuteRawAsync(string sql, object? args = null)
    {
        await using var connection = await services.GetRequiredService<Db>().OpenAsync(CancellationToken.None);
        return await connection.ExecuteAsync(sql, args);
    }

    public async ValueTask DisposeAsync()
    {
        await Listener.StopAsync(CancellationToken.None);
        await services.DisposeAsync();
    }
}

/// <summary>Database-independent plumbing of the cache tests.</summary>
public abstract class CachingTestBase : IAsyncLifetime
{
    protected const string Org = "acme";

    private readonly List<CacheNode> _nodes = [];
    private XChaChaVault? _vault;

    internal DatabaseTarget Target { get; private set; } = null!;

    protected static CancellationToken None => CancellationToken.None;

    protected abstract Task<DatabaseTarget> CreateDatabaseAsync();

    protected abstract Task DeleteDatabaseAsync();

    public async Task InitializeAsync()
    {
        _vault = new XChaChaVault(VaultKeyRing.FromKeys([new VaultKeyMaterial("k1", RandomNumberGenerator.GetBytes(32))]));
        Target = await CreateDatabaseAsync();
    }

    public async Task DisposeAsync()
    {
        foreach (var node in _nodes)
        {
            await node.DisposeAsync();
        }

        _vault?.Dispose();
        await DeleteDatabaseAsync();
    }

    /// <summary>A node with migrations applied; <paramref name="listen"/> starts its change listener (PostgreSQL).</summary>
    internal async Task<CacheNode> StartNodeAsync(TimeSpan ttl, bool listen = true, TimeProvider? time = null, int size = 10_000)
    {
        var services = new ServiceCollection().AddSingleton<IVault>(_vault!);
        if (time is not null)
        {
            services.AddSingleton(time);
        }

        services.Configure<StorageCacheOptions>(o =>
        {
            o.CacheTtl = ttl;
            o.CacheSize = size;
            o.ListenerMaxBackoff = TimeSpan.FromMilliseconds(500);
        });
        var node = new CacheNode(services.AddValetStorage(Target).BuildServiceProvider());
        _nodes.Add(node);
        await node.Services.GetRequiredService<StorageInitializer>().InitializeAsync(None);
        await node.Orgs.EnsureAsync(new Org { Id = Org, Name = "Acme" }, None);
        if (listen)
        {
            await node.Listener.StartAsync(None);
        }

        return node;
    }

    protected static ApiKey NewKey() => new()
    {
        Id = Ids.New("key"),
        OrgId = Org,
        Name = "agent",
        Prefix = "vk_" + Ids.RandomString(8),
        Hash = [1, 2, 3, 4],
        Permissions = [new Permission(PermissionKind.Provider, "github")],
    };

    protected static Connection NewConnection(string accountId) => new()
    {
        Id = Ids.New("conn"),
        OrgId = Org,
        Provider = "github",
        AccountId = accountId,
        AccessToken = new Secret("gho_" + Ids.RandomString(24)),
        RefreshToken = new Secret("ghr_" + Ids.RandomString(24)),
        Scopes = ["repo"],
        ExpiresAt = DateTimeOffset.UtcNow.AddHours(1),
    };

    /// <summary>Polls until <paramref name="condition"/> holds, for at most <paramref name="limit"/>.</summary>
    protected static async Task<bool> EventuallyAsync(Func<Task<bool>> condition, TimeSpan limit)
    {
        var deadline = DateTime.UtcNow + limit;
        while (true)
        {
            if (await condition())
            {
                return true;
            }

            if (DateTime.UtcNow > deadline)
            {
                return false;
            }

            await Task.Delay(20);
        }
    }
}

/// <summary>SQLite (one process): every write through the stores invalidates at once; the TTL is the only other bound.</summary>
public sealed class CachingSqliteTests : CachingTestBase
{
    private static readonly TimeSpan LongTtl = TimeSpan.FromMinutes(10);
    private readonly string _directory = Path.Combine(Path.GetTempPath(), "valet-cache-" + Guid.NewGuid().ToString("N")[..12]);

    protected override Task<DatabaseTarget> CreateDatabaseAsync() =>
        Task.FromResult(DatabaseTarget.Parse("sqlite:" + Path.Combine(_directory, "valet.db"), _directory));

    protected override Task DeleteDatabaseAsync()
    {
        SqliteConnection.ClearAllPools();
        if (Directory.Exists(_directory))
        {
            Directory.Delete(_directory, recursive: true);
        }

        return Task.CompletedTask;
    }

    [Fact]
    public async Task Key_IsServedFromCache_UntilTheTtlPasses()
    {
        var time = new FakeTimeProvider(DateTimeOffset.UtcNow);
        var node = await StartNodeAsync(TimeSpan.FromSeconds(30), time: time);
        var key = NewKey();
        await node.Keys.CreateAsync(key, None);
        Assert.NotNull(await node.Keys.FindByPrefixAsync(key.Prefix, None));

        // Another process on the same file (no invalidation reaches this one): only the TTL bounds the staleness.
        await node.ExecuteRawAsync("UPDATE api_keys SET name = 'changed elsewhere' WHERE id = @Id", new { key.Id });
        Assert.Equal("agent", (await node.Keys.FindByPrefixAsync(key.Prefix, None))!.Name);

        time.Advance(TimeSpan.FromSeconds(31));
        Assert.Equal("changed elsewhere", (await node.Keys.FindByPrefixAsync(key.Prefix, None))!.Name);
    }

    [Fact]
    public async Task RevokedKey_StopsAuthenticatingImmediately_OnTheSameNode()
    {
        var node = await StartNodeAsync(LongTtl);
        var key = NewKey();
        await node.Keys.CreateAsync(key, None);
        Assert.NotNull(await node.Keys.FindByPrefixAsync(key.Prefix, None));
        Assert.Equal(1, node.Cache.Keys.Count);

        Assert.True(await node.Keys.DeleteAsync(key.Id, None));

        Assert.Null(await node.Keys.FindByPrefixAsync(key.Prefix, None));
    }

    [Fact]
    public async Task ChangedPermissions_AreSeenImmediately_OnTheSameNode()
    {
        var node = await StartNodeAsync(LongTtl);
        var key = NewKey();
        await node.Keys.CreateAsync(key, None);
        Assert.NotNull(await node.Keys.FindByPrefixAsync(key.Prefix, None));

        await node.Keys.SetPermissionsAsync(key.Id, [new Permission(PermissionKind.Connection, "conn_x")], None);

        Assert.Equal([new Permission(PermissionKind.Connection, "conn_x")], (await node.Keys.FindByPrefixAsync(key.Prefix, None))!.Permissions);
    }

    [Fact]
    public async Task UnknownPrefix_IsNeverCached_SoAKeyCreatedLaterIsFound()
    {
        var node = await StartNodeAsync(LongTtl);
        var key = NewKey();

        Assert.Null(await node.Keys.FindByPrefixAsync(key.Prefix, None));
        Assert.Equal(0, node.Cache.Keys.Count);
        await node.ExecuteRawAsync(
            "INSERT INTO api_keys (id, org_id, name, prefix, hash, permissions, created_at) VALUES (@Id, @OrgId, 'raw', @Prefix, @Hash, '[]', 0)",
            new { key.Id, key.OrgId, key.Prefix, key.Hash });

        Assert.NotNull(await node.Keys.FindByPrefixAsync(key.Prefix, None));
    }

    [Fact]
    public async Task ConnectionWrites_InvalidateAtOnce_UpsertUpdateClaimDelete()
    {
        var node = await StartNodeAsync(LongTtl);
        var (stored, _) = await node.Connections.UpsertAsync(NewConnection("1"), None);
        Assert.Equal(stored.Version, (await node.Connections.FindAsync(stored.Id, None))!.Version);

        var (upserted, created) = await node.Connections.UpsertAsync(NewConnection("1") with { AccountLogin = "again" }, None);
        Assert.False(created);
        Assert.Equal("again", (await node.Connections.FindAsync(stored.Id, None))!.AccountLogin);

        var updated = await node.Connections.UpdateAsync(upserted with { StatusReason = "updated", NextRefreshAt = DateTimeOffset.UtcNow.AddMinutes(-1) }, None);
        Assert.Equal(updated!.Version, (await node.Connections.FindAsync(stored.Id, None))!.Version);

        var leaseUntil = DateTimeOffset.UtcNow.AddMinutes(5);
        Assert.Single(await node.Connections.ClaimDueAsync(DateTimeOffset.UtcNow, leaseUntil, 10, None));
        Assert.Equal(leaseUntil.ToUnixTimeMilliseconds(), (await node.Connections.FindAsync(stored.Id, None))!.NextRefreshAt!.Value.ToUnixTimeMilliseconds());

        Assert.True(await node.Connections.DeleteAsync(stored.Id, None));
        Assert.Null(await node.Connections.FindAsync(stored.Id, None));
    }

    [Fact]
    public async Task LeaseCommit_Invalidates_AndTheLeaseReadsUnderTheLockBypassingTheCache()
    {
        var node = await StartNodeAsync(LongTtl);
        var (stored, _) = await node.Connections.UpsertAsync(NewConnection("1"), None);
        Assert.NotNull(await node.Connections.FindAsync(stored.Id, None)); // cached

        // A write the cache cannot see: the lease must still read the row as stored.
        await node.ExecuteRawAsync("UPDATE connections SET status_reason = 'raw' WHERE id = @Id", new { stored.Id });
        Assert.Null((await node.Connections.FindAsync(stored.Id, None))!.StatusReason);
        var refreshed = new Secret("gho_refreshed_" + Ids.RandomString(16));
        await using (var lease = await node.Locks.AcquireAsync(stored.Id, None))
        {
            Assert.Equal("raw", lease!.Connection.StatusReason);
            await lease.CommitAsync(lease.Connection with { AccessToken = refreshed }, None);
        }

        Assert.Equal(refreshed, (await node.Connections.FindAsync(stored.Id, None))!.AccessToken);
    }

    [Fact]
    public async Task VaultRotation_ForgetsCachedConnections()
    {
        var node = await StartNodeAsync(LongTtl);
        var (stored, _) = await node.Connections.UpsertAsync(NewConnection("1"), None);
        Assert.NotNull(await node.Connections.FindAsync(stored.Id, None));
        Assert.Equal(1, node.Cache.Connections.Count);

        await node.Vault.RotateAsync(null, None);

        Assert.Equal(0, node.Cache.Connections.Count);
    }

    [Fact]
    public async Task ZeroTtl_TurnsTheCacheOff()
    {
        var node = await StartNodeAsync(TimeSpan.Zero);
        var (stored, _) = await node.Connections.UpsertAsync(NewConnection("1"), None);
        Assert.NotNull(await node.Connections.FindAsync(stored.Id, None));

        await node.ExecuteRawAsync("UPDATE connections SET status_reason = 'raw' WHERE id = @Id", new { stored.Id });

        Assert.Equal("raw", (await node.Connections.FindAsync(stored.Id, None))!.StatusReason);
        Assert.Equal(0, node.Cache.Connections.Count);
    }

    [Fact]
    public async Task CacheSize_IsBounded_EvictingTheOldest()
    {
        var node = await StartNodeAsync(LongTtl, size: 20);
        var ids = new List<string>();
        for (var i = 0; i < 60; i++)
        {
            var (stored, _) = await node.Connections.UpsertAsync(NewConnection("acct" + i), None);
            ids.Add(stored.Id);
            Assert.NotNull(await node.Connections.FindAsync(stored.Id, None));
            Assert.InRange(node.Cache.Connections.Count, 1, 20);
        }

        // The newest is still cached (a raw change is not seen); the first was evicted (it is).
        await node.ExecuteRawAsync("UPDATE connections SET status_reason = 'raw'");
        Assert.Null((await node.Connections.FindAsync(ids[^1], None))!.StatusReason);
        Assert.Equal("raw", (await node.Connections.FindAsync(ids[0], None))!.StatusReason);
    }

    [Fact]
    public async Task UncachedStores_StayResolvable()
    {
        var node = await StartNodeAsync(LongTtl);
        var (stored, _) = await node.Connections.UpsertAsync(NewConnection("1"), None);
        Assert.NotNull(await node.Connections.FindAsync(stored.Id, None));
        await node.ExecuteRawAsync("UPDATE connections SET status_reason = 'raw' WHERE id = @Id", new { stored.Id });

        var inner = node.Services.GetRequiredKeyedService<IConnectionStore>(StorageCache.Uncached);

        Assert.Equal("raw", (await inner.FindAsync(stored.Id, None))!.StatusReason);
        Assert.NotNull(node.Services.GetRequiredKeyedService<IApiKeyStore>(StorageCache.Uncached));
        Assert.NotNull(node.Services.GetRequiredKeyedService<IConnectionLocks>(StorageCache.Uncached));
        Assert.NotNull(node.Services.GetRequiredKeyedService<IVaultMaintenance>(StorageCache.Uncached));
    }
}

/// <summary>The bounded map on its own: the read/invalidate race and the bound.</summary>
public sealed class CachingReadCacheTests
{
    private static ReadCache<string> NewCache(int capacity = 100) => new(TimeProvider.System, TimeSpan.FromMinutes(1), capacity);

    [Fact]
    public void Put_AfterAnInvalidationDuringTheRead_IsDropped()
    {
        var cache = NewCache();
        var ticket = cache.Begin("a");   // the reader goes to the database...
        cache.Invalidate("a");           // ...a write commits meanwhile...
        cache.Put("a", "old row", ticket); // ...and the reader's (old) row must not be cached.

        Assert.False(cache.TryGet("a", out _));
    }

    [Fact]
    public void Put_AfterAClearDuringTheRead_IsDropped()
    {
        var cache = NewCache();
        var ticket = cache.Begin("a");
        cache.Clear();
        cache.Put("a", "old row", ticket);

        Assert.False(cache.TryGet("a", out _));
    }

    [Fact]
    public void Put_WithoutInterference_IsServed()
    {
        var cache = NewCache();
        cache.Put("a", "row", cache.Begin("a"));

        Assert.True(cache.TryGet("a", out var value));
        Assert.Equal("row", value);
    }

    [Fact]
    public void Count_NeverExceedsTheCapacity()
    {
        var cache = NewCache(capacity: 100);
        for (var i = 0; i < 10_000; i++)
        {
            var key = "k" + i;
            cache.Put(key, "v", cache.Begin(key));
            Assert.InRange(cache.Count, 1, 100);
        }

        Assert.True(cache.TryGet("k9999", out _));
        Assert.False(cache.TryGet("k0", out _));
    }

    [Fact]
    public async Task ConcurrentMisses_OfOneKey_CollapseIntoOneRead()
    {
        var cache = NewCache();
        var reads = 0;
        var release = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        async ValueTask<string?> Read(int _, string key)
        {
            Interlocked.Increment(ref reads);
            await release.Task;
            return "row of " + key;
        }

        var callers = Enumerable.Range(0, 200).Select(_ => cache.GetOrReadAsync("a", 0, Read, CancellationToken.None).AsTask()).ToList();
        release.SetResult();
        var values = await Task.WhenAll(callers);

        Assert.Equal(1, reads);
        Assert.All(values, v => Assert.Equal("row of a", v));
        Assert.Equal(0, cache.ReadsInFlight);
        Assert.True(cache.TryGet("a", out _));
    }

    [Fact]
    public async Task Caller_ArrivingAfterAnInvalidation_DoesNotJoinTheOlderRead()
    {
        var cache = NewCache();
        var reads = 0;
        var first = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        async ValueTask<string?> Read(int _, string key)
        {
            var n = Interlocked.Increment(ref reads);
            if (n == 1)
            {
                await first.Task;
                return "old row";
            }

            return "new row";
        }

        var early = cache.GetOrReadAsync("a", 0, Read, CancellationToken.None).AsTask();
        cache.Invalidate("a"); // a write commits while the first read is in flight
        var late = await cache.GetOrReadAsync("a", 0, Read, CancellationToken.None);
        first.SetResult();

        Assert.Equal("new row", late);
        Assert.Equal("old row", await early);
        Assert.Equal(2, reads);
        Assert.True(cache.TryGet("a", out var cached));
        Assert.Equal("new row", cached);
    }

    [Fact]
    public async Task OneCallerGivingUp_DoesNotFailTheOthers()
    {
        var cache = NewCache();
        var release = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        async ValueTask<string?> Read(int _, string key)
        {
            await release.Task;
            return "row";
        }

        using var impatient = new CancellationTokenSource();
        var quitter = cache.GetOrReadAsync("a", 0, Read, impatient.Token).AsTask();
        var patient = cache.GetOrReadAsync("a", 0, Read, CancellationToken.None).AsTask();
        await impatient.CancelAsync();
        release.SetResult();

        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => quitter);
        Assert.Equal("row", await patient);
    }

    [Fact]
    public async Task AFailedRead_IsSharedByItsWaiters_AndNotRemembered()
    {
        var cache = NewCache();
        var reads = 0;
        var release = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        async ValueTask<string?> Read(int _, string key)
        {
            if (Interlocked.Increment(ref reads) == 1)
            {
                await release.Task;
                throw new TimeoutException("database busy");
            }

            return "row";
        }

        var a = cache.GetOrReadAsync("a", 0, Read, CancellationToken.None).AsTask();
        var b = cache.GetOrReadAsync("a", 0, Read, CancellationToken.None).AsTask();
        release.SetResult();

        await Assert.ThrowsAsync<TimeoutException>(() => a);
        await Assert.ThrowsAsync<TimeoutException>(() => b);
        Assert.Equal("row", await cache.GetOrReadAsync("a", 0, Read, CancellationToken.None));
        Assert.Equal(2, reads);
    }

    [Fact]
    public async Task ACallerRetryingAsSoonAsAReadFails_StartsAFreshRead()
    {
        // CI once saw the retry join the finished, failed read: the in-flight entry left the table only after the
        // waiters were woken. Many rounds make that window, when it exists, show up.
        var cache = NewCache();
        for (var round = 0; round < 2000; round++)
        {
            var key = "k" + round;
            var failed = false;
            async ValueTask<string?> Read(int _, string k)
            {
                await Task.Yield();
                if (!failed)
                {
                    failed = true;
                    throw new TimeoutException("database busy");
                }

                return "row";
            }

            await Assert.ThrowsAsync<TimeoutException>(() => cache.GetOrReadAsync(key, 0, Read, CancellationToken.None).AsTask());
            Assert.Equal("row", await cache.GetOrReadAsync(key, 0, Read, CancellationToken.None));
        }
    }
}
