using System.Globalization;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Valet.Core;

namespace Valet.Server.Hosting;

internal static class RuntimeStatsServiceCollectionExtensions
{
    public const string IntervalKey = "Diagnostics:RuntimeStatsInterval";

    /// <summary>
    /// Opt-in: when <c>Diagnostics:RuntimeStatsInterval</c> (<c>VALET_DIAGNOSTICS__RUNTIMESTATSINTERVAL</c>, e.g.
    /// <c>00:00:10</c>) is above zero, one Information line of GC and memory figures is logged at that interval, so a
    /// soak run (or an operator without a metrics pipeline) can watch a node's heap from its log. Off by default.
    /// </summary>
    public static IServiceCollection AddValetRuntimeStats(this IServiceCollection services, IConfiguration configuration)
    {
        var raw = configuration[IntervalKey];
        if (string.IsNullOrWhiteSpace(raw))
        {
            return services;
        }

        if (!TimeSpan.TryParse(raw, CultureInfo.InvariantCulture, out var interval) || interval < TimeSpan.Zero)
        {
            throw new ValetConfigurationException($"{IntervalKey} must be a non-negative TimeSpan such as 00:00:10 (was '{raw}').");
        }

        if (interval > TimeSpan.Zero)
        {
            services.TryAddEnumerable(ServiceDescriptor.Singleton<IHostedService, RuntimeStats>(sp =>
                new RuntimeStats(interval, sp.GetRequiredService<TimeProvider>(), sp.GetRequiredService<ILogger<RuntimeStats>>())));
        }

        return services;
    }
}

/// <summary>Logs GC heap, working set, collection counts and thread-pool size every <c>interval</c>.</summary>
internal sealed partial class RuntimeStats(TimeSpan interval, TimeProvider time, ILogger<RuntimeStats> logger) : BackgroundService
{
    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        using var timer = new PeriodicTimer(interval, time);
        try
        {
            do
            {
                // Heap size as of the last GC: what survived, plus fragmentation. Growth of this across GCs is the leak signal;
                // GC.GetTotalMemory(false) also counts garbage not yet collected, so it saws up and down with the gen0 budget.
                var info = GC.GetGCMemoryInfo();
                Report(logger, info.HeapSizeBytes, GC.GetTotalMemory(forceFullCollection: false), Environment.WorkingSet,
                    GC.CollectionCount(0), GC.CollectionCount(1), GC.CollectionCount(2), ThreadPool.ThreadCount);
            }
            while (await timer.WaitForNextTickAsync(stoppingToken));
        }
        catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
        {
        }
    }

    [LoggerMessage(EventId = 1050, Level = LogLevel.Information,
        Message = "Runtime: gc_heap_bytes={GcHeapBytes} gc_allocated_bytes={GcAllocatedBytes} working_set_bytes={WorkingSetBytes} gen0={Gen0} gen1={Gen1} gen2={Gen2} threadpool_threads={ThreadPoolThreads}")]
    private static partial void Report(ILogger logger, long gcHeapBytes, long gcAllocatedBytes, long workingSetBytes, int gen0, int gen1, int gen2,
        int threadPoolThreads);
}
