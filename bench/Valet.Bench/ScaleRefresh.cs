using System.Diagnostics;
using System.Globalization;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Logging;
using Npgsql;
using Valet.Core.Domain;
using static Valet.Bench.ExternalBench;

namespace Valet.Bench;

/// <summary><c>scale</c>, part 4: the proactive refresher working through connections that all fall due at once.</summary>
internal static partial class ScaleBench
{
    private sealed record RefreshRun(string Name, int Due, int Done, int IdpCalls, int Failed, double FirstSeconds, double AllSeconds,
        IReadOnlyList<double> NodeCpu, double IdpCpu, double PostgresCpu)
    {
        public double Rate => Done / AllSeconds;
    }

    private static async Task<bool> RefreshAsync(Context context, SeededDatabase large, ScaleIdp idp)
    {
        var settings = context.Settings;

        // Poll every second with no jitter, so the time to the first claim is at most a second, not up to 45.
        var defaults = new Dictionary<string, string> { ["VALET_REFRESH__PROACTIVEINTERVAL"] = "00:00:01", ["VALET_REFRESH__JITTER"] = "00:00:00" };
        var tuned = new Dictionary<string, string>(defaults)
        {
            ["VALET_REFRESH__BATCHSIZE"] = TunedBatch.ToString(CultureInfo.InvariantCulture),
            ["VALET_REFRESH__MAXCONCURRENCY"] = TunedConcurrency.ToString(CultureInfo.InvariantCulture),
        };
        var latency = settings.IdpLatencyMs;
        var tunedName = $"1 node, BatchSize {TunedBatch}, MaxConcurrency {TunedConcurrency}";

        // Each "claim index before 0010" run follows the same run on the current index, for an A/B in one run and one state.
        var plan = new (string Name, int Nodes, Dictionary<string, string> Environment, int Latency, bool OldIndex)[]
        {
            ("1 node", 1, defaults, 0, false),
            ("1 node, claim index before 0010", 1, defaults, 0, true),
            ("2 nodes", 2, defaults, 0, false),
            ("2 nodes, claim index before 0010", 2, defaults, 0, true),
            ("1 node", 1, defaults, latency, false),
            ("2 nodes", 2, defaults, latency, false),
            (tunedName, 1, tuned, 0, false),
            (tunedName, 1, tuned, latency, false),
        };

        Console.WriteLine($"\n== Proactive refresher: {settings.Due:N0} of {large.Connections:N0} connections made due at once (expires_at = " +
            $"next_refresh_at = now), a local IdP answering each refresh_token grant at once or after {latency} ms; " +
            "Refresh defaults (BatchSize 50, MaxConcurrency 8) except ProactiveInterval 1 s and no jitter; nodes started for each run, " +
            "connections vacuumed before it (as autovacuum would have); nothing pinned (nodes, IdP and PostgreSQL share all cores)");
        context.PinPostgres(context.AllCores);

        // Spread over all orgs: every (total / due)-th connection.
        var all = large.AllPairs().Select(p => p.ConnectionId).ToList();
        var step = Math.Max(1, all.Count / settings.Due);
        var due = all.Where((_, i) => i % step == 0).Take(settings.Due).ToArray();

        var runs = new List<RefreshRun>();
        foreach (var (name, count, environment, idpLatency, oldIndex) in plan)
        {
            await using (var dataSource = NpgsqlDataSource.Create(large.ConnectionString))
            await using (var connection = await dataSource.OpenConnectionAsync())
            {
                if (oldIndex)
                {
                    await ScaleSeed.ExecAsync(connection, ToClaimIndexBefore0010);
                }

                await ScaleSeed.ExecAsync(connection, "VACUUM connections");
            }

            var nodes = new List<Child>();
            try
            {
                for (var i = 1; i <= count; i++)
                {
                    nodes.Add(await context.StartValetAsync($"valet serve (refresh {i})", large.ConnectionString, pinned: false, environment));
                }

                await idp.SetLatencyAsync(idpLatency);
                var run = await RefreshRunAsync(context, large, due, nodes, idp, $"{name}, IdP +{idpLatency} ms");
                runs.Add(run);
                Console.WriteLine($"  {run.Name}: {run.Done:N0}/{run.Due:N0} refreshed in {F(run.AllSeconds)} s → {run.Rate:N0} refreshes/s " +
                    $"(first after {F(run.FirstSeconds)} s); IdP calls {run.IdpCalls:N0}; failed or not active {run.Failed}");
            }
            finally
            {
                foreach (var node in nodes)
                {
                    await context.StopAsync(node);
                }

                if (oldIndex)
                {
                    await using var dataSource = NpgsqlDataSource.Create(large.ConnectionString);
                    await using var connection = await dataSource.OpenConnectionAsync();
                    await ScaleSeed.ExecAsync(connection, FromClaimIndexBefore0010);
                }
            }
        }

        Console.WriteLine();
        Console.WriteLine("| run | refreshes/s | all done after | IdP calls | CPU per refresh: Valet nodes / IdP / PostgreSQL | CPU busy (of " +
            $"{Environment.ProcessorCount} cores): Valet nodes / IdP / PostgreSQL |");
        Console.WriteLine("|---|---|---|---|---|---|");
        foreach (var run in runs)
        {
            var nodesCpu = run.NodeCpu.Sum();
            Console.WriteLine($"| {run.Name} | **{run.Rate:N0}** | {F(run.AllSeconds)} s | {run.IdpCalls:N0} | " +
                $"{F(nodesCpu * 1e3 / run.Done)} ({string.Join(" + ", run.NodeCpu.Select(c => F(c * 1e3 / run.Done)))}) / {F(run.IdpCpu * 1e3 / run.Done)} / " +
                $"{F(run.PostgresCpu * 1e3 / run.Done)} ms | {F(nodesCpu / run.AllSeconds * 100, "F0")}% / {F(run.IdpCpu / run.AllSeconds * 100, "F0")}% / " +
                $"{F(run.PostgresCpu / run.AllSeconds * 100, "F0")}% |");
        }

        return runs.All(r => r.Done == r.Due && r.IdpCalls == r.Due && r.Failed == 0);
    }

