using Microsoft.Extensions.Options;
using Valet.Core.Domain;
using Valet.Core.Stores;

namespace Valet.Core.Tokens;

/// <summary>What the token route and the proxy ask for. See docs/refresh.md.</summary>
public interface ITokenService
{
    /// <summary>
    /// A usable access token for <paramref name="connectionId"/>. Hot path: one store read, no lock, no provider call when
    /// the stored token does not expire within the skew. <paramref name="forceRefresh"/> refreshes even a fresh token
    /// (a token refreshed by someone else since this call read the row is reused).
    /// </summary>
    Task<TokenOutcome> GetAccessTokenAsync(string connectionId, bool forceRefresh, CancellationToken cancellationToken);

    /// <summary>
    /// The same from the row the caller has just read (agent access reads it once for its permission checks): no second
    /// read; a fresh token is answered without awaiting anything; an expiring one goes to the refresh coordinator.
    /// </summary>
    ValueTask<TokenOutcome> GetAccessTokenAsync(Connection current, CancellationToken cancellationToken);

    /// <summary>
    /// The proxy's refresh-on-401: <paramref name="rejected"/> is the row whose token the upstream refused
    /// (<see cref="TokenOutcome.Success.Connection"/>). If another caller has refreshed since, that token is reused; else
    /// the connection is refreshed once, however many requests were rejected at the same time.
    /// </summary>
    Task<TokenOutcome> RefreshRejectedAsync(Connection rejected, CancellationToken cancellationToken);
}

public sealed class TokenService(
    IConnectionStore connections,
    RefreshCoordinator coordinator,
    IOptionsMonitor<RefreshOptions> options,
    TimeProvider time) : ITokenService
{
    public async Task<TokenOutcome> GetAccessTokenAsync(string connectionId, bool forceRefresh, CancellationToken cancellationToken)
    {
        ArgumentException.ThrowIfNullOrEmpty(connectionId);

        var connection = await connections.FindAsync(connectionId, cancellationToken);
        if (connection is null)
        {
            return TokenOutcome.NotFound.Instance;
        }

        if (forceRefresh && connection.Status != ConnectionStatus.ReauthRequired)
        {
            return await coordinator.RefreshAsync(connectionId, RefreshReason.Forced, connection, cancellationToken);
        }

        return await GetAccessTokenAsync(connection, cancellationToken);
    }

    public ValueTask<TokenOutcome> GetAccessTokenAsync(Connection current, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(current);

        if (current.Status == ConnectionStatus.ReauthRequired)
        {
            return new ValueTask<TokenOutcome>(new TokenOutcome.ReauthRequired(current, current.StatusReason ?? RefreshPolicy.InvalidGrant));
        }

        return RefreshPolicy.IsFresh(current, time.GetUtcNow(), options.CurrentValue.Skew)
            ? new ValueTask<TokenOutcome>(TokenOutcome.Success.Of(current))
            : new ValueTask<TokenOutcome>(RefreshExpiringAsync(current, cancellationToken));
    }

    private async Task<TokenOutcome> RefreshExpiringAsync(Connection connection, CancellationToken cancellationToken)
    {
        var outcome = await coordinator.RefreshAsync(connection.Id, RefreshReason.Expiring, connection, cancellationToken);

        // Inside the skew window the old token still works: during a provider outage, hand it out rather than fail.
        return outcome is TokenOutcome.ProviderUnavailable && connection.ExpiresAt > time.GetUtcNow()
            ? TokenOutcome.Success.Of(connection)
            : outcome;
    }

    public async Task<TokenOutcome> RefreshRejectedAsync(Connection rejected, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(rejected);

        var connection = await connections.FindAsync(rejected.Id, cancellationToken);
        if (connection is null)
        {
            return TokenOutcome.NotFound.Instance;
        }

        if (connection.Status == ConnectionStatus.ReauthRequired)
        {
            return new TokenOutcome.ReauthRequired(connection, connection.StatusReason ?? RefreshPolicy.InvalidGrant);
        }

        // Many requests rejected at once: the first refreshes, the rest find its token here without taking the lock.
        if (connection.AccessToken != rejected.AccessToken && RefreshPolicy.IsFresh(connection, time.GetUtcNow(), options.CurrentValue.Skew))
        {
            return TokenOutcome.Success.Of(connection);
        }

        return await coordinator.RefreshAsync(rejected.Id, RefreshReason.Forced, rejected, cancellationToken);
    }
}

/// <summary>Which required scopes a grant lacks.</summary>
public static class ScopeCheck
{
    /// <summary>
    /// The required scopes not in <paramref name="granted"/>, in order, without duplicates. Exact, case-sensitive strings
    /// (providers treat scopes as opaque); an unknown grant (null) never blocks a call.
    /// </summary>
    public static IReadOnlyList<string> Missing(IReadOnlyList<string>? granted, IEnumerable<string> required)
    {
        ArgumentNullException.ThrowIfNull(required);

        // Nothing required (most token and proxy calls), or an unknown grant: nothing missing, nothing allocated.
        if (granted is null || required is IReadOnlyCollection<string> { Count: 0 })
        {
            return [];
        }

        var have = new HashSet<string>(granted, StringComparer.Ordinal);
        var missing = new List<string>();
        foreach (var scope in required)
        {
            if (!string.IsNullOrWhiteSpace(scope) && !have.Contains(scope) && !missing.Contains(scope, StringComparer.Ordinal))
            {
                missing.Add(scope);
            }
        }

        return missing;
    }
}
