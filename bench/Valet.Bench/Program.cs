namespace Valet.Bench;

/// <summary>
/// One entry point, one benchmark per argument: <c>dotnet run -c Release --project bench/Valet.Bench -- proxy</c>.
/// Each benchmark prints its own figures and ratios, measured in the same run.
/// </summary>
internal static class Program
{
    public static async Task<int> Main(string[] args)
    {
        var name = args.Length > 0 ? args[0] : string.Empty;
        var rest = args.Length > 1 ? args[1..] : [];
        switch (name)
        {
            case "proxy":
                return await ProxyBenchmark.RunAsync(rest);
            default:
                await Console.Error.WriteLineAsync("usage: Valet.Bench <benchmark> [options]\n  proxy [--seconds N] [--concurrency N]   proxy vs bare YARP, same upstream");
                return 2;
        }
    }
}
