using System.Diagnostics;
using System.Globalization;
using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Text.Json;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Valet.Server.Hosting;
using Yarp.ReverseProxy.Forwarder;

namespace Valet.Bench;

/// <summary>
/// Valet's proxy (API key check, connection and token read, path and header hygiene, connect-time address check, audit)
/// against a bare YARP forwarder with no auth, both in front of the same local upstream, in one run. Two phases: one caller
/// at a time (added latency, p50/p99) and many concurrent callers (throughput). Rounds alternate bare/Valet so drift on a
/// shared machine hits both sides alike. A closed-loop HttpClient load loop, not BenchmarkDotNet: the quantity is requests
/// per second through a server, not a method's time.
/// </summary>
internal static class ProxyBenchmark
{
    private static readonly byte[] Payload = JsonSerializer.SerializeToUtf8Bytes(new { id = 42, login = "octocat", items = Enumerable.Range(0, 10).ToArray() });

    public static async Task<int> RunAsync(string[] args)
    {
        var seconds = Option(args, "--seconds", 5);
        var concurrency = Option(args, "--concurrency", 16);
        var rounds = Option(args, "--rounds", 3);
        var warmup = Option(args, "--warmup", 12);

        await using var upstream = await StartAsync(app => app.MapGet("/api/{**rest}", (HttpContext c) =>
        {
            c.Response.ContentType = "application/json";
            return c.Response.Body.WriteAsync(Payload).AsTask();
        }));
        await using var bare = await StartAsync(app =>
        {
            var invoker = new HttpMessageInvoker(new SocketsHttpHandler { UseProxy = false, AllowAutoRedirect = false, UseCookies = false });
            var forwarder = app.Services.GetRequiredService<IHttpForwarder>();
            var prefix = upstream.Url.ToString().TrimEnd('/');
            app.Map("/api/{**rest}", async context => await forwarder.SendAsync(context, prefix, invoker, ForwarderRequestConfig.Empty, HttpTransformer.Empty));
        }, services => services.AddHttpForwarder());

        var dataDirectory = Path.Combine(Path.GetTempPath(), "valet-bench-" + Guid.NewGuid().ToString("N"));
        var valet = await ValetHost.BuildAsync([], new Dictionary<string, string?>
        {
            ["DATA_DIR"] = dataDirectory,
            ["ADMIN_TOKEN"] = "bench-admin-token-0123456789-abcdefghijk",
            ["urls"] = "http://127.0.0.1:0",
            ["RateLimits:AgentRequestsPerSecond"] = "100000000", // measured, never reached: one key carries the whole load
            ["RateLimits:AgentBurst"] = "100000000",
            ["Providers:bench:AuthorizationEndpoint"] = new Uri(upstream.Url, "/authorize").ToString(),
            ["Providers:bench:TokenEndpoint"] = new Uri(upstream.Url, "/token").ToString(),
            ["Providers:bench:ApiBaseUrl"] = new Uri(upstream.Url, "/api").ToString(),
            ["Providers:bench:AllowPrivateNetwork"] = "true",
        }, builder => builder.Logging.SetMinimumLevel(LogLevel.Warning));
        await valet.StartAsync();
        try
        {
            var valetUrl = new Uri(valet.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.First());
            var (connectionId, key) = await SetUpAsync(valetUrl);
            var bareTarget = new Uri(bare.Url, "/api/user");
            var valetTarget = new Uri(valetUrl, $"/v1/proxy/{connectionId}/user");

            using var bareClient = Client(null);
            using var valetClient = Client(key);

            // Warm-up until tiered JIT (with dynamic PGO) has settled on both sides: Valet's path runs far more methods
            // than the bare forwarder, and a 2 s warm-up measured it half-compiled. Alternating, so both warm alike.
            Console.WriteLine($"warming up {warmup}s ...");
            for (var i = 0; i < 4; i++)
            {
                await LoadAsync(bareClient, bareTarget, concurrency, TimeSpan.FromSeconds(warmup / 8.0));
                await LoadAsync(valetClient, valetTarget, concurrency, TimeSpan.FromSeconds(warmup / 8.0));
            }

            if (Array.IndexOf(args, "--profile") is var at and >= 0 && at + 1 < args.Length)
            {
                // Load on one side alone, for attaching perf / dotnet-trace / dotnet-counters to this process.
                // "bare": the forwarder; "token": Valet's token route (POST); anything else: Valet's proxy.
                var (client, target) = args[at + 1] switch
                {
                    "bare" => (bareClient, bareTarget),
                    "token" => (valetClient, new Uri(valetUrl, $"/v1/connections/{connectionId}/token")),
                    _ => (valetClient, valetTarget),
                };
                Console.WriteLine($"profiling: pid {Environment.ProcessId}, {concurrency} callers on {target} for {seconds}s");
                using var sampler = new AllocationSampler { Recording = true };
                var (allocated, gen0, items, contention, cpu) = (GC.GetTotalAllocatedBytes(), GC.CollectionCount(0), ThreadPool.CompletedWorkItemCount,
                    Monitor.LockContentionCount, Environment.CpuUsage.TotalTime);
                var (gen1, gen2, paused) = (GC.CollectionCount(1), GC.CollectionCount(2), GC.GetTotalPauseDuration());
                var alone = await LoadAsync(client, target, concurrency, TimeSpan.FromSeconds(seconds));
                double PerRequest(double total) => total / alone.Requests;
                Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
                    $"  {alone.Requests} requests, {alone.Rps:F0} req/s; per request (whole process: client, proxy, upstream): " +
                    $"{PerRequest((Environment.CpuUsage.TotalTime - cpu).TotalMicroseconds):F1} us CPU, {PerRequest(GC.GetTotalAllocatedBytes() - allocated):F0} B allocated, " +
                    $"{PerRequest(ThreadPool.CompletedWorkItemCount - items):F2} pool work items, {PerRequest(Monitor.LockContentionCount - contention):F4} lock contentions; " +
                    $"gen0 GCs {GC.CollectionCount(0) - gen0}"));
                // What the collections cost: they are blocking here (gen0/gen1), so their pause is their time.
                Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
                    $"  GCs gen0/gen1/gen2 {GC.CollectionCount(0) - gen0}/{GC.CollectionCount(1) - gen1}/{GC.CollectionCount(2) - gen2}, " +
                    $"paused {PerRequest((GC.GetTotalPauseDuration() - paused).TotalMicroseconds):F2} us per request, " +
                    $"last gen0 promoted {GC.GetGCMemoryInfo(GCKind.Ephemeral).PromotedBytes} B"));
                sampler.Recording = false;
                Console.WriteLine("  allocated bytes per request by type (sampled):");
                foreach (var (type, bytes) in sampler.Top(45))
                {
                    Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"    {bytes / (double)alone.Requests,8:F0}  {type}"));
                }
                return 0;
            }

            var serialBare = new List<RoundResult>();
            var serialValet = new List<RoundResult>();
            var loadBare = new List<RoundResult>();
            var loadValet = new List<RoundResult>();
            for (var round = 0; round < rounds; round++)
            {
                serialBare.Add(await LoadAsync(bareClient, bareTarget, 1, TimeSpan.FromSeconds(seconds)));
                serialValet.Add(await LoadAsync(valetClient, valetTarget, 1, TimeSpan.FromSeconds(seconds)));
                loadBare.Add(await LoadAsync(bareClient, bareTarget, concurrency, TimeSpan.FromSeconds(seconds)));
                loadValet.Add(await LoadAsync(valetClient, valetTarget, concurrency, TimeSpan.FromSeconds(seconds)));
            }

            RoundResult.PrintComparison($"1 caller, {seconds}s x {rounds}", "bare YARP", serialBare, "Valet", serialValet);
            RoundResult.PrintComparison($"{concurrency} callers, {seconds}s x {rounds}", "bare YARP", loadBare, "Valet", loadValet);
            return 0;
        }
        finally
        {
            await valet.StopAsync();
            await valet.DisposeAsync();
            try
            {
                Directory.Delete(dataDirectory, recursive: true);
            }
            catch (IOException)
            {
            }
        }
    }

    /// <summary>Calls <paramref name="target"/> (POST for a token route, else GET), reading each body through one buffer per worker.</summary>
    private static Task<RoundResult> LoadAsync(HttpClient client, Uri target, int concurrency, TimeSpan duration) =>
        RoundResult.MeasureAsync(() =>
        {
            var buffer = new byte[4096];
            return async () =>
            {
                using var response = target.AbsolutePath.EndsWith("/token", StringComparison.Ordinal)
                    ? await client.PostAsync(target, null)
                    : await client.GetAsync(target, HttpCompletionOption.ResponseHeadersRead);
                await using (var body = await response.Content.ReadAsStreamAsync())
                {
                    while (await body.ReadAsync(buffer) > 0)
                    {
                    }
                }

                return response.IsSuccessStatusCode;
            };
        }, concurrency, duration);

    private static async Task<(string ConnectionId, string Key)> SetUpAsync(Uri valetUrl)
    {
        using var admin = Client("bench-admin-token-0123456789-abcdefghijk");
        admin.BaseAddress = valetUrl;
        var credential = await PostAsync(admin, "/v1/orgs/default/credentials", new { provider = "bench", client_id = "bench", client_secret = "bench-secret" });
        var connection = await PostAsync(admin, "/v1/orgs/default/connections/import", new
        {
            provider = "bench",
            credential_id = credential.GetProperty("id").GetString(),
            access_token = "bench-access-token",
            expires_in = 86_400,
            account = new { id = "bench-account" },
        });
        var connectionId = connection.GetProperty("id").GetString()!;
        var key = await PostAsync(admin, "/v1/orgs/default/keys", new { name = "bench", permissions = new[] { new { connection = connectionId } } });
        return (connectionId, key.GetProperty("key").GetString()!);
    }

    private static async Task<JsonElement> PostAsync(HttpClient client, string path, object body)
    {
        using var response = await client.PostAsJsonAsync(path, body);
        var json = await response.Content.ReadFromJsonAsync<JsonElement>();
        return response.IsSuccessStatusCode ? json : throw new InvalidOperationException($"{path}: {(int)response.StatusCode} {json}");
    }

    private static HttpClient Client(string? bearer)
    {
        var client = new HttpClient(new SocketsHttpHandler { UseProxy = false, MaxConnectionsPerServer = 1024, PooledConnectionLifetime = Timeout.InfiniteTimeSpan });
        if (bearer is not null)
        {
            client.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", bearer);
        }

        return client;
    }

    private static int Option(string[] args, string name, int fallback)
    {
        var i = Array.IndexOf(args, name);
        return i >= 0 && i + 1 < args.Length && int.TryParse(args[i + 1], NumberStyles.None, CultureInfo.InvariantCulture, out var value) && value > 0 ? value : fallback;
    }

    private sealed class Host(WebApplication app) : IAsyncDisposable
    {
        public Uri Url { get; } = new(app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.First());

        public async ValueTask DisposeAsync()
        {
            await app.StopAsync();
            await app.DisposeAsync();
        }
    }

    private static async Task<Host> StartAsync(Action<WebApplication> map, Action<IServiceCollection>? services = null)
    {
        var builder = WebApplication.CreateSlimBuilder(BenchHosts.Options);
        builder.WebHost.UseUrls("http://127.0.0.1:0");
        builder.Logging.ClearProviders();
        services?.Invoke(builder.Services);
        var app = builder.Build();
        map(app);
        await app.StartAsync();
        return new Host(app);
    }
}
