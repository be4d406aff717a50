using System.Diagnostics;
using System.Globalization;
using System.Text;
using System.Text.RegularExpressions;
using Npgsql;
using Valet.Tests.Infrastructure;
using static Valet.Bench.ExternalBench;

namespace Valet.Bench;

/// <summary><c>scale</c>, part 2: the token route at 1M connections against 1k, under <c>wrk</c> with a random pair per request.</summary>
internal static partial class ScaleBench
{
    /// <summary>
    /// Each request picks a random line of the pairs file (path TAB key). Requests are formatted once in <c>init</c> so
    /// that the load generator spends its core on sending, not on building strings.
    /// </summary>
    private const string PairsScript =
        """
        local requests = {}
        local count = 0
        function init(args)
          for line in io.lines(args[1]) do
            local path, secret = line:match("^([^\t]+)\t(.+)$")
            count = count + 1
            requests[count] = wrk.format("POST", path, { ["Authorization"] = "Bearer " .. secret })
          end
          math.randomseed(os.time())
        end
        request = function()
          return requests[math.random(count)]
        end
        """;

    /// <summary>One load: a server, the pairs its requests draw from, and the database whose transactions count as cache misses.</summary>
    private sealed record Load(string Name, Child Valet, string PairsFile, int Pairs, int Keys, string Database);

    private sealed record LoadRun(double Rps, double P50Ms, double P99Ms, long Errors, double ValetUsPerRequest, double PostgresUsPerRequest,
        double Requests);

    /// <summary>Longer than PostgreSQL's idle stats flush (10 s): every transaction before it is in <c>pg_stat_database</c>.</summary>
    private static readonly TimeSpan StatsFlush = TimeSpan.FromSeconds(11);

