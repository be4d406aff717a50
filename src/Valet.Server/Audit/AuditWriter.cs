using System.Threading.Channels;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Valet.Core.Domain;
using Valet.Core.Stores;

namespace Valet.Server.Audit;

/// <summary>
/// Takes audit events off the request path: a proxied call enqueues its event and returns; one background loop stores
/// them in order. The queue is bounded, so a stalled database slows callers down rather than growing memory; on
/// shutdown the queue is drained.
/// </summary>
internal sealed partial class AuditWriter(IAuditStore store, ILogger<AuditWriter> logger) : BackgroundService
{
    private readonly Channel<AuditEvent> _queue = Channel.CreateBounded<AuditEvent>(
        new BoundedChannelOptions(10_000) { SingleReader = true, FullMode = BoundedChannelFullMode.Wait });

    public ValueTask EnqueueAsync(AuditEvent auditEvent, CancellationToken cancellationToken) =>
        _queue.Writer.TryWrite(auditEvent) ? ValueTask.CompletedTask : _queue.Writer.WriteAsync(auditEvent, cancellationToken);

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        try
        {
            // Under load, write what has queued up in one transaction rather than one insert per call.
            var batch = new List<AuditEvent>(MaxBatch);
            while (await _queue.Reader.WaitToReadAsync(stoppingToken))
            {
                while (batch.Count < MaxBatch && _queue.Reader.TryRead(out var auditEvent))
                {
                    batch.Add(auditEvent);
                }

                await StoreAsync(batch, CancellationToken.None);
                batch.Clear();
            }
        }
        catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
        {
            // Stopping: drain what is already queued.
        }

        _queue.Writer.TryComplete();
        var rest = new List<AuditEvent>();
        while (_queue.Reader.TryRead(out var pending))
        {
            rest.Add(pending);
        }

        await StoreAsync(rest, CancellationToken.None);
    }

    private const int MaxBatch = 256;

    private async Task StoreAsync(List<AuditEvent> batch, CancellationToken cancellationToken)
    {
        if (batch.Count == 0)
        {
            return;
        }

        try
        {
            await store.AppendManyAsync(batch, cancellationToken);
        }
        catch (Exception error) when (error is not OutOfMemoryException)
        {
            LogAppendFailed(logger, batch.Count, batch[0].OrgId, error.GetType().Name);
        }
    }

    [LoggerMessage(EventId = 5100, Level = LogLevel.Error, Message = "Could not store {Count} audit event(s) (first of org {OrgId}): {ErrorType}")]
    private static partial void LogAppendFailed(ILogger logger, int count, string orgId, string errorType);
}
