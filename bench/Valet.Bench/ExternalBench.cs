using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Net.Sockets;
using System.Security.Cryptography;
using System.Text.Json;
using System.Text.RegularExpressions;
using Valet.Tests.Infrastructure;

namespace Valet.Bench;

/// <summary>
/// <c>external</c>: Valet measured the way an agent meets it — from a separate load-generator process (<c>wrk</c>) on its own
/// core, against servers pinned to the other core(s): a bare ASP.NET Core endpoint answering the token route's JSON, a bare
/// YARP forwarder, the upstream they forward to, PostgreSQL, and <c>valet serve</c> itself (the real CLI, SQLite and
/// PostgreSQL). Every side is warmed, rounds alternate bare and Valet, and the median round's ratio is the figure.
/// The baselines run in this bench's own executable (<see cref="BareServers"/>), a console app like <c>valet</c>, so both
/// sides have the same GC and JIT settings.
/// </summary>
internal static partial class ExternalBench
{
    private const string AdminToken = "bench-admin-token-0123456789-abcdefghijk";

    public static async Task<int> RunAsync(string[] args)
    {
        var seconds = Option(args, "--seconds", 5);
        var rounds = Option(args, "--rounds", 3);
        var connections = Option(args, "--connections", 32);
        var warmup = Option(args, "--warmup", 30);
        var only = StringOption(args, "--only");
        // Where PostgreSQL runs: on the servers' core (default: the whole server side on one core), or on the load
        // generator's, standing in for a database on its own machine as a multi-node deployment has it.
        var postgresOnLoadCore = StringOption(args, "--postgres-core") switch
        {
            null or "server" => false,
            "load" => true,
            var other => throw new ArgumentException($"--postgres-core is server or load, not '{other}'."),
        };
        var backends = StringOption(args, "--backend") switch
        {
            "sqlite" => new[] { "SQLite" },
            "postgres" => ["PostgreSQL"],
            _ => ["SQLite", "PostgreSQL"],
        };

        if (Which("wrk") is null)
        {
            await Console.Error.WriteLineAsync("external: wrk is not installed (apt-get install -y wrk).");
            return 2;
        }

        var pinning = Pinning.Detect();
        Console.WriteLine($"External load: wrk -t1 -c{connections}, {rounds} alternating rounds of {seconds} s after {warmup} s warm-up per side; {pinning}.");
        if (postgresOnLoadCore && pinning.LoadCores is not null)
        {
            Console.WriteLine($"PostgreSQL pinned to the load generator's core {pinning.LoadCores} (--postgres-core load), not the servers'.");
        }

        var disposables = new List<IAsyncDisposable>();
        try
        {
            var upstream = await Child.StartBareAsync("upstream", pinning, null);
            disposables.Add(upstream);
            var bareToken = await Child.StartBareAsync("token", pinning, null);
            disposables.Add(bareToken);
            var bareYarp = await Child.StartBareAsync("yarp", pinning, upstream.Url, perfMap: StringOption(args, "--profile") == "yarp");
            disposables.Add(bareYarp);

            PostgresFixture? pg = null;
            var rows = new List<Row>();
            foreach (var backend in backends)
            {
                string? database = null;
                var postgresCpu = new List<Func<double>>();
                if (backend == "PostgreSQL")
                {
                    pg = new PostgresFixture();
                    await pg.InitializeAsync();
                    disposables.Add(new AsyncDisposable(pg.DisposeAsync));
                    if (pg.ServerProcessId() is { } postmaster)
                    {
                        pinning.PinTree(postmaster, onLoadCore: postgresOnLoadCore);
                        postgresCpu.Add(() => PostgresCpuSeconds(postmaster));
                    }

                    database = await pg.CreateDatabaseAsync();
                }

                var profile = StringOption(args, "--profile");
                var valet = await Child.StartValetAsync(pinning, database, upstream.Url, perfMap: profile is not null);
                disposables.Add(valet);
                var (connectionId, key) = await SetUpAsync(valet.Url);
                if (profile is not null)
                {
                    // Load on Valet alone while `perf record` samples it (call graphs; JIT symbols from the perf map).
                    var target = profile switch
                    {
                        "proxy" => new Target(new Uri(valet.Url, $"/v1/proxy/{connectionId}/user"), "GET", key),
                        "yarp" => new Target(new Uri(bareYarp.Url, "/api/user"), "GET", null),
                        _ => new Target(new Uri(valet.Url, $"/v1/connections/{connectionId}/token"), "POST", key),
                    };
                    var profiled = profile == "yarp" ? bareYarp.ProcessId : valet.ProcessId;
                    await Wrk.RunAsync(target, pinning, connections, warmup);
                    if (args.Contains("--syscalls"))
                    {
                        // Every system call the server makes, by name, per request served (perf's syscall tracepoints).
                        var events = "context-switches,cpu-migrations," + string.Join(',', SyscallsTraced.Select(name => "syscalls:sys_enter_" + name));
                        var counted = Process.Start(new ProcessStartInfo("perf", ["stat", "-x", ";", "-e", events, "-p",
                            profiled.ToString(CultureInfo.InvariantCulture), "--", "sleep", seconds.ToString(CultureInfo.InvariantCulture)])
                        { RedirectStandardError = true })!;
                        var stderr = counted.StandardError.ReadToEndAsync();
                        var traced = await Wrk.RunAsync(target, pinning, connections, seconds);
                        await counted.WaitForExitAsync();
                        var requests = traced.Rps * seconds;
                        Console.WriteLine($"system calls of {(profile == "yarp" ? "the bare forwarder" : "Valet")} per request ({traced.Rps:N0} rps):");
                        foreach (var line in (await stderr).Split('\n', StringSplitOptions.RemoveEmptyEntries))
                        {
                            var fields = line.Split(';');
                            if (fields.Length > 2 && double.TryParse(fields[0], NumberStyles.Float, CultureInfo.InvariantCulture, out var count) && count > 0)
                            {
                                Console.WriteLine($"  {fields[2].Replace("syscalls:sys_enter_", "", StringComparison.Ordinal),-17} {count / requests,8:F3}");
                            }
                        }

                        continue;
                    }

                    var output = Path.GetFullPath($"perf-{profile}-{backend.ToLowerInvariant()}.data");
                    // --events E: record those events (e.g. syscalls:sys_enter_futex) with their call graphs instead of CPU samples.
                    string[] sampling = StringOption(args, "--events") is { } recorded ? ["-e", recorded] : ["-F", "999"];
                    using var perf = Process.Start(new ProcessStartInfo("perf", ["record", .. sampling, "-g", "-o", output, "-p",
                        profiled.ToString(CultureInfo.InvariantCulture), "--", "sleep", seconds.ToString(CultureInfo.InvariantCulture)]))!;
                    var run = await Wrk.RunAsync(target, pinning, connections, seconds);
                    await perf.WaitForExitAsync();
                    Console.WriteLine($"profiled {target.Url} at {run.Rps:N0} rps: perf report -i {output} --no-children --sort symbol");
                    continue;
                }

                if (only is null or "token")
                {
                    var bare = new Target(new Uri(bareToken.Url, $"/v1/connections/{connectionId}/token"), "POST", null, bareToken.CpuSeconds) { JitProcess = bareToken.ProcessId };
                    var real = new Target(new Uri(valet.Url, $"/v1/connections/{connectionId}/token"), "POST", key, [valet.CpuSeconds, .. postgresCpu])
                    {
                        JitProcess = valet.ProcessId, Names = ["valet", .. postgresCpu.Select(_ => "postgres")],
                    };
                    rows.Add(await MeasureAsync($"token route ({backend}) vs bare endpoint", bare, real, pinning, connections, seconds, rounds, warmup));
                }

                if (only is null or "proxy")
                {
                    var bare = new Target(new Uri(bareYarp.Url, "/api/user"), "GET", null, bareYarp.CpuSeconds, upstream.CpuSeconds)
                    {
                        JitProcess = bareYarp.ProcessId, Names = ["yarp", "upstream"],
                    };
                    var real = new Target(new Uri(valet.Url, $"/v1/proxy/{connectionId}/user"), "GET", key, [valet.CpuSeconds, upstream.CpuSeconds, .. postgresCpu])
                    {
                        JitProcess = valet.ProcessId, Names = ["valet", "upstream", .. postgresCpu.Select(_ => "postgres")],
                    };
                    rows.Add(await MeasureAsync($"proxied GET ({backend}) vs bare YARP", bare, real, pinning, connections, seconds, rounds, warmup));
                }

                await valet.DisposeAsync();
                disposables.Remove(valet);
            }

            Console.WriteLine();
            Console.WriteLine("| measure | bare rps | Valet rps | ratio, median (rounds) | p50 bare / Valet | p99 bare / Valet | added p50 | server CPU per request bare / Valet |");
            Console.WriteLine("|---|---|---|---|---|---|---|---|");
            foreach (var row in rows)
            {
                Console.WriteLine(row.Markdown());
            }

            return rows.Any(r => r.Errors > 0) ? 1 : 0;
        }
        finally
        {
            for (var i = disposables.Count - 1; i >= 0; i--)
            {
                await disposables[i].DisposeAsync();
            }
        }
    }