    private static async Task<bool> TokenRouteAsync(Context context, PostgresFixture pg, SeededDatabase small, SeededDatabase large)
    {
        var settings = context.Settings;
        Console.WriteLine($"\n== Token route, {large.Connections:N0} vs {small.Connections:N0} connections: wrk -t1 -c{settings.Connections}, " +
            $"{settings.Rounds} rotating rounds of {settings.Seconds} s, each after a {Math.Max(1, settings.Warmup / 3)} s slice of the same load, " +
            $"after {settings.Warmup} s of warm-up per load; " +
            (context.Pinning.LoadCores is null ? "no pinning (fewer than 2 cores)" : $"wrk on core {context.Pinning.LoadCores}, valet serve and PostgreSQL on core(s) {context.Pinning.ServerCores}") +
            "; Valet's storage cache at its defaults (10,000 keys and 10,000 connections per node, TTL 30 s)");
        context.PinPostgres(context.Pinning.ServerCores);

        var directory = Directory.CreateTempSubdirectory("valet-scale-wrk-").FullName;
        var script = Path.Combine(directory, "pairs.lua");
        await File.WriteAllTextAsync(script, PairsScript);

        var smallPairs = small.AllPairs().ToList();
        var largePairs = large.AllPairs().ToList();
        // The hot working set has the 1k database's shape (whole keys with all their connections), so the only difference
        // between the two loads is the size of the tables behind the caches.
        var hotPairs = large.Keys.OrderBy(_ => Random.Shared.Next()).Take(Math.Max(1, settings.Hot / (settings.PerOrg / settings.KeysPerOrg)))
            .SelectMany(k => k.ConnectionIds.Select(c => (c, k.Secret))).ToList();
        var loads = new List<Load>();
        try
        {
            // The uniform load gets its own copy of the 1M database, so each database's transaction counter is one server's
            // (copied before any server connects: a template database must have no sessions).
            var uniformDatabase = await CopyDatabaseAsync(pg, large.ConnectionString);

            // Three servers, so the uniform spread never evicts the hot working set of the other 1M load. Idle ones cost nothing.
            var valetSmall = await context.StartValetAsync("valet serve (1k)", small.ConnectionString, pinned: true);
            var valetHot = await context.StartValetAsync("valet serve (1M, hot)", large.ConnectionString, pinned: true);
            var valetUniform = await context.StartValetAsync("valet serve (1M, uniform)", uniformDatabase, pinned: true);
            loads.Add(new Load($"1k connections, all {smallPairs.Count:N0} pairs", valetSmall, await WritePairsAsync(directory, "small", smallPairs),
                smallPairs.Count, small.Keys.Count, small.ConnectionString));
            loads.Add(new Load($"1M connections, {hotPairs.Count:N0} hot pairs", valetHot, await WritePairsAsync(directory, "hot", hotPairs), hotPairs.Count,
                hotPairs.Select(p => p.Secret).Distinct().Count(), large.ConnectionString));
            loads.Add(new Load($"1M connections, uniform over all {largePairs.Count:N0} pairs", valetUniform,
                await WritePairsAsync(directory, "uniform", largePairs), largePairs.Count, large.Keys.Count, uniformDatabase));

            // Every load's server must hand out the sealed tokens: a sample of its pairs through HttpClient first.
            foreach (var (load, pairs) in loads.Zip(new[] { smallPairs, hotPairs, largePairs }))
            {
                var sample = pairs.OrderBy(_ => Random.Shared.Next()).Take(200).ToList();
                var (ok, failure) = await CallTokenRouteAsync(load.Valet.Url, sample, 8);
                Console.WriteLine($"  {load.Name}: {ok}/{sample.Count} random pairs answered 200 with a token" + (failure is null ? "" : $" — first failure: {failure}"));
                if (ok != sample.Count)
                {
                    return false;
                }
            }

            // Warm-up in alternating slices, right before the rounds: JIT tiering settles on every server, and what the caches
            // hold when the rounds start was read less than a TTL (30 s) ago, as in a steady state.
            for (var i = 0; i < 3; i++)
            {
                foreach (var load in loads)
                {
                    await RunLoadAsync(context, load, script, Math.Max(1, settings.Warmup / 3));
                }
            }

            // A run of 30 s (the default) spans one cache TTL, so it includes each cached entry's re-read once, as a steady load
            // does. Each measured run follows a short slice of its own load (its caches hold what a steady load keeps) and a pause
            // that lets PostgreSQL publish every earlier transaction (an idle backend flushes its counters within 10 s), so a
            // run's transactions are counted from just before it to just before its load's next slice.
            var runs = loads.ToDictionary(l => l, _ => new List<LoadRun>());
            var transactions = loads.ToDictionary(l => l, _ => new List<double>());
            var pending = new Dictionary<Load, (long Before, double Requests)>();
            async Task SettleAsync(Load load)
            {
                if (pending.Remove(load, out var open))
                {
                    transactions[load].Add(Math.Max(0, await TransactionsAsync(load.Database) - open.Before - 1) / open.Requests);
                }
            }

            for (var round = 1; round <= settings.Rounds; round++)
            {
                // Rotate the order, so no load always follows another's GC or the same neighbour's noise.
                var order = loads.Skip((round - 1) % loads.Count).Concat(loads.Take((round - 1) % loads.Count)).ToList();
                Console.WriteLine($"  round {round}:");
                foreach (var load in order)
                {
                    await SettleAsync(load);
                    await RunLoadAsync(context, load, script, Math.Max(1, settings.Warmup / 3));
                    await Task.Delay(StatsFlush);
                    var before = await TransactionsAsync(load.Database);
                    var run = await RunLoadAsync(context, load, script, settings.Seconds);
                    pending[load] = (before, run.Requests);
                    runs[load].Add(run);
                    Console.WriteLine($"    {load.Name,-48} {run.Rps,9:N0} rps  p50 {F(run.P50Ms)} ms  p99 {F(run.P99Ms)} ms  " +
                        $"Valet CPU {run.ValetUsPerRequest:F0} us/req  PostgreSQL CPU {run.PostgresUsPerRequest:F0} us/req" +
                        (run.Errors > 0 ? $"  ERRORS {run.Errors}" : ""));
                }
            }

            await Task.Delay(StatsFlush);
            foreach (var load in loads)
            {
                await SettleAsync(load);
            }

            Console.WriteLine();
            Console.WriteLine("| load | keys | rps | p50 | p99 | Valet CPU / req | PostgreSQL CPU / req | PostgreSQL transactions / req |");
            Console.WriteLine("|---|---|---|---|---|---|---|---|");
            foreach (var load in loads)
            {
                var r = runs[load];
                Console.WriteLine($"| {load.Name} | {load.Keys:N0} | {Median(r.Select(x => x.Rps)):N0} | {F(Median(r.Select(x => x.P50Ms)))} ms | " +
                    $"{F(Median(r.Select(x => x.P99Ms)))} ms | {Median(r.Select(x => x.ValetUsPerRequest)):F0} us | {Median(r.Select(x => x.PostgresUsPerRequest)):F0} us | " +
                    $"{F(Median(transactions[load]))} ({string.Join(", ", transactions[load].Select(x => F(x)))}) |");
            }

            Console.WriteLine();
            Console.WriteLine("| ratio to 1k, median of per-round ratios (rounds) | p50 | p99 | rps |");
            Console.WriteLine("|---|---|---|---|");
            foreach (var load in loads.Skip(1))
            {
                string Ratio(Func<LoadRun, double> pick)
                {
                    var ratios = runs[load].Zip(runs[loads[0]], (a, b) => pick(a) / pick(b)).ToList();
                    return $"**{F(Median(ratios))}×** ({string.Join(", ", ratios.Select(x => F(x)))})";
                }

                Console.WriteLine($"| {load.Name} / 1k | {Ratio(r => r.P50Ms)} | {Ratio(r => r.P99Ms)} | {Ratio(r => r.Rps)} |");
            }

            var errors = runs.Values.Sum(r => r.Sum(x => x.Errors));
            if (errors > 0)
            {
                Console.WriteLine($"**{errors} non-2xx or socket errors: not a valid measure.**");
            }

            return errors == 0;
        }
        finally
        {
            foreach (var load in loads)
            {
                await context.StopAsync(load.Valet);
            }

            Directory.Delete(directory, recursive: true);
        }
    }

