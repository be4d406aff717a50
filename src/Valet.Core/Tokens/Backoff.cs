namespace Valet.Core.Tokens;

/// <summary>Retry delay after consecutive transient refresh failures. Pure, so its bounds are unit-tested.</summary>
public static class Backoff
{
    /// <summary>
    /// <c>min(max, base · 2^(failures−1)) + jitter · random01</c>. Bounds: <c>[base, max + jitter]</c>; failures below 1
    /// count as 1; never overflows.
    /// </summary>
    /// <param name="random01">A value in [0, 1); clamped.</param>
    public static TimeSpan Compute(int failures, TimeSpan baseDelay, TimeSpan maxDelay, TimeSpan jitter, double random01)
    {
        var exponent = Math.Clamp(failures, 1, 63) - 1;
        var ticks = baseDelay.Ticks * Math.Pow(2, exponent);
        var capped = ticks >= maxDelay.Ticks ? maxDelay : TimeSpan.FromTicks((long)ticks);
        if (capped < baseDelay)
        {
            capped = baseDelay;
        }

        var spread = jitter <= TimeSpan.Zero ? TimeSpan.Zero : TimeSpan.FromTicks((long)(jitter.Ticks * Math.Clamp(random01, 0, 1)));
        return capped + spread;
    }

    /// <summary>The backoff, unless the provider asked for a longer wait (Retry-After).</summary>
    public static TimeSpan WithRetryAfter(TimeSpan backoff, TimeSpan? retryAfter) =>
        retryAfter is { } asked && asked > backoff ? asked : backoff;
}
