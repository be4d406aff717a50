using System.Collections.Concurrent;
using Microsoft.Extensions.Options;

namespace Valet.Client;

/// <summary>Where the access-token handler gets its token: one connection, or the provider's connection for this key.</summary>
public sealed record ValetTokenSource
{
    private ValetTokenSource(string? provider, string? connectionId, IReadOnlyList<string> scopes)
    {
        Provider = provider;
        ConnectionId = connectionId;
        Scopes = scopes;
    }

    /// <summary>Provider id, when tokens are asked by provider.</summary>
    public string? Provider { get; }

    /// <summary>Connection id, when tokens are asked by connection.</summary>
    public string? ConnectionId { get; }

    /// <summary>Scopes every call needs (empty: no requirement).</summary>
    public IReadOnlyList<string> Scopes { get; }

    internal string CacheKey => (Provider is null ? "c:" + ConnectionId : "p:" + Provider) + "|" + string.Join(' ', Scopes.Order(StringComparer.Ordinal));

    /// <summary>Tokens of the one connection of <paramref name="provider"/> this key may use (or the org's default).</summary>
    public static ValetTokenSource ForProvider(string provider, IEnumerable<string>? scopes = null)
    {
        ArgumentException.ThrowIfNullOrEmpty(provider);
        return new ValetTokenSource(provider, null, [.. scopes ?? []]);
    }

    /// <summary>Tokens of connection <paramref name="connectionId"/>.</summary>
    public static ValetTokenSource ForConnection(string connectionId, IEnumerable<string>? scopes = null)
    {
        ArgumentException.ThrowIfNullOrEmpty(connectionId);
        return new ValetTokenSource(null, connectionId, [.. scopes ?? []]);
    }

    internal Task<ValetAccessToken> FetchAsync(ValetClient client, CancellationToken cancellationToken) => Provider is not null
        ? client.GetProviderTokenAsync(Provider, Scopes, cancellationToken)
        : client.GetTokenAsync(ConnectionId!, Scopes, cancellationToken);
}

/// <summary>
/// Access tokens the handler got from Valet, kept until <see cref="ValetClientOptions.TokenRefreshMargin"/> before they
/// expire; a token that lives shorter than the margin, for half of what is left of its life. One fetch at a time per
/// entry: concurrent requests that miss the cache wait for the same answer. Entries are per client identity (Valet's
/// address and the client's API key, as a hash) and per source, so clients of different keys or servers sharing the
/// cache never get each other's tokens. Registered once per service provider by <c>AddValetClient</c>.
/// </summary>
public sealed class ValetTokenCache
{
    /// <summary>How long a token already expired by the local clock is shared: long enough that a burst makes one fetch.</summary>
    private static readonly TimeSpan ExpiredTokenFloor = TimeSpan.FromSeconds(1);

    private readonly ConcurrentDictionary<string, Entry> _entries = new(StringComparer.Ordinal);
    private readonly TimeProvider _time;
    private readonly IOptionsMonitor<ValetClientOptions> _options;

    /// <summary>Creates the cache.</summary>
    public ValetTokenCache(TimeProvider time, IOptionsMonitor<ValetClientOptions> options)
    {
        ArgumentNullException.ThrowIfNull(time);
        ArgumentNullException.ThrowIfNull(options);
        _time = time;
        _options = options;
    }

    /// <summary>
    /// A token for <paramref name="source"/>: the cached one while it is fresh, else Valet's. With
    /// <paramref name="rejected"/> (a token the upstream just refused), the cache is bypassed unless another caller has
    /// already replaced that token.
    /// </summary>
    internal async Task<ValetAccessToken> GetAsync(ValetClient client, ValetTokenSource source, string? rejected, CancellationToken cancellationToken)
    {
        var entry = _entries.GetOrAdd(client.CacheIdentity + "|" + source.CacheKey, _ => new Entry());
        if (Usable(entry.Current, rejected) is { } cached)
        {
            return cached;
        }

        await entry.Gate.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            if (Usable(entry.Current, rejected) is { } fetchedMeanwhile)
            {
                return fetchedMeanwhile;
            }

            var token = await source.FetchAsync(client, cancellationToken).ConfigureAwait(false);
            entry.Current = new Cached(token, CacheUntil(token, _time.GetUtcNow(), _options.CurrentValue));
            return token;
        }
        finally
        {
            entry.Gate.Release();
        }
    }

    /// <summary>
    /// Until when <paramref name="token"/> is handed out from the cache. When <c>ExpiresAt − margin</c> is already past (a
    /// token shorter-lived than the margin, a server refresh skew below it, a local clock ahead), caching it not at all
    /// would make every concurrent call its own sequential fetch: it is kept for half its remaining life instead (never
    /// past <c>ExpiresAt</c>), or — already expired by the local clock — for <see cref="ExpiredTokenFloor"/>.
    /// </summary>
    internal static DateTimeOffset CacheUntil(ValetAccessToken token, DateTimeOffset now, ValetClientOptions options)
    {
        if (token.ExpiresAt is not { } expiresAt)
        {
            return now + options.UnknownExpiryCacheDuration;
        }

        var until = expiresAt - options.TokenRefreshMargin;
        if (until > now)
        {
            return until;
        }

        var remaining = expiresAt - now;
        return remaining > TimeSpan.Zero ? now + remaining / 2 : now + ExpiredTokenFloor;
    }

    private ValetAccessToken? Usable(Cached? cached, string? rejected) =>
        cached is not null && cached.Until > _time.GetUtcNow() && (rejected is null || !string.Equals(cached.Token.AccessToken, rejected, StringComparison.Ordinal))
            ? cached.Token
            : null;

    private sealed record Cached(ValetAccessToken Token, DateTimeOffset Until);

    private sealed class Entry
    {
        public SemaphoreSlim Gate { get; } = new(1, 1);

        public volatile Cached? Current;
    }
}
