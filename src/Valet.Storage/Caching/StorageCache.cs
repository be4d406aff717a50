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

    /// <summary>A listener's heartbeat (<see cref="ChangeListener"/>): each node's own, ignored by the others.</summary>
    public const string HeartbeatPrefix = "hb:";

    /// <summary>
    /// How long the cache may serve after the listener last heard its own heartbeat. The listener sends one a second and
    /// gives up on a session whose heartbeat does not return in two; this is the backstop for a listener that is stuck
    /// without noticing (docs/storage.md, "A listener session that hangs").
    /// </summary>
    public static readonly TimeSpan HeartbeatLimit = TimeSpan.FromSeconds(5);

    private readonly bool _enabled;
    private readonly bool _needsListener;
    private volatile bool _listening;
    private long _heardAt; // Environment.TickCount64 when this node's own heartbeat last came back
    private long _heartbeats;

    /// <summary>How many of its own heartbeats this node has heard (for tests and diagnostics).</summary>
    public long HeartbeatsHeard => Interlocked.Read(ref _heartbeats);

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

    /// <summary>This node's heartbeat payload (a random id, so another node's is told apart).</summary>
    public string HeartbeatPayload { get; } = HeartbeatPrefix + Guid.NewGuid().ToString("N");

    /// <summary>
    /// Whether reads may be served from (and stored into) the cache right now: on PostgreSQL only while the listener is
    /// subscribed and its heartbeat came back recently (real time, not the <see cref="TimeProvider"/>: it measures I/O).
    /// </summary>
    public bool IsActive => _enabled && (!_needsListener
        || (_listening && Environment.TickCount64 - Volatile.Read(ref _heardAt) < (long)HeartbeatLimit.TotalMilliseconds));

    /// <summary>The listener is subscribed: whatever was cached before may have missed notifications, so start empty.</summary>
    public void ListenerConnected()
    {
        Clear();
        Volatile.Write(ref _heardAt, Environment.TickCount64);
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

    /// <summary>A notification payload: <c>key:PREFIX</c>, <c>conn:ID</c>, <c>prov:ID</c> or a heartbeat. Anything else clears everything.</summary>
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
        else if (payload.StartsWith(HeartbeatPrefix, StringComparison.Ordinal))
        {
            // Notifications reach a session in the order they were sent, so every invalidation sent before this heartbeat
            // has been applied by the time it is heard.
            if (string.Equals(payload, HeartbeatPayload, StringComparison.Ordinal))
            {
                Volatile.Write(ref _heardAt, Environment.TickCount64);
                Interlocked.Increment(ref _heartbeats);
            }
        }
        else
        {
            Clear();
        }
    }
}
