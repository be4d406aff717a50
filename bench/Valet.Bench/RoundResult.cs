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
}