    /// <summary>What wrk calls, and the server processes whose CPU time it costs (baseline or Valet, plus the upstream for the proxy).</summary>
    /// <summary>The system calls a server's request path makes (and what its background threads do), for <c>--syscalls</c>.</summary>
    private static readonly string[] SyscallsTraced =
    [
        "read", "write", "readv", "writev", "sendto", "recvfrom", "sendmsg", "recvmsg", "epoll_wait", "epoll_pwait", "epoll_ctl",
        "futex", "sched_yield", "madvise", "mprotect", "mmap", "munmap", "pread64", "pwrite64", "fsync", "fdatasync", "accept4",
        "close", "getsockopt", "setsockopt", "getpid", "gettid", "openat", "fcntl", "ioctl", "nanosleep", "clock_nanosleep",
    ];

    internal sealed record Target(Uri Url, string Method, string? Bearer, params Func<double>[] Servers)
    {
        public double CpuSeconds() => Servers.Sum(s => s());

        /// <summary>What each of <see cref="Servers"/> is, for the round line's split (empty: no split printed).</summary>
        public string[] Names { get; init; } = [];

        /// <summary>Each server's CPU seconds so far, in <see cref="Servers"/>' order (the round line prints the split).</summary>
        public double[] CpuSecondsEach() => Servers.Select(s => s()).ToArray();

