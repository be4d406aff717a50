using System.Diagnostics;
using System.Globalization;

namespace Valet.Bench;

/// <summary>One load phase of the in-process benches (<c>proxy</c>, <c>mcp</c>): requests, errors, wall time, sorted latencies.</summary>
internal sealed record RoundResult(long Requests, long Errors, double Seconds, double[] LatenciesMs)
{
    public double Rps => Requests / Seconds;

    public double Percentile(double p) => LatenciesMs.Length == 0 ? double.NaN : LatenciesMs[Math.Min(LatenciesMs.Length - 1, (int)(p * LatenciesMs.Length))];

    /// <summary>Several rounds as one: their requests, errors and time summed, their latencies merged and sorted.</summary>
    public static RoundResult Merge(List<RoundResult> results)
    {
        var latencies = results.SelectMany(r => r.LatenciesMs).ToArray();
        Array.Sort(latencies);
        return new RoundResult(results.Sum(r => r.Requests), results.Sum(r => r.Errors), results.Sum(r => r.Seconds), latencies);
    }

    /// <summary>
    /// Runs <paramref name="concurrency"/> workers for <paramref name="duration"/>; each is made by <paramref name="newWorker"/>
    /// (so it may own buffers) and answers whether its call succeeded.
    /// </summary>
    public static async Task<RoundResult> MeasureAsync(Func<Func<Task<bool>>> newWorker, int concurrency, TimeSpan duration)
    {
        var stop = Stopwatch.StartNew();
        long errors = 0;
        var workers = Enumerable.Range(0, concurrency).Select(_ => Task.Run(async () =>
        {
            var call = newWorker();
            var latencies = new List<double>(1 << 16);
            while (stop.Elapsed < duration)
            {
                var start = Stopwatch.GetTimestamp();
                var ok = await call();
                latencies.Add(Stopwatch.GetElapsedTime(start).TotalMilliseconds);
                if (!ok)
                {
                    Interlocked.Increment(ref errors);
                }
            }

            return latencies;
        })).ToArray();
        var all = (await Task.WhenAll(workers)).SelectMany(l => l).ToArray();
        var elapsed = stop.Elapsed.TotalSeconds;
        Array.Sort(all);
        return new RoundResult(all.Length, errors, elapsed, all);
    }

    /// <summary>One phase's two sides (merged rounds), the throughput ratio per round and overall, the added latency.</summary>
    public static void PrintComparison(string phase, string baseLabel, List<RoundResult> baseRounds, string label, List<RoundResult> rounds,
        double? goal = null)
    {
        var c = CultureInfo.InvariantCulture;
        var baseline = Merge(baseRounds);
        var measured = Merge(rounds);
        var perRound = baseRounds.Zip(rounds, (b, m) => m.Rps / b.Rps).ToList();
        var ratio = measured.Rps / baseline.Rps;
        var width = Math.Max(baseLabel.Length, label.Length);
        var verdict = goal is { } g ? string.Create(c, $"; goal >= {g * 100:F0}%: {(ratio >= g ? "met" : "NOT met")}") : string.Empty;
        Console.WriteLine($"== {phase}");
        Console.WriteLine(string.Create(c, $"  {baseLabel.PadRight(width)} : {baseline.Rps,9:F0} req/s  p50 {baseline.Percentile(0.5),7:F3} ms  p99 {baseline.Percentile(0.99),7:F3} ms  errors {baseline.Errors}"));
        Console.WriteLine(string.Create(c, $"  {label.PadRight(width)} : {measured.Rps,9:F0} req/s  p50 {measured.Percentile(0.5),7:F3} ms  p99 {measured.Percentile(0.99),7:F3} ms  errors {measured.Errors}"));
        Console.WriteLine(string.Create(c, $"  throughput ratio {ratio:P1} (per round: {string.Join(", ", perRound.Select(r => r.ToString("P0", c)))}{verdict})   " +
            $"added p50 {measured.Percentile(0.5) - baseline.Percentile(0.5):F3} ms   added p99 {measured.Percentile(0.99) - baseline.Percentile(0.99):F3} ms"));
    }
}
