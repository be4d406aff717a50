using System.Diagnostics;
using System.Globalization;
using System.Net.Http.Headers;
using System.Security.Cryptography;
using System.Text.Json;
using Npgsql;
using Valet.Tests.Infrastructure;
using static Valet.Bench.ExternalBench;

namespace Valet.Bench;

/// <summary>
/// <c>scale</c>: Valet at a million connections (docs/scale.md). Seeds a throwaway PostgreSQL through Valet's own
/// migrations and binary COPY (<see cref="ScaleSeed"/>), then measures with real <c>valet serve</c> processes: the token
/// route at 1M against 1k (wrk pinned to core 0, servers to the others, random (key, connection) pairs per request), the
/// memory each cached connection costs, the proactive refresher working through connections due at once (one node, two
/// nodes, with and without IdP latency), and <c>EXPLAIN (ANALYZE, BUFFERS)</c> of the hot queries.
/// </summary>
internal static partial class ScaleBench
{
    private const string AdminToken = "bench-admin-token-0123456789-abcdefghijk";

    private sealed record Settings(int Orgs, int PerOrg, int KeysPerOrg, int SmallOrgs, int Seconds, int Rounds, int Warmup, int Connections, int Hot,
        int Cached, int Due, int IdpLatencyMs, HashSet<string> Parts)
    {
        public static Settings Parse(string[] args)
        {
            var only = StringOption(args, "--only");
            return new Settings(Option(args, "--orgs", 10_000), Option(args, "--per-org", 100), Option(args, "--keys-per-org", 10),
                Option(args, "--small-orgs", 10), Option(args, "--seconds", 30), Option(args, "--rounds", 3), Option(args, "--warmup", 6),
                Option(args, "--connections", 32), Option(args, "--hot", 1_000), Option(args, "--cached", 10_000), Option(args, "--due", 10_000),
                Option(args, "--idp-latency", 50),
                only is null ? ["token", "memory", "refresh", "explain"] : [.. only.Split(',', StringSplitOptions.TrimEntries)]);
        }
    }

    public static async Task<int> RunAsync(string[] args)
    {
        if (args.FirstOrDefault() == "--idp-server")
        {
            return await ScaleIdp.ServeAsync(int.Parse(args[1], CultureInfo.InvariantCulture));
        }

        var settings = Settings.Parse(args);
        if (settings.PerOrg % settings.KeysPerOrg != 0 || settings.PerOrg / settings.KeysPerOrg < 2)
        {
            await Console.Error.WriteLineAsync("scale: --per-org must be a multiple of --keys-per-org, with at least 2 connections per key.");
            return 2;
        }

        if (Which("wrk") is null)
        {
            await Console.Error.WriteLineAsync("scale: wrk is not installed (apt-get install -y wrk).");
            return 2;
        }

        var pinning = Pinning.Detect();
        var started = Stopwatch.StartNew();
        Console.WriteLine($"Scale bench: {Environment.ProcessorCount} cores, load average at start {File.ReadAllText("/proc/loadavg").Trim()} " +
            "(a shared machine: compare ratios within this run, not absolute figures across runs).");

        var encryptionKey = Convert.ToBase64String(RandomNumberGenerator.GetBytes(32));
        var disposables = new List<IAsyncDisposable>();
        var failed = false;
        try
        {
            var pg = new PostgresFixture();
            await pg.InitializeAsync();
            disposables.Add(new AsyncDisposable(pg.DisposeAsync));
            var postmaster = pg.ServerProcessId() ?? throw new InvalidOperationException("scale needs the throwaway PostgreSQL (unset VALET_TEST_PG).");

            var large = await ScaleSeed.SeedAsync(pg, "1M", settings.Orgs, settings.PerOrg, settings.KeysPerOrg, encryptionKey);
            var small = settings.Parts.Contains("token")
                ? await ScaleSeed.SeedAsync(pg, "1k", settings.SmallOrgs, settings.PerOrg, settings.KeysPerOrg, encryptionKey)
                : null;
            NpgsqlConnection.ClearAllPools();

            var idp = await ScaleIdp.StartAsync();
            disposables.Add(idp);
            var context = new Context(settings, pinning, encryptionKey, postmaster, idp.Url, disposables);

            if (small is not null)
            {
                failed |= !await TokenRouteAsync(context, pg, small, large);
            }

            if (settings.Parts.Contains("memory"))
            {
                await MemoryAsync(context, large);
            }

            if (settings.Parts.Contains("refresh"))
            {
                failed |= !await RefreshAsync(context, large, idp);
            }

            if (settings.Parts.Contains("explain"))
            {
                failed |= !await ExplainAsync(large);
            }

            Console.WriteLine($"\nscale bench done in {started.Elapsed.TotalMinutes:F1} min; load average now {File.ReadAllText("/proc/loadavg").Trim()}.");
            return failed ? 1 : 0;
        }
        finally
        {
            for (var i = disposables.Count - 1; i >= 0; i--)
            {
                await disposables[i].DisposeAsync();
            }
        }
    }

    /// <summary>What every phase needs: settings, cores, the shared encryption key, PostgreSQL's postmaster, the IdP.</summary>
    private sealed record Context(Settings Settings, Pinning Pinning, string EncryptionKey, int Postmaster, Uri Idp, List<IAsyncDisposable> Disposables)
    {
        public double PostgresCpu() => PostgresCpuSeconds(Postmaster);