        /// <summary>The measured server's process id, whose tiered-compilation thread still working means it is not warm yet.</summary>
        public int? JitProcess { get; init; }
    }

    /// <summary>
    /// CPU ticks of each of a process's threads named like the runtime's tiered-compilation worker (".NET Tiered Com…"),
    /// by thread id. The worker exits when it runs out of work and a new one starts later, so callers sample often and
    /// keep each thread's last value.
    /// </summary>
    internal static void TieringTicks(int pid, Dictionary<int, long> last)
    {
        try
        {
            foreach (var task in Directory.EnumerateDirectories($"/proc/{pid}/task"))
            {
                try
                {
                    var stat = File.ReadAllText(Path.Combine(task, "stat"));
                    var name = stat[(stat.IndexOf('(') + 1)..stat.LastIndexOf(')')];
                    if (name.StartsWith(".NET Tiered", StringComparison.Ordinal))
                    {
                        last[int.Parse(Path.GetFileName(task), CultureInfo.InvariantCulture)] = CpuTicks(StatFields(stat), 11);
                    }
                }
                catch (IOException)
                {
                    // the thread ended between listing and reading
                }
            }
        }
        catch (DirectoryNotFoundException)
        {
        }
    }

    /// <summary>CPU seconds of a process (user + system, fields 14–15 of <c>/proc/PID/stat</c>), plus its reaped children's (16–17) when asked.</summary>
    internal static double CpuSeconds(int pid, bool withReapedChildren = false)
    {
        try
        {
            var stat = File.ReadAllText($"/proc/{pid}/stat");
            var fields = StatFields(stat);
            return (CpuTicks(fields, 11) + (withReapedChildren ? CpuTicks(fields, 13) : 0)) / 100.0;
        }
        catch (IOException)
        {
            return 0; // exited between listing and reading
        }
    }

