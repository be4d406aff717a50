using System.Collections.Concurrent;
using Microsoft.Extensions.Logging;
using Valet.Core.Domain;
using Valet.Core.Stores;

namespace Valet.Server.Auth;

/// <summary>
/// An API key's <c>last_used_at</c>, to within <see cref="Resolution"/>: the first successful use of a key in each such
/// window (per node) is written to the store, off the request (a fire-and-forget write, one per key per minute); every
/// other use costs one dictionary lookup. The stamp lives in a table of its own (0011_key_usage.sql), so recording it
/// invalidates no cache on any node. A write that fails is logged and tried again a window later.
/// </summary>
internal sealed partial class KeyUsage(IApiKeyStore keys, TimeProvider time, ILogger<KeyUsage> logger)
{
    public static readonly TimeSpan Resolution = TimeSpan.FromMinutes(1);

    /// <summary>Beyond this many remembered keys the memory is dropped (which only costs a write per key again).</summary>
    private const int MaxRemembered = 100_000;

    // Key id → when this node last recorded a use of it (Unix milliseconds).
    private readonly ConcurrentDictionary<string, long> _recorded = new(StringComparer.Ordinal);

    public void Used(ApiKey key)
    {
        var now = time.GetUtcNow();
        var nowMs = now.ToUnixTimeMilliseconds();
        var known = _recorded.TryGetValue(key.Id, out var last);
        if (known && nowMs - last < Resolution.TotalMilliseconds)
        {
            return;
        }

        // One caller per window records it: whoever swaps the stamp.
        if (!(known ? _recorded.TryUpdate(key.Id, nowMs, last) : _recorded.TryAdd(key.Id, nowMs)))
        {
            return;
        }

        if (!known && _recorded.Count > MaxRemembered)
        {
            _recorded.Clear();
        }

        _ = RecordAsync(key.Id, now);
    }

    private async Task RecordAsync(string keyId, DateTimeOffset at)
    {
        try
        {
            await keys.RecordUseAsync(keyId, at, CancellationToken.None);
        }
        catch (Exception error) when (error is not OutOfMemoryException)
        {
            LogRecordFailed(logger, keyId, error.GetType().Name);
        }
    }

    [LoggerMessage(EventId = 2023, Level = LogLevel.Warning, Message = "Could not record the use of API key {KeyId}: {ErrorType}")]
    private static partial void LogRecordFailed(ILogger logger, string keyId, string errorType);
}
