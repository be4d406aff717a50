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
            await foreach (var auditEvent in _queue.Reader.ReadAllAsync(stoppingToken))
            {
                await StoreAsync(auditEvent, CancellationToken.None);
            }
        }
        catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
        {
            // Stopping: drain what is already queued.
        }

        _queue.Writer.TryComplete();
        while (_queue.Reader.TryRead(out var pending))
        {
            await StoreAsync(pending, CancellationToken.None);
        }
    }

    private async Task StoreAsync(AuditEvent auditEvent, CancellationToken cancellationToken)
    {
        try
        {
            await store.AppendAsync(auditEvent, cancellationToken);
        }
        catch (Exception error) when (error is not OutOfMemoryException)
        {
            LogAppendFailed(logger, auditEvent.Kind, auditEvent.OrgId, error.GetType().Name);
        }
    }

    [LoggerMessage(EventId = 5100, Level = LogLevel.Error, Message = "Could not store a {Kind} audit event of org {OrgId}: {ErrorType}")]
    private static partial void LogAppendFailed(ILogger logger, string kind, string orgId, string errorType);
}
