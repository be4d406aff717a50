using System.Globalization;
using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Security.Cryptography;
using System.Text.Json;
using Valet.Tests.Infrastructure;

namespace Valet.Bench.Soak;

/// <summary>
/// <c>soak</c>: real <c>valet serve</c> nodes on one throwaway PostgreSQL under steady mixed load (token route, proxy,
/// bootstrap) for minutes, with a token short-lived enough that it is refreshed every few seconds. Prints a line per
/// minute (requests, errors, p50/p99 per kind, each node's RSS and GC heap) and a summary with a verdict. See docs/soak.md.
/// </summary>
internal static class SoakBench
{
    private const double MaxGrowth = 0.10;
    private static readonly CultureInfo C = CultureInfo.InvariantCulture;

    public static async Task<int> RunAsync(string[] args)
    {
        var minutes = Option(args, "--minutes", 10);
        var nodeCount = Option(args, "--nodes", 2);
        var workers = Option(args, "--workers", 12);
        var rate = Option(args, "--rate", 200);
        // Valet refreshes a token that expires within Refresh:Skew (default 2 min), so a 125 s token is handed out
        // fresh for 5 s after each refresh: a refresh every ~5 s under load, with the default settings.
        var lifetime = TimeSpan.FromSeconds(Option(args, "--token-lifetime", 125));

        using var stop = new CancellationTokenSource();
        Console.CancelKeyPress += (_, e) =>
        {
            e.Cancel = true;
            stop.Cancel();
        };

        var pg = new PostgresFixture();
        await pg.InitializeAsync();
        await using var provider = await SoakProvider.StartAsync(lifetime);
        var nodes = new List<SoakNode>();
        try
        {
            var database = await pg.CreateDatabaseAsync();
            var adminToken = Base64Url(RandomNumberGenerator.GetBytes(32));
            var urls = Enumerable.Range(0, nodeCount).Select(_ => new Uri($"http://127.0.0.1:{SoakNode.FreePort()}")).ToList();
            var environment = new Dictionary<string, string?>
            {
                ["VALET_DATABASE"] = database,
                ["VALET_ENCRYPTION_KEY"] = Convert.ToBase64String(RandomNumberGenerator.GetBytes(32)),
                ["VALET_ADMIN_TOKEN"] = adminToken,
                ["VALET_PUBLIC_URL"] = urls[0].ToString().TrimEnd('/'),
                ["VALET_DIAGNOSTICS__RUNTIMESTATSINTERVAL"] = "00:00:05",
                ["VALET_PROVIDERS__SOAK__AUTHORIZATIONENDPOINT"] = new Uri(provider.Url, "/authorize").ToString(),
                ["VALET_PROVIDERS__SOAK__TOKENENDPOINT"] = new Uri(provider.Url, "/token").ToString(),
                ["VALET_PROVIDERS__SOAK__APIBASEURL"] = new Uri(provider.Url, "/api").ToString(),
                ["VALET_PROVIDERS__SOAK__CLIENTID"] = "soak-client",
                ["VALET_PROVIDERS__SOAK__CLIENTSECRET"] = "soak-client-secret",
                ["VALET_PROVIDERS__SOAK__ALLOWPRIVATENETWORK"] = "true",
            };
            foreach (var url in urls)
            {
                // One at a time: the first applies the migrations.
                environment["VALET_DATA_DIR"] = Path.Combine(Path.GetTempPath(), "valet-soak-" + Guid.NewGuid().ToString("N")[..12]);
                nodes.Add(await SoakNode.StartAsync(url, new Dictionary<string, string?>(environment), stop.Token));
            }

            var (connectionId, key) = await SetUpAsync(urls[0], adminToken, lifetime);
            Console.WriteLine(string.Create(C,
                $"soak: {nodeCount} valet serve nodes (pids {string.Join(", ", nodes.Select(n => n.Pid))}) on PostgreSQL, {workers} workers at {rate} req/s " +
                $"(token 50%, proxy 40%, bootstrap 10%), token lifetime {lifetime.TotalSeconds:F0} s, {minutes} min, {Environment.ProcessorCount} CPUs"));
            return await SoakAsync(nodes, new SoakLoad(urls, key, connectionId, provider, workers, rate), provider, minutes, stop);
        }
        finally
        {
            foreach (var node in nodes)
            {
                await node.DisposeAsync();
            }

            await pg.DisposeAsync();
        }
    }