    /// <summary>The fields of a <c>/proc/…/stat</c> line after the command name (which may hold spaces): index 0 is the state.</summary>
    private static string[] StatFields(string stat) => stat[(stat.LastIndexOf(')') + 2)..].Split(' ');

    /// <summary>User + system clock ticks from <paramref name="fields"/> at <paramref name="at"/> and the one after.</summary>
    private static long CpuTicks(string[] fields, int at) =>
        long.Parse(fields[at], CultureInfo.InvariantCulture) + long.Parse(fields[at + 1], CultureInfo.InvariantCulture);

    /// <summary>CPU seconds of PostgreSQL: the postmaster, its live backends and those it has reaped.</summary>
    internal static double PostgresCpuSeconds(int postmaster)
    {
        var total = CpuSeconds(postmaster, withReapedChildren: true);
        foreach (var dir in Directory.EnumerateDirectories("/proc"))
        {
            if (int.TryParse(Path.GetFileName(dir), CultureInfo.InvariantCulture, out var pid) && pid != postmaster)
            {
                try
                {
                    var stat = File.ReadAllText(Path.Combine(dir, "stat"));
                    var fields = StatFields(stat);
                    if (fields[1] == postmaster.ToString(CultureInfo.InvariantCulture))
                    {
                        total += CpuSeconds(pid);
                    }
                }
                catch (IOException)
                {
                }
            }
        }

        return total;
    }

    private sealed record Row(string Name, Wrk Bare, Wrk Valet, IReadOnlyList<double> Ratios, long Errors)
    {
        public string Markdown()
        {
            var ratios = string.Join(", ", Ratios.Select(r => r.ToString("F2", CultureInfo.InvariantCulture)));
            var errors = Errors > 0 ? $" — **{Errors} non-2xx/socket errors: not a valid measure**" : "";
            return $"| {Name} | {Bare.Rps:N0} | {Valet.Rps:N0} | **{Median(Ratios):F2}** ({ratios}) | {Bare.P50Ms:F2} / {Valet.P50Ms:F2} ms | " +
                $"{Bare.P99Ms:F2} / {Valet.P99Ms:F2} ms | {Valet.P50Ms - Bare.P50Ms:F2} ms | {Bare.CpuUsPerRequest:F0} / {Valet.CpuUsPerRequest:F0} us{errors} |";
        }
    }

