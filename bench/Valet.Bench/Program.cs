using BenchmarkDotNet.Configs;
using BenchmarkDotNet.Running;

namespace Valet.Bench;

/// <summary>
/// One command per benchmark: <c>dotnet run -c Release --project bench/Valet.Bench -- NAME</c>.
/// Each prints its figures, including ratios measured in the same run.
/// </summary>
internal static class Program
{
    public static async Task<int> Main(string[] args)
    {
        var name = args.FirstOrDefault() ?? "help";
        switch (name)
        {
            case "crypto":
                BenchmarkRunner.Run<CryptoBenchmarks>(DefaultConfig.Instance.WithOptions(ConfigOptions.DisableOptimizationsValidator), args[1..]);
                return 0;
            case "token":
                await TokenBench.RunThroughputAsync(TimeSpan.FromSeconds(args.Length > 1 ? int.Parse(args[1], System.Globalization.CultureInfo.InvariantCulture) : 10), args.Length > 2 ? int.Parse(args[2], System.Globalization.CultureInfo.InvariantCulture) : 32);
                return 0;
            case "storm":
                await TokenBench.RunStormAsync(1000);
                return 0;
            default:
                await Console.Error.WriteLineAsync("usage: dotnet run -c Release --project bench/Valet.Bench -- crypto|token [SECONDS]|storm");
                return name == "help" ? 0 : 2;
        }
    }
}