    private static async Task<int> SoakAsync(List<SoakNode> nodes, SoakLoad load, SoakProvider provider, int minutes, CancellationTokenSource stop)
    {
        using var loadStop = CancellationTokenSource.CreateLinkedTokenSource(stop.Token);
        var running = load.RunAsync(loadStop.Token);
        var started = DateTime.UtcNow;
        var total = new Window();
        var samples = new List<NodeMemory[]>();
        Console.WriteLine(Header(nodes.Count));
        try
        {
            for (var minute = 1; minute <= minutes && !stop.IsCancellationRequested; minute++)
            {
                var due = started + TimeSpan.FromMinutes(minute) - DateTime.UtcNow;
                if (due > TimeSpan.Zero)
                {
                    await Task.Delay(due, stop.Token);
                }

                var window = load.Swap();
                var memory = nodes.Select(n => n.Memory()).ToArray();
                samples.Add(memory);
                for (var k = 0; k < total.Latencies.Length; k++)
                {
                    total.Latencies[k].AddRange(window.Latencies[k]);
                }

                total.Errors += window.Errors;
                Console.WriteLine(Row(minute.ToString(C), window, memory, provider.Refreshes));
                if (nodes.FirstOrDefault(n => n.HasExited) is { } dead)
                {
                    Console.WriteLine($"node {nodes.IndexOf(dead)} exited:\n{dead.Tail()}");
                    break;
                }
            }
        }
        catch (OperationCanceledException) when (stop.IsCancellationRequested)
        {
            Console.WriteLine("interrupted");
        }

        await loadStop.CancelAsync();
        await running;
        var last = load.Swap();
        for (var k = 0; k < total.Latencies.Length; k++)
        {
            total.Latencies[k].AddRange(last.Latencies[k]);
        }

        total.Errors += last.Errors;
        return Summarize(nodes, load, provider, total, samples);
    }

    private static int Summarize(List<SoakNode> nodes, SoakLoad load, SoakProvider provider, Window total, List<NodeMemory[]> samples)
    {
        Console.WriteLine(Row("all", total, null, provider.Refreshes));
        Console.WriteLine();
        Console.WriteLine(string.Create(C, $"requests {total.Requests} (token {total.Latencies[0].Count}, proxy {total.Latencies[1].Count}, bootstrap {total.Latencies[2].Count}), errors {total.Errors}"));
        foreach (var sample in load.ErrorSamples)
        {
            Console.WriteLine($"  first errors: {sample}");
        }

        Console.WriteLine(string.Create(C, $"provider: {provider.Refreshes} refreshes, {provider.RejectedRefreshes} refused (stale refresh token), {provider.RejectedApiCalls} API calls with an unknown or expired token"));
        Console.WriteLine(string.Join("; ", nodes.Select((n, i) => $"node{i} log: {n.Warnings} warnings, {n.Errors} errors")));

        var failures = new List<string>();
        if (total.Errors > 0)
        {
            failures.Add($"{total.Errors} errors");
        }

        if (samples.Count >= 3)
        {
            // Minute 2 is the baseline: the first minutes are JIT, tiering, pools and caches filling.
            var baseline = samples[1];
            var end = samples[^1];
            for (var i = 0; i < nodes.Count; i++)
            {
                var rss = Growth(baseline[i].RssBytes, end[i].RssBytes);
                var heap = Growth(baseline[i].GcHeapBytes, end[i].GcHeapBytes);
                Console.WriteLine(string.Create(C,
                    $"node{i}: RSS {Mb(baseline[i].RssBytes)} MB at minute 2 -> {Mb(end[i].RssBytes)} MB at minute {samples.Count} ({rss:+0.0%;-0.0%}); " +
                    $"GC heap (floor) {Mb(baseline[i].GcHeapBytes)} MB -> {Mb(end[i].GcHeapBytes)} MB ({heap:+0.0%;-0.0%}); gen2 GCs {end[i].Gen2Collections}; " +
                    $"thread-pool threads {baseline[i].ThreadPoolThreads} -> {end[i].ThreadPoolThreads}"));
                if (rss >= MaxGrowth)
                {
                    failures.Add(string.Create(C, $"node{i} RSS grew {rss:P1}"));
                }

                if (heap >= MaxGrowth)
                {
                    failures.Add(string.Create(C, $"node{i} GC heap grew {heap:P1}"));
                }
            }
        }
        Console.WriteLine(failures.Count > 0 ? $"verdict: FAIL ({string.Join("; ", failures)})"
            : samples.Count < 3 ? "verdict: 0 errors; no growth verdict (needs 3 minutes or more: minute 2 is the baseline)"
            : string.Create(C, $"verdict: PASS (0 errors; RSS and GC heap of every node grew less than {MaxGrowth * 100:F0}% after minute 2)"));
        return failures.Count == 0 ? 0 : 1;
    }

