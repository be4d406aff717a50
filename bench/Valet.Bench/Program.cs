using System.Globalization;
using BenchmarkDotNet.Configs;
using BenchmarkDotNet.Running;

namespace Valet.Bench;

/// <summary>
/// One command per benchmark: <c>dotnet run -c Release --project bench/Valet.Bench -- NAME</c>.
/// Each prints its figures, including ratios measured in the same run.
/// </summary>
internal static class Program
{
    private const string Usage = """
        usage: dotnet run -c Release --project bench/Valet.Bench -- NAME [options]
          crypto                              seal+open of a 2 KB token, API-key verification (BenchmarkDotNet)
          token [SECONDS] [CONCURRENCY]       token route vs /healthz, SQLite and PostgreSQL
          storm                               1,000 concurrent callers on an expired token
          proxy [--seconds N] [--concurrency N] [--rounds N] [--warmup S]
                                              proxy vs a bare YARP forwarder, same upstream
          external [--seconds N] [--rounds N] [--connections N] [--warmup S] [--only token|proxy] [--backend sqlite|postgres]
                 [--postgres-core server|load]
                                              token route and proxy from outside: wrk on its own core vs bare baselines
          mcp [--seconds N] [--concurrency N] [--rounds N] [--warmup S]
                                              call_api through /mcp vs the plain proxy route, same upstream
          soak [--minutes N] [--nodes N] [--workers N] [--rate N] [--token-lifetime S]
                                              valet serve nodes on PostgreSQL under steady mixed load (docs/soak.md)
          scale [--orgs N] [--seconds N] [--rounds N] [--idp-latency MS] [--only token,memory,refresh,explain]
                                              1M connections on PostgreSQL: token route vs 1k, cache memory, refresher, EXPLAIN (docs/scale.md)
          audit [--rows N]                    what one audit row (one per proxied call) costs PostgreSQL, wall and CPU (docs/performance.md)
        """;

    public static async Task<int> Main(string[] args)
    {
        var name = args.FirstOrDefault() ?? "help";
        var rest = args.Length > 1 ? args[1..] : [];
        switch (name)
        {
            case "crypto":
                BenchmarkRunner.Run<CryptoBenchmarks>(DefaultConfig.Instance.WithOptions(ConfigOptions.DisableOptimizationsValidator), rest);
                return 0;
            case "token":
                await TokenBench.RunThroughputAsync(
                    TimeSpan.FromSeconds(rest.Length > 0 ? int.Parse(rest[0], CultureInfo.InvariantCulture) : 10),
                    rest.Length > 1 ? int.Parse(rest[1], CultureInfo.InvariantCulture) : 32);
                return 0;
            case "storm":
                await TokenBench.RunStormAsync(1000);
                return 0;
            case "proxy":
                return await ProxyBenchmark.RunAsync(rest);
            case "external":
                return await ExternalBench.RunAsync(rest);
            case "bare":
                return await BareServers.RunAsync(rest);
            case "mcp":
                return await McpBench.RunAsync(rest);
            case "soak":
                return await Soak.SoakBench.RunAsync(rest);
            case "scale":
                return await ScaleBench.RunAsync(rest);
            case "audit":
                return await AuditBench.RunAsync(rest);
            default:
                await Console.Error.WriteLineAsync(Usage);
                return name == "help" ? 0 : 2;
        }
    }
}
