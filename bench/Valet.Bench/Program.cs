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
            default:
                await Console.Error.WriteLineAsync("usage: dotnet run -c Release --project bench/Valet.Bench -- crypto");
                return name == "help" ? 0 : 2;
        }
    }
}