    private static double Growth(long from, long to) => from <= 0 || to < 0 ? double.NaN : (to - from) / (double)from;

    private static string Mb(long bytes) => bytes < 0 ? "?" : (bytes / 1048576.0).ToString("F1", C);

    private static string Header(int nodes) =>
        "minute  requests  errors |  p50/p99 ms: all      token          proxy          bootstrap | " +
        string.Join(" | ", Enumerable.Range(0, nodes).Select(i => $"node{i} RSS/heap MB")) + " | refreshes";

    private static string Row(string minute, Window window, NodeMemory[]? memory, int refreshes)
    {
        static string P(IEnumerable<double> values)
        {
            var list = values as IReadOnlyCollection<double> ?? values.ToList();
            return string.Create(C, $"{Window.Percentile(list, 0.5),6:F1}/{Window.Percentile(list, 0.99),-7:F1}");
        }

        var nodes = memory is null ? "" : string.Join(" | ", memory.Select(m => $"{Mb(m.RssBytes),9}/{Mb(m.GcHeapBytes),-7}")) + " | ";
        return string.Create(C,
            $"{minute,6}  {window.Requests,8}  {window.Errors,6} | {P(window.All),15} {P(window.Latencies[0])} {P(window.Latencies[1])} {P(window.Latencies[2])} | {nodes}{refreshes}");
    }

    private static async Task<(string ConnectionId, string Key)> SetUpAsync(Uri node, string adminToken, TimeSpan lifetime)
    {
        using var admin = new HttpClient { BaseAddress = node };
        admin.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", adminToken);
        var credential = await PostAsync(admin, "/v1/orgs/default/credentials", new { provider = "soak", client_id = "soak-client", client_secret = "soak-client-secret" });
        var connection = await PostAsync(admin, "/v1/orgs/default/connections/import", new
        {
            provider = "soak",
            credential_id = credential.GetProperty("id").GetString(),
            access_token = SoakProvider.InitialAccessToken,
            refresh_token = SoakProvider.InitialRefreshToken,
            expires_in = (long)lifetime.TotalSeconds,
            account = new { id = "soak-account" },
        });
        var connectionId = connection.GetProperty("id").GetString()!;
        var key = await PostAsync(admin, "/v1/orgs/default/keys", new { name = "soak", permissions = new[] { new { connection = connectionId } } });
        return (connectionId, key.GetProperty("key").GetString()!);
    }

    private static async Task<JsonElement> PostAsync(HttpClient client, string path, object body)
    {
        using var response = await client.PostAsJsonAsync(path, body);
        var json = await response.Content.ReadFromJsonAsync<JsonElement>();
        return response.IsSuccessStatusCode ? json : throw new InvalidOperationException($"{path}: {(int)response.StatusCode} {json}");
    }

    private static string Base64Url(byte[] bytes) => Convert.ToBase64String(bytes).TrimEnd('=').Replace('+', '-').Replace('/', '_');

    private static int Option(string[] args, string name, int fallback)
    {
        var i = Array.IndexOf(args, name);
        return i >= 0 && i + 1 < args.Length && int.TryParse(args[i + 1], NumberStyles.None, C, out var value) && value > 0 ? value : fallback;
    }
}
