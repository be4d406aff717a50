using System.Threading.Channels;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Valet.Core.Domain;
using Valet.Core.Stores;

namespace Valet.Server.Audit;

/// <summary>
/// Takes audit events off the request path: a proxied call enqueues its event and returns; one writer stores them in
/// order, in batches. The queue is bounded, so a stalled database slows callers down rather than growing memory; on
/// shutdown the queue is drained.
/// <para>
/// The writer runs on a thread of its own, not the thread pool: SQLite's "async" calls run synchronously, and a batch
/// insert holding one of a small machine's few pool threads for milliseconds showed up as proxy tail latency
/// (docs/proxy.md, Benchmark). Blocking here blocks only this thread, and a batch is stored synchronously on it on both
/// backends (<see cref="IAuditStore.AppendMany"/>), so PostgreSQL's COPY does not run on the pool either.
/// On Linux the thread also runs at a lower scheduling priority, so on a busy machine a batch yields to requests; if it
/// falls behind, the bounded queue makes callers wait rather than lose events.
/// </para>
/// </summary>
internal sealed partial class AuditWriter(IAuditStore store, TimeProvider time, ILogger<AuditWriter> logger) : IHostedService, IDisposable
{
    /// <summary>
    /// How long the writer lets events gather after the first one arrives, so a burst (or a steady stream) is stored in one
    /// transaction instead of one per call. Events are readable through the audit API within about this long.
    /// </summary>
    public static readonly TimeSpan Linger = TimeSpan.FromMilliseconds(50);

    private const int MaxBatch = 512;

    private readonly Channel<AuditEvent> _queue = Channel.CreateBounded<AuditEvent>(
        new BoundedChannelOptions(20_000) { SingleReader = true, FullMode = BoundedChannelFullMode.Wait });

    private readonly CancellationTokenSource _stopping = new();
    private readonly TaskCompletionSource _drained = new(TaskCreationOptions.RunContinuationsAsynchronously);

    public ValueTask EnqueueAsync(AuditEvent auditEvent, CancellationToken cancellationToken) =>
        _queue.Writer.TryWrite(auditEvent) ? ValueTask.CompletedTask : _queue.Writer.WriteAsync(auditEvent, cancellationToken);

    public Task StartAsync(CancellationToken cancellationToken)
    {
        new Thread(Run) { IsBackground = true, Name = "Valet audit writer" }.Start();
        return Task.CompletedTask;
    }

    public async Task StopAsync(CancellationToken cancellationToken)
    {
        await _stopping.CancelAsync();
        try
        {
            // The drain finishes on the writer's thread; wait for it as long as the host lets us.
            await _drained.Task.WaitAsync(cancellationToken);
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
        {
        }
    }

    public void Dispose() => _stopping.Dispose();

    private void Run()
    {
        BackgroundPriority.Lower();
        var batch = new List<AuditEvent>(MaxBatch);
        var stoppingToken = _stopping.Token;
        try
        {
            while (_queue.Reader.WaitToReadAsync(stoppingToken).AsTask().GetAwaiter().GetResult())
            {
                if (_queue.Reader.Count < MaxBatch)
                {
                    Task.Delay(Linger, time, stoppingToken).GetAwaiter().GetResult();
                }

                while (batch.Count < MaxBatch && _queue.Reader.TryRead(out var auditEvent))
                {
                    batch.Add(auditEvent);
                }

                Store(batch);
            }
        }
        catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
        {
            // Stopping: drain what is already queued (below).
        }

        _queue.Writer.TryComplete();
        while (_queue.Reader.TryRead(out var pending))
        {
            batch.Add(pending);
            if (batch.Count == MaxBatch)
            {
                Store(batch);
            }
        }

        Store(batch);
        _drained.TrySetResult();
    }

    private void Store(List<AuditEvent> batch)
    {
        if (batch.Count == 0)
        {
            return;
        }

        try
        {
            store.AppendMany(batch);
        }
        catch (Exception error) when (error is not OutOfMemoryException)
        {
            LogAppendFailed(logger, batch.Count, batch[0].OrgId, error.GetType().Name);
        }

        batch.Clear();
    }

    [LoggerMessage(EventId = 5100, Level = LogLevel.Error, Message = "Could not store {Count} audit event(s) (first of org {OrgId}): {ErrorType}")]
    private static partial void LogAppendFailed(ILogger logger, int count, string orgId, string errorType);
}
