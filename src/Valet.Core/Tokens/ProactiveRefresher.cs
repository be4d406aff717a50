using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using Valet.Core.Stores;

namespace Valet.Core.Tokens;

/// <summary>
/// Renews tokens before they expire: every <see cref="RefreshOptions.ProactiveInterval"/> (+ jitter) it claims due
/// connections (<see cref="IConnectionStore.ClaimDueAsync"/>: on PostgreSQL <c>SKIP LOCKED</c>, so nodes share the work)
/// and refreshes them through the <see cref="RefreshCoordinator"/>, at most <see cref="RefreshOptions.MaxConcurrency"/> at once.
/// </summary>
public sealed class ProactiveRefresher(
    IConnectionStore connections,
    RefreshCoordinator coordinator,
    IOptionsMonitor<RefreshOptions> options,
    TimeProvider time,
    ValetMetrics metrics,
    ILogger<ProactiveRefresher> logger) : BackgroundService
{
    /// <summary>One pass: claim a batch of due connections and refresh them. Returns how many were claimed.</summary>
    public async Task<int> RunOnceAsync(CancellationToken cancellationToken)
    {
        var settings = options.CurrentValue;
        var now = time.GetUtcNow();
        var claimed = await connections.ClaimDueAsync(now, now + settings.ClaimLease, settings.BatchSize, cancellationToken);
        if (claimed.Count == 0)
        {
            return 0;
        }

        TokensLog.Claimed(logger, claimed.Count);
        foreach (var connection in claimed)
        {
            if (connection.NextRefreshAt is { } due && due <= now)
            {
                metrics.Lag(now - due);
            }
        }

        var parallel = new ParallelOptions { MaxDegreeOfParallelism = settings.MaxConcurrency, CancellationToken = cancellationToken };
        await Parallel.ForEachAsync(claimed, parallel, async (connection, ct) =>
        {
            try
            {
                // Outcomes are stored by the coordinator (new tokens, backoff, reauth_required); nothing more to do here.
                await coordinator.RefreshAsync(connection.Id, RefreshReason.Proactive, connection, ct);
            }
            catch (System.Data.Common.DbException ex) when (ex.IsTransient && !ct.IsCancellationRequested)
            {
                TokensLog.ProactiveRefreshStorageDown(logger, connection.Id, Describe(ex));
            }
            catch (Exception ex) when (!ct.IsCancellationRequested)
            {
                TokensLog.ProactiveRefreshFailed(logger, ex, connection.Id);
            }
        });

        return claimed.Count;
    }

    /// <summary>The error's kind and, for a database's own refusal, its SQLSTATE (57P01: the server is shutting down).</summary>
    private static string Describe(System.Data.Common.DbException error) =>
        error.SqlState is { Length: > 0 } state ? $"{error.GetType().Name} {state}" : error.GetType().Name;

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        while (!stoppingToken.IsCancellationRequested)
        {
            var claimed = 0;
            try
            {
                claimed = await RunOnceAsync(stoppingToken);
            }
            catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
            {
                return;
            }
            catch (System.Data.Common.DbException ex) when (ex.IsTransient)
            {
                // The database is away (a restart, a failover, a network cut): one line a pass, as the device poller logs
                // it (3024), not a stack trace every few seconds for as long as the outage lasts.
                TokensLog.ProactivePassStorageDown(logger, Describe(ex));
            }
            catch (Exception ex)
            {
                TokensLog.ProactivePassFailed(logger, ex);
            }

            var settings = options.CurrentValue;
            try
            {
                // A full batch means more may be due: go again at once rather than fall behind.
                if (claimed < settings.BatchSize)
                {
                    var jitter = TimeSpan.FromTicks((long)(settings.Jitter.Ticks * Random.Shared.NextDouble()));
                    await Task.Delay(settings.ProactiveInterval + jitter, time, stoppingToken);
                }
            }
            catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
            {
                return;
            }
        }
    }
}