    /// <summary>Puts back the claim's index as it was before migration 0010 (on next_refresh_at alone), for the A/B.</summary>
    internal const string ToClaimIndexBefore0010 =
        "DROP INDEX ix_connections_next_refresh_id; CREATE INDEX ix_connections_next_refresh ON connections (next_refresh_at) WHERE next_refresh_at IS NOT NULL";

    /// <summary>Migration 0010's index again.</summary>
    internal const string FromClaimIndexBefore0010 =
        "DROP INDEX ix_connections_next_refresh; CREATE INDEX ix_connections_next_refresh_id ON connections (next_refresh_at, id) WHERE next_refresh_at IS NOT NULL";

    /// <summary>The larger refresher settings of the last configuration; within the pool of 25 connections (a refresh holds one across the IdP call).</summary>
    private const int TunedBatch = 200;

    private const int TunedConcurrency = 16;

    /// <summary>Marks the connections due in one statement, then waits until every one has been refreshed since.</summary>
    private static async Task<RefreshRun> RefreshRunAsync(Context context, SeededDatabase large, string[] due, IReadOnlyList<Child> nodes, ScaleIdp idp,
        string name)
    {
        await using var dataSource = NpgsqlDataSource.Create(large.ConnectionString);
        var callsBefore = await idp.CountAsync();
        var nodeCpuBefore = nodes.Select(n => n.CpuSeconds()).ToList();
        var idpCpuBefore = idp.CpuSeconds();
        var postgresCpuBefore = context.PostgresCpu();
        DateTime marked;
        await using (var command = dataSource.CreateCommand(
            "UPDATE connections SET expires_at = now(), next_refresh_at = now() WHERE id = ANY(@ids) RETURNING now()"))
        {
            command.Parameters.AddWithValue("ids", due);
            marked = (DateTime)(await command.ExecuteScalarAsync())!;
        }

        // Valet stores timestamps truncated to the millisecond.
        var since = marked.AddMilliseconds(-1);

        var clock = Stopwatch.StartNew();
        (long Done, DateTime? First, DateTime? Last) progress = (0, null, null);
        while (clock.Elapsed < TimeSpan.FromMinutes(15))
        {
            await Task.Delay(250);
            await using var command = dataSource.CreateCommand(
                "SELECT count(*), min(last_refreshed_at), max(last_refreshed_at) FROM connections WHERE id = ANY(@ids) AND last_refreshed_at >= @marked");
            command.Parameters.AddWithValue("ids", due);
            command.Parameters.AddWithValue("marked", since);
            await using var reader = await command.ExecuteReaderAsync();
            await reader.ReadAsync();
            progress = (reader.GetInt64(0), reader.IsDBNull(1) ? null : reader.GetDateTime(1), reader.IsDBNull(2) ? null : reader.GetDateTime(2));
            if (progress.Done >= due.Length)
            {
                break;
            }
        }

        var nodeCpu = nodes.Select((n, i) => n.CpuSeconds() - nodeCpuBefore[i]).ToList();
        var idpCpu = idp.CpuSeconds() - idpCpuBefore;
        var postgresCpu = context.PostgresCpu() - postgresCpuBefore;
        var calls = await idp.CountAsync() - callsBefore;
        await using var check = dataSource.CreateCommand("SELECT count(*) FROM connections WHERE id = ANY(@ids) AND (refresh_failures > 0 OR status <> 'active')");
        check.Parameters.AddWithValue("ids", due);
        var failed = (long)(await check.ExecuteScalarAsync())!;
        var last = progress.Last ?? marked;
        return new RefreshRun(name, due.Length, (int)progress.Done, calls, (int)failed, ((progress.First ?? marked) - marked).TotalSeconds,
            Math.Max(0.001, (last - marked).TotalSeconds), nodeCpu, idpCpu, postgresCpu);
    }
}