    private static async Task<string> WritePairsAsync(string directory, string name, IEnumerable<(string ConnectionId, string Secret)> pairs)
    {
        var path = Path.Combine(directory, name + ".tsv");
        await File.WriteAllLinesAsync(path, pairs.Select(p => $"/v1/connections/{p.ConnectionId}/token\t{p.Secret}"), new UTF8Encoding(false));
        return path;
    }

    /// <summary>One wrk run of <paramref name="seconds"/> against a load, with the servers' CPU counted around it.</summary>
    private static async Task<LoadRun> RunLoadAsync(Context context, Load load, string script, int seconds)
    {
        var info = context.Pinning.Wrap("wrk", ["-t1", $"-c{context.Settings.Connections}", $"-d{seconds}s", "--latency", "-s", script,
            load.Valet.Url.ToString(), "--", load.PairsFile], load: true);
        var valetBefore = load.Valet.CpuSeconds();
        var postgresBefore = context.PostgresCpu();
        using var process = Process.Start(info)!;
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        await process.WaitForExitAsync();
        var valetCpu = load.Valet.CpuSeconds() - valetBefore;
        var postgresCpu = context.PostgresCpu() - postgresBefore;
        var output = await stdout + await stderr;
        if (process.ExitCode != 0 || Wrk.RpsLine().Match(output) is not { Success: true } rps)
        {
            throw new InvalidOperationException($"wrk failed ({process.ExitCode}):\n{output}");
        }

        long errors = Wrk.Non2xxLine().Match(output) is { Success: true } non2xx ? long.Parse(non2xx.Groups[1].Value, CultureInfo.InvariantCulture) : 0;
        if (Wrk.SocketErrorsLine().Match(output) is { Success: true } socket)
        {
            errors += socket.Groups.Values.Skip(1).Sum(g => long.Parse(g.Value, CultureInfo.InvariantCulture));
        }

        var perSecond = double.Parse(rps.Groups[1].Value, CultureInfo.InvariantCulture);
        var total = Wrk.TotalLine().Match(output) is { Success: true } t ? double.Parse(t.Groups[1].Value, CultureInfo.InvariantCulture) : perSecond * seconds;
        total = Math.Max(1, total);
        return new LoadRun(perSecond, Wrk.Percentile(output, "50"), Wrk.Percentile(output, "99"), errors, valetCpu * 1e6 / total, postgresCpu * 1e6 / total,
            total);
    }

