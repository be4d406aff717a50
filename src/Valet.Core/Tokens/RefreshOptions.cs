using Microsoft.Extensions.Options;

namespace Valet.Core.Tokens;

/// <summary>What to do with a token whose response carried no <c>expires_in</c>.</summary>
public enum NoExpiryPolicy
{
    /// <summary>
    /// The token is treated as non-expiring (<c>ExpiresAt</c> null): it is never refreshed on a timer, only when a
    /// caller forces it (the proxy after an upstream 401). GitHub OAuth apps and Notion behave like this.
    /// </summary>
    NonExpiring = 0,

    /// <summary>The token is assumed to live <see cref="RefreshOptions.NoExpiryAssumedLifetime"/> and refreshed like any other.</summary>
    AssumedLifetime = 1,
}

/// <summary>Refresh behaviour, bound from the configuration section <c>Refresh</c> (TimeSpans as <c>hh:mm:ss</c>).</summary>
public sealed record RefreshOptions
{
    public const string SectionName = "Refresh";

    /// <summary>A token that expires within this window is refreshed before it is handed out.</summary>
    public TimeSpan Skew { get; init; } = TimeSpan.FromMinutes(2);

    /// <summary>Upper bound on one token-endpoint call; past it the outcome is unknown (see docs/refresh.md).</summary>
    public TimeSpan ProviderTimeout { get; init; } = TimeSpan.FromSeconds(20);

    /// <summary>Upper bound on waiting for another holder of the connection's refresh lock. Must exceed <see cref="ProviderTimeout"/>.</summary>
    public TimeSpan LockTimeout { get; init; } = TimeSpan.FromSeconds(45);

    /// <summary>The background refresher renews a token this long before it expires (at most half its lifetime).</summary>
    public TimeSpan ProactiveLead { get; init; } = TimeSpan.FromMinutes(5);

    /// <summary>How often the background refresher polls for due connections (plus up to <see cref="Jitter"/>).</summary>
    public TimeSpan ProactiveInterval { get; init; } = TimeSpan.FromSeconds(15);

    /// <summary>How long a claimed connection stays invisible to other nodes' refreshers. Must exceed <see cref="ProviderTimeout"/>.</summary>
    public TimeSpan ClaimLease { get; init; } = TimeSpan.FromMinutes(5);

    /// <summary>Connections claimed per poll.</summary>
    public int BatchSize { get; init; } = 50;

    /// <summary>Provider calls the background refresher makes at once.</summary>
    public int MaxConcurrency { get; init; } = 8;

    /// <summary>Random spread added to the poll interval and to every backoff, so nodes and retries do not align.</summary>
    public TimeSpan Jitter { get; init; } = TimeSpan.FromSeconds(30);

    /// <summary>First retry delay after a transient failure; doubles per consecutive failure.</summary>
    public TimeSpan BackoffBase { get; init; } = TimeSpan.FromSeconds(30);

    /// <summary>Cap of the exponential part of the backoff (a provider's larger Retry-After still wins).</summary>
    public TimeSpan BackoffMax { get; init; } = TimeSpan.FromMinutes(15);

    /// <summary>
    /// How long a refresh keeps trying to store tokens the provider issued when the first write failed (the database was
    /// unreachable or busy): the provider may have rotated the refresh token, so dropping the answer loses the grant.
    /// </summary>
    public TimeSpan CommitRetryWindow { get; init; } = TimeSpan.FromSeconds(60);

    public NoExpiryPolicy NoExpiryPolicy { get; init; } = NoExpiryPolicy.NonExpiring;

    /// <summary>Only with <see cref="NoExpiryPolicy.AssumedLifetime"/>.</summary>
    public TimeSpan NoExpiryAssumedLifetime { get; init; } = TimeSpan.FromHours(1);
}

/// <summary>Reports every problem of <see cref="RefreshOptions"/> at once, so a bad configuration fails the boot with one message.</summary>
public sealed class RefreshOptionsValidator : IValidateOptions<RefreshOptions>
{
    public ValidateOptionsResult Validate(string? name, RefreshOptions options)
    {
        var problems = new List<string>();

        void Positive(TimeSpan value, string key)
        {
            if (value <= TimeSpan.Zero)
            {
                problems.Add($"Refresh:{key} must be greater than zero (was {value}).");
            }
        }

        if (options.Skew < TimeSpan.Zero)
        {
            problems.Add($"Refresh:Skew must not be negative (was {options.Skew}).");
        }

        Positive(options.ProviderTimeout, nameof(options.ProviderTimeout));
        Positive(options.ProactiveInterval, nameof(options.ProactiveInterval));
        Positive(options.BackoffBase, nameof(options.BackoffBase));
        Positive(options.CommitRetryWindow, nameof(options.CommitRetryWindow));

        if (options.LockTimeout <= options.ProviderTimeout)
        {
            problems.Add($"Refresh:LockTimeout ({options.LockTimeout}) must exceed Refresh:ProviderTimeout ({options.ProviderTimeout}): a waiter must outlast the holder's provider call.");
        }

        if (options.ClaimLease <= options.ProviderTimeout)
        {
            problems.Add($"Refresh:ClaimLease ({options.ClaimLease}) must exceed Refresh:ProviderTimeout ({options.ProviderTimeout}).");
        }

        if (options.ProactiveLead < options.Skew)
        {
            problems.Add($"Refresh:ProactiveLead ({options.ProactiveLead}) must be at least Refresh:Skew ({options.Skew}), or agents refresh before the background refresher does.");
        }

        if (options.BatchSize is < 1 or > 1000)
        {
            problems.Add($"Refresh:BatchSize must be between 1 and 1000 (was {options.BatchSize}).");
        }

        if (options.MaxConcurrency is < 1 or > 256)
        {
            problems.Add($"Refresh:MaxConcurrency must be between 1 and 256 (was {options.MaxConcurrency}).");
        }

        if (options.Jitter < TimeSpan.Zero)
        {
            problems.Add($"Refresh:Jitter must not be negative (was {options.Jitter}).");
        }

        if (options.BackoffMax < options.BackoffBase)
        {
            problems.Add($"Refresh:BackoffMax ({options.BackoffMax}) must be at least Refresh:BackoffBase ({options.BackoffBase}).");
        }

        if (!Enum.IsDefined(options.NoExpiryPolicy))
        {
            problems.Add($"Refresh:NoExpiryPolicy must be one of {string.Join(", ", Enum.GetNames<NoExpiryPolicy>())}.");
        }
        else if (options.NoExpiryPolicy == NoExpiryPolicy.AssumedLifetime && options.NoExpiryAssumedLifetime <= options.Skew)
        {
            problems.Add($"Refresh:NoExpiryAssumedLifetime ({options.NoExpiryAssumedLifetime}) must exceed Refresh:Skew ({options.Skew}).");
        }

        return problems.Count == 0 ? ValidateOptionsResult.Success : ValidateOptionsResult.Fail(problems);
    }
}
