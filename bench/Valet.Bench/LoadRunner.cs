using System.Diagnostics;

namespace Valet.Bench;

/// <summary>Throughput and latency percentiles of one HTTP call under fixed concurrency for a fixed time.</summary>
internal sealed record LoadResult(string Name, long Requests, long Failures, double Seconds, double P50Ms, double P99Ms)
{
    public double Throughput => Requests / Seconds;

    public override string ToString() =>
        $"{Name,-28} {Throughput,10:F0} req/s   p50 {P50Ms,7:F3} ms   p99 {P99Ms,7:F3} ms   ({Requests} requests, {Failures} failed)";
}

internal static class LoadRunner
{
    public static async Task<LoadResult> RunAsync(string name, int concurrency, TimeSpan duration, Func<Task<bool>> call)
    {
        var latencies = new List<double>[concurrency];
        long failures = 0;
        var stop = Stopwatch.StartNew();
        var workers = Enumerable.Range(0, concurrency).Select(async i =>
        {
            var mine = latencies[i] = new List<double>(64 * 1024);
            while (stop.Elapsed < duration)
            {
                var started = Stopwatch.GetTimestamp();
                var ok = await call();
                mine.Add(Stopwatch.GetElapsedTime(started).TotalMilliseconds);
                if (!ok)
                {
                    Interlocked.Increment(ref failures);
                }
            }
        }).ToArray();
        await Task.WhenAll(workers);
        var elapsed = stop.Elapsed.TotalSeconds;
        var all = latencies.SelectMany(l => l).Order().ToArray();
        return new LoadResult(name, all.Length, failures, elapsed, Percentile(all, 0.50), Percentile(all, 0.99));
    }

    private static double Percentile(double[] sorted, double p) => sorted.Length == 0 ? double.NaN : sorted[(int)Math.Min(sorted.Length - 1, p * sorted.Length)];
}