    /// <summary>A file-level copy of a database (<c>CREATE DATABASE … TEMPLATE</c>): seconds, where seeding again would take minutes.</summary>
    private static async Task<string> CopyDatabaseAsync(PostgresFixture pg, string template)
    {
        var name = "valet_copy_" + Guid.NewGuid().ToString("N")[..12];
        NpgsqlConnection.ClearAllPools(); // no session may be connected to the template
        await using var connection = new NpgsqlConnection(pg.AdminConnectionString);
        await connection.OpenAsync();
        await ScaleSeed.ExecAsync(connection,
            $"CREATE DATABASE {name} TEMPLATE {new NpgsqlConnectionStringBuilder(template).Database} STRATEGY FILE_COPY");
        return new NpgsqlConnectionStringBuilder(template) { Database = name }.ConnectionString;
    }

    /// <summary>Committed transactions of a database so far (<c>pg_stat_database</c>): each cache miss of Valet's is one.</summary>
    private static async Task<long> TransactionsAsync(string connectionString)
    {
        await using var connection = new NpgsqlConnection(new NpgsqlConnectionStringBuilder(connectionString) { Pooling = false }.ConnectionString);
        await connection.OpenAsync();
        await using var command = new NpgsqlCommand("SELECT xact_commit FROM pg_stat_database WHERE datname = current_database()", connection);
        return (long)(await command.ExecuteScalarAsync())!;
    }

    /// <summary>
    /// <c>scale</c>, part 3: what a cached connection costs. A <c>valet serve</c> with a cache large enough for every entry
    /// of the test and a TTL longer than it; after each phase a full blocking GC is induced from outside (EventPipe,
    /// the GCHeapCollect keyword, as <c>dotnet-gcdump</c> does) and the node's next runtime-stats line gives the heap.
    /// </summary>
    private static async Task MemoryAsync(Context context, SeededDatabase large)
    {
        var settings = context.Settings;
        var perKey = settings.PerOrg / settings.KeysPerOrg;
        var keyCount = (settings.Cached + perKey - 2) / (perKey - 1);
        Console.WriteLine($"\n== Memory per cached connection: {settings.Cached:N0} connections of {keyCount:N0} keys warmed into one valet serve " +
            $"(Storage:CacheSize 1,000,000, CacheTtl 1 h, so nothing is evicted or expires during the test)");
        context.PinPostgres(context.AllCores);
        var node = await context.StartValetAsync("valet serve (memory)", large.ConnectionString, pinned: false, new Dictionary<string, string>
        {
            ["VALET_STORAGE__CACHESIZE"] = "1000000",
            ["VALET_STORAGE__CACHETTL"] = "01:00:00",
            ["VALET_DIAGNOSTICS__RUNTIMESTATSINTERVAL"] = "00:00:01",
        });
        try
        {
            // Keys from the end of the list for the JIT warm-up, from the start for the measure: no overlap.
            var keys = large.Keys.Take(keyCount).ToList();
            var warmKeys = large.Keys.TakeLast(100).ToList();
            for (var i = 0; i < 5; i++)
            {
                await CallTokenRouteAsync(node.Url, warmKeys.Select(k => (k.ConnectionIds[i % perKey], k.Secret)).ToList(), 8);
            }

            var before = await MeasureMemoryAsync(node);
            var (firstOk, _) = await CallTokenRouteAsync(node.Url, keys.Select(k => (k.ConnectionIds[0], k.Secret)).ToList(), 16);
            var withKeys = await MeasureMemoryAsync(node);
            var rest = keys.SelectMany(k => k.ConnectionIds.Skip(1).Select(c => (c, k.Secret))).Take(settings.Cached).ToList();
            var (restOk, failure) = await CallTokenRouteAsync(node.Url, rest, 16);
            var after = await MeasureMemoryAsync(node);
            if (firstOk != keys.Count || restOk != rest.Count)
            {
                Console.WriteLine($"  warming failed ({firstOk}/{keys.Count}, {restOk}/{rest.Count}): {failure}");
                return;
            }

            var perConnectionHeap = (after.Heap - withKeys.Heap) / (double)rest.Count;
            var perConnectionRss = (after.Rss - withKeys.Rss) / (double)rest.Count;
            var perKeyHeap = (withKeys.Heap - before.Heap - keys.Count * perConnectionHeap) / keys.Count;
            Console.WriteLine("| step | GC heap after a full GC | RSS |");
            Console.WriteLine("|---|---|---|");
            Console.WriteLine($"| warmed up (100 keys, 500 requests) | {before.Heap / 1048576.0:F1} MiB | {before.Rss / 1048576.0:F1} MiB |");
            Console.WriteLine($"| + {keys.Count:N0} keys with one connection each | {withKeys.Heap / 1048576.0:F1} MiB | {withKeys.Rss / 1048576.0:F1} MiB |");
            Console.WriteLine($"| + {rest.Count:N0} more connections of those keys | {after.Heap / 1048576.0:F1} MiB | {after.Rss / 1048576.0:F1} MiB |");
            Console.WriteLine($"per cached connection: {perConnectionHeap:N0} bytes of GC heap, {perConnectionRss:N0} bytes of RSS; " +
                $"per cached API key (with its rate-limit state): about {perKeyHeap:N0} bytes of GC heap");
            Console.WriteLine($"so the whole 1M database in cache (Storage:CacheSize 1,000,000 connections, 100,000 keys) would take about " +
                $"{(perConnectionHeap * large.Connections + perKeyHeap * large.Keys.Count) / 1048576.0:N0} MiB of GC heap per node");
        }
        finally
        {
            await context.StopAsync(node);
        }
    }