        /// <summary>Starts <c>valet serve</c> (the real CLI) on <paramref name="database"/>; pinned to the server cores when asked.</summary>
        public async Task<Child> StartValetAsync(string name, string database, bool pinned, IReadOnlyDictionary<string, string>? extra = null)
        {
            var port = FreePort();
            var url = new Uri($"http://127.0.0.1:{port}/");
            var environment = new Dictionary<string, string?>
            {
                ["VALET_DATA_DIR"] = Path.Combine(Path.GetTempPath(), "valet-scale-" + Guid.NewGuid().ToString("N")[..12]),
                ["VALET_DATABASE"] = database,
                ["VALET_PUBLIC_URL"] = url.ToString().TrimEnd('/'),
                ["VALET_ENCRYPTION_KEY"] = EncryptionKey,
                ["VALET_ADMIN_TOKEN"] = AdminToken,
                // The 1k database has 100 keys under the whole load: the per-key limit (100/s by default) would answer most of it 429.
                ["VALET_RATELIMITS__AGENTREQUESTSPERSECOND"] = "100000000",
                ["VALET_RATELIMITS__AGENTBURST"] = "100000000",
                ["VALET_PROVIDERS__BENCH__AUTHORIZATIONENDPOINT"] = new Uri(Idp, "/authorize").ToString(),
                ["VALET_PROVIDERS__BENCH__TOKENENDPOINT"] = new Uri(Idp, "/token").ToString(),
                ["VALET_PROVIDERS__BENCH__APIBASEURL"] = new Uri(Idp, "/api").ToString(),
                ["VALET_PROVIDERS__BENCH__CLIENTID"] = "bench-client",
                ["VALET_PROVIDERS__BENCH__CLIENTSECRET"] = "bench-client-secret",
                ["VALET_PROVIDERS__BENCH__ALLOWPRIVATENETWORK"] = "true",
            };
            foreach (var (key, value) in extra ?? new Dictionary<string, string>())
            {
                environment[key] = value;
            }

            var template = CliRunner.StartInfo(["serve", "--urls", url.ToString().TrimEnd('/')], environment);
            var info = (pinned ? Pinning : new Pinning(null, null)).Wrap(template.FileName, template.ArgumentList, load: false);
            foreach (var (key, value) in template.Environment)
            {
                info.Environment[key] = value;
            }

            info.RedirectStandardInput = true;
            var child = await Child.StartAsync(info, url, name, "/healthz");
            Disposables.Add(child);
            return child;
        }

        public async Task StopAsync(Child child)
        {
            Disposables.Remove(child);
            await child.DisposeAsync();
        }

        /// <summary>Sets the CPU affinity of PostgreSQL: the postmaster and every process it has forked so far (backends inherit it).</summary>
        public void PinPostgres(string? cores)
        {
            if (cores is null)
            {
                return;
            }

            foreach (var pid in Children(Postmaster).Prepend(Postmaster))
            {
                using var taskset = Process.Start(new ProcessStartInfo("taskset", ["-a", "-p", "-c", cores, pid.ToString(CultureInfo.InvariantCulture)])
                {
                    RedirectStandardOutput = true,
                    RedirectStandardError = true,
                    UseShellExecute = false,
                })!;
                taskset.WaitForExit();
            }
        }

        public string AllCores => $"0-{Environment.ProcessorCount - 1}";
    }

    private static IEnumerable<int> Children(int parent)
    {
        foreach (var dir in Directory.EnumerateDirectories("/proc"))
        {
            if (!int.TryParse(Path.GetFileName(dir), CultureInfo.InvariantCulture, out var pid))
            {
                continue;
            }

            string stat;
            try
            {
                stat = File.ReadAllText(Path.Combine(dir, "stat"));
            }
            catch (IOException)
            {
                continue;
            }

            if (stat[(stat.LastIndexOf(')') + 2)..].Split(' ')[1] == parent.ToString(CultureInfo.InvariantCulture))
            {
                yield return pid;
            }
        }
    }

    /// <summary>Resident set size of a process, from <c>/proc/PID/status</c>.</summary>
    private static long RssBytes(int pid)
    {
        var line = File.ReadLines($"/proc/{pid}/status").First(l => l.StartsWith("VmRSS:", StringComparison.Ordinal));
        return long.Parse(line["VmRSS:".Length..].Trim().Split(' ')[0], CultureInfo.InvariantCulture) * 1024;
    }

    /// <summary>Posts the token route for each pair with <paramref name="parallel"/> callers; returns how many answered 200 with a token.</summary>
    private static async Task<(int Ok, string? FirstFailure)> CallTokenRouteAsync(Uri valet, IReadOnlyList<(string ConnectionId, string Secret)> pairs,
        int parallel)
    {
        using var client = new HttpClient { BaseAddress = valet, Timeout = TimeSpan.FromSeconds(60) };
        var ok = 0;
        string? failure = null;
        await Parallel.ForEachAsync(pairs, new ParallelOptions { MaxDegreeOfParallelism = parallel }, async (pair, ct) =>
        {
            using var request = new HttpRequestMessage(HttpMethod.Post, $"/v1/connections/{pair.ConnectionId}/token");
            request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", pair.Secret);
            using var response = await client.SendAsync(request, ct);
            var body = await response.Content.ReadAsStringAsync(ct);
            if (response.IsSuccessStatusCode && JsonDocument.Parse(body).RootElement.GetProperty("access_token").GetString() is { Length: > 0 })
            {
                Interlocked.Increment(ref ok);
            }
            else
            {
                Interlocked.CompareExchange(ref failure, $"{(int)response.StatusCode} {body}", null);
            }
        });
        return (ok, failure);
    }

    private static double Median(IEnumerable<double> values)
    {
        var sorted = values.Order().ToList();
        return sorted[sorted.Count / 2];
    }

    private static string F(double value, string format = "F2") => value.ToString(format, CultureInfo.InvariantCulture);
}
