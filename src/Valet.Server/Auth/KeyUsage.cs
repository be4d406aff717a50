using System.Collections.Concurrent;
using System.Threading.Channels;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Valet.Core.Domain;
using Valet.Core.Stores;

namespace Valet.Server.Auth;

/// <summary>
/// An API key's <c>last_used_at</c>, to within <see cref="Resolution"/>: the first successful use of a key in each such
/// window (per node) is queued, and a background loop writes it to the store; every other use costs one dictionary
/// lookup. The request never waits for the write (SQLite's "async" calls run synchronously, so calling the store from the
/// request would have). The stamp lives in a table of its own (0011_key_usage.sql), so recording it invalidates no cache
/// on any node. A write that fails is logged; the key's next use a window later records it again. On shutdown the queue
/// is drained.
/// </summary>
internal sealed partial class KeyUsage(IApiKeyStore keys, TimeProvider time, ILogger<KeyUsage> logger) : IHostedService
{
    public static readonly TimeSpan Resolution = TimeSpan.FromMinutes(1);

    /// <summary>Beyond this many remembered keys the memory is dropped (which only costs a write per key again).</summary>
    private const int MaxRemembered = 100_000;

    // Key id → when this node last queued a use of it (Unix milliseconds).
    private readonly ConcurrentDictionary<string, long> _recorded = new(StringComparer.Ordinal);

    // Best effort by design: a full queue (the database stalled) drops a stamp rather than make a request wait.
    private readonly Channel<(string KeyId, DateTimeOffset At)> _queue = Channel.CreateBounded<(string, DateTimeOffset)>(
        new BoundedChannelOptions(4096) { SingleReader = true, FullMode = BoundedChannelFullMode.DropWrite });

    private Task _writer = Task.CompletedTask;

    public void Used(ApiKey key)
    {
        var now = time.GetUtcNow();
        var nowMs = now.ToUnixTimeMilliseconds();
        var known = _recorded.TryGetValue(key.Id, out var last);
        if (known && nowMs - last < Resolution.TotalMilliseconds)
        {
            return;
        }

        // One caller per window queues it: whoever swaps the stamp.
        if (!(known ? _recorded.TryUpdate(key.Id, nowMs, last) : _recorded.TryAdd(key.Id, nowMs)))
        {
            return;
        }

        if (!known && _recorded.Count > MaxRemembered)
        {
            _recorded.Clear();
        }

        _queue.Writer.TryWrite((key.Id, now));
    }

    public Task StartAsync(CancellationToken cancellationToken)
    {
        _writer = Task.Run(WriteAsync, CancellationToken.None);
        return Task.CompletedTask;
    }

    public async Task StopAsync(CancellationToken cancellationToken)
    {
        _queue.Writer.TryComplete();
        try
        {
            await _writer.WaitAsync(cancellationToken);
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
        {
        }
    }

    private async Task WriteAsync()
    {
        await foreach (var (keyId, at) in _queue.Reader.ReadAllAsync())
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
    }

    [LoggerMessage(EventId = 2023, Level = LogLevel.Warning, Message = "Could not record the use of API key {KeyId}: {ErrorType}")]
    private static partial void LogRecordFailed(ILogger logger, string keyId, string errorType);
}