    private readonly record struct Memory(long Heap, long Rss);

    /// <summary>Induces a full blocking GC in the node and reads the heap from its first runtime-stats line after it.</summary>
    private static async Task<Memory> MeasureMemoryAsync(Child node)
    {
        var gen2Before = LastRuntimeStats(node)?.Gen2 ?? -1;
        var client = new Microsoft.Diagnostics.NETCore.Client.DiagnosticsClient(node.ProcessId);
        using (var session = client.StartEventPipeSession(
            new Microsoft.Diagnostics.NETCore.Client.EventPipeProvider("Microsoft-Windows-DotNETRuntime", System.Diagnostics.Tracing.EventLevel.Informational,
                0x1 | 0x800000), requestRundown: false))
        {
            var drain = session.EventStream.CopyToAsync(Stream.Null);
            await Task.Delay(1000);
            await session.StopAsync(CancellationToken.None);
            await drain;
        }

        var clock = Stopwatch.StartNew();
        while (clock.Elapsed < TimeSpan.FromSeconds(10))
        {
            await Task.Delay(250);
            if (LastRuntimeStats(node) is { } stats && stats.Gen2 > gen2Before)
            {
                return new Memory(stats.Heap, RssBytes(node.ProcessId));
            }
        }

        throw new InvalidOperationException("valet serve logged no runtime stats after the induced GC:\n" + node.Tail());
    }

    private static (long Heap, long Gen2)? LastRuntimeStats(Child node)
    {
        var matches = RuntimeStatsLine().Matches(node.Tail());
        return matches.Count == 0
            ? null
            : (long.Parse(matches[^1].Groups[1].Value, CultureInfo.InvariantCulture), long.Parse(matches[^1].Groups[2].Value, CultureInfo.InvariantCulture));
    }

    [GeneratedRegex(@"gc_heap_bytes=(\d+) .*? gen2=(\d+)")]
    private static partial Regex RuntimeStatsLine();
}