    private static async Task<Row> MeasureAsync(string name, Target bare, Target valet, Pinning pinning, int connections, int seconds, int rounds,
        int warmup)
    {
        Console.WriteLine($"\n{name}");
        // Warm-up alternates in short slices until tiered JIT (with dynamic PGO) has settled on both sides: --warmup seconds
        // each, then more 4 s slices (up to three times as long) until neither side's tiered-compilation thread used over 1 % of a
        // slice. Under full load on one core Valet's JIT took about a minute to settle; rounds measured before that read low.
        for (var i = 0; i < 3; i++)
        {
            await Wrk.RunAsync(bare, pinning, connections, Math.Max(1, warmup / 3));
            await Wrk.RunAsync(valet, pinning, connections, Math.Max(1, warmup / 3));
        }

        const int slice = 4;
        for (var extra = 0; extra < 3 * warmup; extra += slice)
        {
            var bareJit = await JitDuringAsync(bare, pinning, connections, slice);
            var valetJit = await JitDuringAsync(valet, pinning, connections, slice);
            if (bareJit < 0.01 * slice && valetJit < 0.01 * slice)
            {
                Console.WriteLine($"  warm after {warmup + extra + slice} s per side (tiered JIT in the last slice: bare {bareJit * 1000:F0} ms, Valet {valetJit * 1000:F0} ms)");
                break;
            }
        }

        var bareRounds = new List<Wrk>();
        var valetRounds = new List<Wrk>();
        for (var round = 1; round <= rounds; round++)
        {
            // Alternate which side goes first, so neither always follows the other's GC or thermal state.
            var first = round % 2 == 1;
            var a = await Wrk.RunAsync(first ? bare : valet, pinning, connections, seconds);
            var b = await Wrk.RunAsync(first ? valet : bare, pinning, connections, seconds);
            var (bareResult, valetResult) = first ? (a, b) : (b, a);
            bareRounds.Add(bareResult);
            valetRounds.Add(valetResult);
            Console.WriteLine($"  round {round}: bare {bareResult.Rps,9:N0} rps p50 {bareResult.P50Ms:F2} ms p99 {bareResult.P99Ms:F2} ms | " +
                $"Valet {valetResult.Rps,9:N0} rps p50 {valetResult.P50Ms:F2} ms p99 {valetResult.P99Ms:F2} ms | ratio {valetResult.Rps / bareResult.Rps:F2} | " +
                $"server CPU/request bare {bareResult.CpuUsPerRequest:F0} us{Split(bareResult)}, Valet {valetResult.CpuUsPerRequest:F0} us{Split(valetResult)} " +
                $"(ratio {bareResult.CpuUsPerRequest / valetResult.CpuUsPerRequest:F2})" +
                (bareResult.Errors + valetResult.Errors > 0 ? $" | errors bare {bareResult.Errors} Valet {valetResult.Errors}" : ""));
        }

        // Which server took it, where there is more than one and they are named: "(valet 55 + upstream 18 + postgres 7)".
        static string Split(Wrk result) => result.CpuUsEach.Length < 2 || result.Names.Length != result.CpuUsEach.Length ? string.Empty
            : " (" + string.Join(" + ", result.CpuUsEach.Select((c, i) => result.Names[i] + " " + c.ToString("F0", CultureInfo.InvariantCulture))) + ")";

        var ratios = bareRounds.Zip(valetRounds, (b, v) => v.Rps / b.Rps).ToList();
        var median = ratios.Select((r, i) => (r, i)).OrderBy(x => x.r).ElementAt(ratios.Count / 2).i;
        return new Row(name, bareRounds[median], valetRounds[median], ratios, bareRounds.Sum(r => r.Errors) + valetRounds.Sum(r => r.Errors));
    }

    /// <summary>Loads <paramref name="target"/> for <paramref name="seconds"/>; answers the CPU seconds its tiered-compilation threads used meanwhile.</summary>
    private static async Task<double> JitDuringAsync(Target target, Pinning pinning, int connections, int seconds)
    {
        if (target.JitProcess is not { } pid)
        {
            await Wrk.RunAsync(target, pinning, connections, seconds);
            return 0;
        }

        var before = new Dictionary<int, long>();
        TieringTicks(pid, before);
        var seen = new Dictionary<int, long>(before);
        using var done = new CancellationTokenSource();
        var sampler = Task.Run(async () =>
        {
            while (!done.IsCancellationRequested)
            {
                TieringTicks(pid, seen);
                await Task.Delay(50, CancellationToken.None);
            }
        });
        await Wrk.RunAsync(target, pinning, connections, seconds);
        await done.CancelAsync();
        await sampler;
        TieringTicks(pid, seen);
        return seen.Sum(thread => thread.Value - before.GetValueOrDefault(thread.Key)) / 100.0;
    }

    private static double Median(IReadOnlyList<double> values) => values.Order().ElementAt(values.Count / 2);

    /// <summary>Imports a long-lived connection on the bench provider and an API key holding it (operator routes, before any load).</summary>
    private static async Task<(string ConnectionId, string Key)> SetUpAsync(Uri valet)
    {
        using var admin = new HttpClient { BaseAddress = valet };
        admin.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", AdminToken);
        var credential = await ReadAsync(await admin.PostAsJsonAsync("/v1/orgs/default/credentials",
            new { provider = "bench", client_id = "bench", client_secret = "bench-secret" }));
        var connection = await ReadAsync(await admin.PostAsJsonAsync("/v1/orgs/default/connections/import", new
        {
            provider = "bench",
            credential_id = credential.GetProperty("id").GetString(),
            access_token = "bench-access-token-" + Convert.ToHexString(RandomNumberGenerator.GetBytes(16)),
            refresh_token = "bench-refresh-token",
            expires_in = 86_400,
            account = new { id = "bench-user" },
        }));
        var id = connection.GetProperty("id").GetString()!;
        var key = await ReadAsync(await admin.PostAsJsonAsync("/v1/orgs/default/keys", new { name = "bench", permissions = new[] { new { connection = id } } }));
        return (id, key.GetProperty("key").GetString()!);
    }

