using Microsoft.Extensions.Options;
using Valet.Core.Domain;
using Valet.Core.Providers;

namespace Valet.Storage.Caching;

/// <summary>
/// The two hot reads of an agent request — the API key by prefix and the (decrypted) connection by id — kept per
/// process, invalidated by every write through the stores and, on PostgreSQL, by <see cref="ChangeListener"/>.
/// <para>
/// On PostgreSQL the cache is only <see cref="IsActive"/> while the listener is connected and listening: a node that
/// cannot hear other nodes' writes (listener not started, or disconnected) reads the database every time instead of
/// serving what may be stale. SQLite is one process, so in-process invalidation is enough there.
/// </para>
/// </summary>
internal sealed class StorageCache
{
    /// <summary>DI key of the undecorated stores (<c>GetRequiredKeyedService&lt;IConnectionStore&gt;(StorageCache.Uncached)</c>).</summary>
    public const string Uncached = "valet.storage.uncached";

    /// <summary>The channel the PostgreSQL triggers of migration 0002 notify on.</summary>
    public const string Channel = "valet_changes";

    public const string KeyPrefix = "key:";
    public const string ConnectionPrefix = "conn:";

    /// <summary>A runtime provider (migration 0007): not cached here, handed to <see cref="ProviderChanges"/>.</summary>
    public const string ProviderPrefix = "prov:";

    private readonly bool _enabled;
    private readonly bool _needsListener;
    private volatile bool _listening;

    private readonly ProviderChanges? _providerChanges;

    public StorageCache(IOptions<StorageCacheOptions> options, TimeProvider time, DatabaseTarget target, ProviderChanges? providerChanges = null)
    {
        _providerChanges = providerChanges;
        var o = options.Value;
        _enabled = o.CacheTtl > TimeSpan.Zero;
        _needsListener = target.IsPostgres;
        var ttl = _enabled ? o.CacheTtl : TimeSpan.Zero;
        Keys = new ReadCache<ApiKey>(time, ttl, o.CacheSize);
        Connections = new ReadCache<Connection>(time, ttl, o.CacheSize);
    }

    /// <summary>API keys by prefix.</summary>
    public ReadCache<ApiKey> Keys { get; }

    /// <summary>Connections by id, decrypted.</summary>
    public ReadCache<Connection> Connections { get; }

    /// <summary>Whether reads may be served from (and stored into) the cache right now.</summary>
    public bool IsActive => _enabled && (!_needsListener || _listening);

    /// <summary>The listener is subscribed: whatever was cached before may have missed notifications, so start empty.</summary>
    public void ListenerConnected()
    {
        Clear();
        _listening = true;
        _providerChanges?.Notify(null);
    }

    /// <summary>The listener lost its session: stop serving from the cache until it is back.</summary>
    public void ListenerLost()
    {
        _listening = false;
        Clear();
    }

    public void Clear()
    {
        Keys.Clear();
        Connections.Clear();
    }

    /// <summary>A notification payload: <c>key:PREFIX</c> or <c>conn:ID</c>. Anything else clears everything.</summary>
    public void Apply(string payload)
    {
        if (payload.StartsWith(KeyPrefix, StringComparison.Ordinal))
        {
            Keys.Invalidate(payload[KeyPrefix.Length..]);
        }
        else if (payload.StartsWith(ConnectionPrefix, StringComparison.Ordinal))
        {
            Connections.Invalidate(payload[ConnectionPrefix.Length..]);
        }
        else if (payload.StartsWith(ProviderPrefix, StringComparison.Ordinal))
        {
            _providerChanges?.Notify(payload[ProviderPrefix.Length..]);
        }
        else
        {
            Clear();
        }
    }
}