/// <summary>
/// A local token endpoint in its own process (so its CPU is its own): answers every <c>refresh_token</c> grant with a new
/// access and refresh token (<c>expires_in</c> 3600) after a settable delay, and counts the grants.
/// </summary>
internal sealed class ScaleIdp(Child child) : IAsyncDisposable
{
    private static long _grants;
    private static int _latencyMs;

    private readonly HttpClient _client = new() { BaseAddress = child.Url };

    public Uri Url => child.Url;

    public double CpuSeconds() => child.CpuSeconds();

    public static async Task<ScaleIdp> StartAsync()
    {
        var port = FreePort();
        var info = new Pinning(null, null).Wrap("dotnet",
            [typeof(ScaleIdp).Assembly.Location, "scale", "--idp-server", port.ToString(CultureInfo.InvariantCulture)], load: false);
        info.Environment["DOTNET_NOLOGO"] = "1";
        return new ScaleIdp(await Child.StartAsync(info, new Uri($"http://127.0.0.1:{port}/"), "IdP", "/count"));
    }

    public async Task<int> CountAsync() => int.Parse(await _client.GetStringAsync("/count"), CultureInfo.InvariantCulture);

    public async Task SetLatencyAsync(int milliseconds) =>
        (await _client.PostAsync($"/latency/{milliseconds}", null)).EnsureSuccessStatusCode();

    public async ValueTask DisposeAsync()
    {
        _client.Dispose();
        await child.DisposeAsync();
    }

    /// <summary>The IdP process itself (<c>scale --idp-server PORT</c>).</summary>
    public static async Task<int> ServeAsync(int port)
    {
        var builder = WebApplication.CreateSlimBuilder(BenchHosts.Options);
        builder.Logging.ClearProviders();
        builder.WebHost.UseUrls($"http://127.0.0.1:{port}");
        var app = builder.Build();
        app.MapPost("/token", async (HttpRequest request) =>
        {
            var form = await request.ReadFormAsync();
            if (form["grant_type"] != "refresh_token" || string.IsNullOrEmpty(form["refresh_token"]))
            {
                return Results.Json(new { error = "invalid_request" }, statusCode: 400);
            }

            if (Volatile.Read(ref _latencyMs) is > 0 and var latency)
            {
                await Task.Delay(latency);
            }

            var n = Interlocked.Increment(ref _grants);
            return Results.Json(new
            {
                access_token = $"idp-at-{n}-{Ids.RandomToken(32)}",
                refresh_token = $"idp-rt-{n}-{Ids.RandomToken(24)}",
                token_type = "Bearer",
                expires_in = 3600,
            });
        });
        app.MapGet("/count", () => Interlocked.Read(ref _grants).ToString(CultureInfo.InvariantCulture));
        app.MapPost("/latency/{ms:int}", (int ms) =>
        {
            Volatile.Write(ref _latencyMs, ms);
            return Results.Ok();
        });
        await app.RunAsync();
        return 0;
    }
}