    private static async Task<JsonElement> ReadAsync(HttpResponseMessage response)
    {
        var body = await response.Content.ReadAsStringAsync();
        if (!response.IsSuccessStatusCode)
        {
            throw new InvalidOperationException($"{response.RequestMessage?.RequestUri} answered {(int)response.StatusCode}: {body}");
        }

        return JsonDocument.Parse(body).RootElement.Clone();
    }

    internal static int FreePort()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }

    internal static string? Which(string name) =>
        (Environment.GetEnvironmentVariable("PATH") ?? "").Split(':').Select(d => Path.Combine(d, name)).FirstOrDefault(File.Exists);

    internal static int Option(string[] args, string name, int fallback)
    {
        var i = Array.IndexOf(args, name);
        return i >= 0 && i + 1 < args.Length ? int.Parse(args[i + 1], CultureInfo.InvariantCulture) : fallback;
    }

    internal static string? StringOption(string[] args, string name)
    {
        var i = Array.IndexOf(args, name);
        return i >= 0 && i + 1 < args.Length ? args[i + 1] : null;
    }

    internal sealed class AsyncDisposable(Func<Task> dispose) : IAsyncDisposable
    {
        public async ValueTask DisposeAsync() => await dispose();
    }

    /// <summary>Which cores the load generator and the servers get: load on core 0, servers on the rest (when there are two or more).</summary>
    internal sealed record Pinning(string? LoadCores, string? ServerCores)
    {
        public static Pinning Detect()
        {
            var cores = Environment.ProcessorCount;
            return cores >= 2 && Which("taskset") is not null ? new Pinning("0", cores == 2 ? "1" : $"1-{cores - 1}") : new Pinning(null, null);
        }

        public ProcessStartInfo Wrap(string file, IEnumerable<string> args, bool load)
        {
            var cores = load ? LoadCores : ServerCores;
            var info = new ProcessStartInfo(cores is null ? file : "taskset")
            {
                RedirectStandardOutput = true,
                RedirectStandardError = true,
                UseShellExecute = false,
            };
            if (cores is not null)
            {
                info.ArgumentList.Add("-c");
                info.ArgumentList.Add(cores);
                info.ArgumentList.Add(file);
            }

            foreach (var arg in args)
            {
                info.ArgumentList.Add(arg);
            }

            return info;
        }

        /// <summary>
        /// Pins a running process and every thread it has (PostgreSQL's postmaster: the backends it forks inherit it), to
        /// the servers' cores or, with <paramref name="onLoadCore"/>, the load generator's.
        /// </summary>
        public void PinTree(int pid, bool onLoadCore = false)
        {
            if ((onLoadCore ? LoadCores : ServerCores) is not { } cores)
            {
                return;
            }

            using var taskset = Process.Start(new ProcessStartInfo("taskset", ["-a", "-p", "-c", cores, pid.ToString(CultureInfo.InvariantCulture)])
            {
                RedirectStandardOutput = true,
                UseShellExecute = false,
            })!;
            taskset.WaitForExit();
        }

        public override string ToString() => LoadCores is null
            ? $"{Environment.ProcessorCount} core(s): no pinning (load generator and servers share the CPU)"
            : $"wrk pinned to core {LoadCores}, every server (baselines, upstream, PostgreSQL, valet) to core(s) {ServerCores}";
    }

    /// <summary>One server in its own process, pinned; killed with its tree on dispose.</summary>
    internal sealed class Child(Process process, Uri url, string name) : IAsyncDisposable
    {
        private readonly System.Text.StringBuilder _output = new();

        public Uri Url { get; } = url;

        public double CpuSeconds() => ExternalBench.CpuSeconds(process.Id);

        public static async Task<Child> StartBareAsync(string kind, Pinning pinning, Uri? upstream, bool perfMap = false)
        {
            var port = FreePort();
            var args = new List<string> { typeof(ExternalBench).Assembly.Location, "bare", kind, port.ToString(CultureInfo.InvariantCulture) };
            if (upstream is not null)
            {
                args.Add(upstream.ToString());
            }

            var info = pinning.Wrap("dotnet", args, load: false);
            info.Environment["DOTNET_NOLOGO"] = "1";
            if (perfMap)
            {
                PerfMap(info);
            }

            return await StartAsync(info, new Uri($"http://127.0.0.1:{port}/"), "bare " + kind, "/healthz");
        }

        public int ProcessId => process.Id;

        public static async Task<Child> StartValetAsync(Pinning pinning, string? database, Uri upstream, bool perfMap)
        {
            var port = FreePort();
            var url = new Uri($"http://127.0.0.1:{port}/");
            var template = CliRunner.StartInfo(["serve", "--urls", url.ToString().TrimEnd('/')], new Dictionary<string, string?>
            {
                ["VALET_DATA_DIR"] = Path.Combine(Path.GetTempPath(), "valet-external-" + Guid.NewGuid().ToString("N")[..12]),
                ["VALET_DATABASE"] = database,
                ["VALET_PUBLIC_URL"] = url.ToString().TrimEnd('/'),
                ["VALET_ENCRYPTION_KEY"] = Convert.ToBase64String(RandomNumberGenerator.GetBytes(32)),
                ["VALET_ADMIN_TOKEN"] = AdminToken,
                // One key carries the whole load: the per-key limit (100/s by default) would answer most of it 429.
                ["VALET_RATELIMITS__AGENTREQUESTSPERSECOND"] = "100000000",
                ["VALET_RATELIMITS__AGENTBURST"] = "100000000",
                ["VALET_PROVIDERS__BENCH__AUTHORIZATIONENDPOINT"] = new Uri(upstream, "/authorize").ToString(),
                ["VALET_PROVIDERS__BENCH__TOKENENDPOINT"] = new Uri(upstream, "/token").ToString(),
                ["VALET_PROVIDERS__BENCH__APIBASEURL"] = new Uri(upstream, "/api").ToString(),
                ["VALET_PROVIDERS__BENCH__ALLOWPRIVATENETWORK"] = "true",
            });
            var info = pinning.Wrap(template.FileName, template.ArgumentList, load: false);
            foreach (var (key, value) in template.Environment)
            {
                info.Environment[key] = value;
            }

            info.RedirectStandardInput = true;
            if (perfMap)
            {
                PerfMap(info);
            }

            return await StartAsync(info, url, "valet serve" + (database is null ? " (SQLite)" : " (PostgreSQL)"), "/healthz");
        }

        private static void PerfMap(ProcessStartInfo info)
        {
            info.Environment["DOTNET_PerfMapEnabled"] = "1";
            info.Environment["DOTNET_EnableWriteXorExecute"] = "0"; // JIT code in plain anonymous memory, so perf finds it in the map
        }

        internal static async Task<Child> StartAsync(ProcessStartInfo info, Uri url, string name, string probePath)
        {
            var process = Process.Start(info) ?? throw new InvalidOperationException($"{name} did not start");
            var child = new Child(process, url, name);
            process.OutputDataReceived += (_, e) => child.Observe(e.Data);
            process.ErrorDataReceived += (_, e) => child.Observe(e.Data);
            process.BeginOutputReadLine();
            process.BeginErrorReadLine();
            using var probe = new HttpClient { BaseAddress = url, Timeout = TimeSpan.FromSeconds(2) };
            var clock = Stopwatch.StartNew();
            while (clock.Elapsed < TimeSpan.FromSeconds(90))
            {
                if (process.HasExited)
                {
                    throw new InvalidOperationException($"{name} exited with {process.ExitCode}:\n{child.Tail()}");
                }

                try
                {
                    if ((await probe.GetAsync(probePath)).IsSuccessStatusCode)
                    {
                        return child;
                    }
                }
                catch (Exception ex) when (ex is HttpRequestException or TaskCanceledException)
                {
                }

                await Task.Delay(100);
            }

            await child.DisposeAsync();
            throw new InvalidOperationException($"{name} did not answer {probePath} within 90 s:\n{child.Tail()}");
        }

        private void Observe(string? line)
        {
            if (line is null)
            {
                return;
            }

            lock (_output)
            {
                _output.AppendLine(line);
                if (_output.Length > 16_000)
                {
                    _output.Remove(0, _output.Length - 8_000);
                }
            }
        }

        internal string Tail()
        {
            lock (_output)
            {
                return _output.ToString();
            }
        }

        public async ValueTask DisposeAsync()
        {
            if (!process.HasExited)
            {
                process.Kill(entireProcessTree: true);
                await process.WaitForExitAsync();
            }

            process.Dispose();
            _ = name;
        }
    }

    /// <summary>One <c>wrk</c> run and what it printed.</summary>
    internal sealed partial record Wrk(double Rps, double P50Ms, double P99Ms, long Errors, double CpuUsPerRequest, double[] CpuUsEach, string[] Names)
    {
        public static async Task<Wrk> RunAsync(Target target, Pinning pinning, int connections, int seconds)
        {
            var script = Path.Combine(Path.GetTempPath(), $"valet-wrk-{Guid.NewGuid():N}.lua");
            var lines = new List<string> { $"wrk.method = \"{target.Method}\"" };
            if (target.Bearer is not null)
            {
                lines.Add($"wrk.headers[\"Authorization\"] = \"Bearer {target.Bearer}\"");
            }

            await File.WriteAllLinesAsync(script, lines);
            try
            {
                var info = pinning.Wrap("wrk", ["-t1", $"-c{connections}", $"-d{seconds}s", "--latency", "-s", script, target.Url.ToString()], load: true);
                var cpuBefore = target.CpuSecondsEach();
                using var process = Process.Start(info)!;
                var stdout = process.StandardOutput.ReadToEndAsync();
                var stderr = process.StandardError.ReadToEndAsync();
                await process.WaitForExitAsync();
                var cpuEach = target.CpuSecondsEach().Zip(cpuBefore, (after, before) => after - before).ToArray();
                var cpu = cpuEach.Sum();
                var output = await stdout + await stderr;
                if (process.ExitCode != 0 || RpsLine().Match(output) is not { Success: true } rps)
                {
                    throw new InvalidOperationException($"wrk failed ({process.ExitCode}):\n{output}");
                }

                var non2xx = Non2xxLine().Match(output);
                var socketErrors = SocketErrorsLine().Match(output);
                long errors = non2xx.Success ? long.Parse(non2xx.Groups[1].Value, CultureInfo.InvariantCulture) : 0;
                if (socketErrors.Success)
                {
                    errors += socketErrors.Groups.Values.Skip(1).Sum(g => long.Parse(g.Value, CultureInfo.InvariantCulture));
                }

                var requests = double.Parse(rps.Groups[1].Value, CultureInfo.InvariantCulture);
                var total = TotalLine().Match(output) is { Success: true } t ? double.Parse(t.Groups[1].Value, CultureInfo.InvariantCulture) : requests * seconds;
                return new Wrk(requests, Percentile(output, "50"), Percentile(output, "99"), errors, cpu * 1e6 / Math.Max(1, total),
                    cpuEach.Select(c => c * 1e6 / Math.Max(1, total)).ToArray(), target.Names);
            }
            finally
            {
                File.Delete(script);
            }
        }

        internal static double Percentile(string output, string percentile)
        {
            var match = Regex.Match(output, $@"^\s*{percentile}%\s+([\d.]+)(us|ms|s)\s*$", RegexOptions.Multiline);
            if (!match.Success)
            {
                throw new InvalidOperationException($"wrk printed no {percentile}th percentile:\n{output}");
            }

            var value = double.Parse(match.Groups[1].Value, CultureInfo.InvariantCulture);
            return match.Groups[2].Value switch { "us" => value / 1000, "s" => value * 1000, _ => value };
        }

        [GeneratedRegex(@"Requests/sec:\s+([\d.]+)")]
        internal static partial Regex RpsLine();

        [GeneratedRegex(@"(\d+) requests in")]
        internal static partial Regex TotalLine();

        [GeneratedRegex(@"Non-2xx or 3xx responses:\s+(\d+)")]
        internal static partial Regex Non2xxLine();

        [GeneratedRegex(@"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)")]
        internal static partial Regex SocketErrorsLine();
    }
}
