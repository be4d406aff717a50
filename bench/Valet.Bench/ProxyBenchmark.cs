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
        const int rounds = 2;

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
            ["ADMIN_TOKEN"] = "bench-admin-token-0123456789",
            ["urls"] = "http://127.0.0.1:0",
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
            await LoadAsync(bareClient, bareTarget, concurrency, TimeSpan.FromSeconds(2)); // warm-up: JIT, pools, SQLite cache
            await LoadAsync(valetClient, valetTarget, concurrency, TimeSpan.FromSeconds(2));

            var serialBare = new List<Result>();
            var serialValet = new List<Result>();
            var loadBare = new List<Result>();
            var loadValet = new List<Result>();
            for (var round = 0; round < rounds; round++)
            {
                serialBare.Add(await LoadAsync(bareClient, bareTarget, 1, TimeSpan.FromSeconds(seconds)));
                serialValet.Add(await LoadAsync(valetClient, valetTarget, 1, TimeSpan.FromSeconds(seconds)));
                loadBare.Add(await LoadAsync(bareClient, bareTarget, concurrency, TimeSpan.FromSeconds(seconds)));
                loadValet.Add(await LoadAsync(valetClient, valetTarget, concurrency, TimeSpan.FromSeconds(seconds)));
            }

            Print($"1 caller, {seconds}s x {rounds}", Merge(serialBare), Merge(serialValet));
            Print($"{concurrency} callers, {seconds}s x {rounds}", Merge(loadBare), Merge(loadValet));
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

    private sealed record Result(long Requests, long Errors, double Seconds, double[] LatenciesMs)
    {
        public double Rps => Requests / Seconds;

        public double Percentile(double p) => LatenciesMs.Length == 0 ? double.NaN : LatenciesMs[Math.Min(LatenciesMs.Length - 1, (int)(p * LatenciesMs.Length))];
    }

    private static Result Merge(List<Result> results)
    {
        var latencies = results.SelectMany(r => r.LatenciesMs).ToArray();
        Array.Sort(latencies);
        return new Result(results.Sum(r => r.Requests), results.Sum(r => r.Errors), results.Sum(r => r.Seconds), latencies);
    }

    private static void Print(string phase, Result bare, Result valet)
    {
        var c = CultureInfo.InvariantCulture;
        Console.WriteLine($"== {phase}");
        Console.WriteLine(string.Create(c, $"  bare YARP : {bare.Rps,9:F0} req/s  p50 {bare.Percentile(0.5),7:F3} ms  p99 {bare.Percentile(0.99),7:F3} ms  errors {bare.Errors}"));
        Console.WriteLine(string.Create(c, $"  Valet     : {valet.Rps,9:F0} req/s  p50 {valet.Percentile(0.5),7:F3} ms  p99 {valet.Percentile(0.99),7:F3} ms  errors {valet.Errors}"));
        Console.WriteLine(string.Create(c, $"  throughput ratio {valet.Rps / bare.Rps:P1}   added p50 {valet.Percentile(0.5) - bare.Percentile(0.5):F3} ms   added p99 {valet.Percentile(0.99) - bare.Percentile(0.99):F3} ms"));
    }

    private static async Task<Result> LoadAsync(HttpClient client, Uri target, int concurrency, TimeSpan duration)
    {
        var stop = Stopwatch.StartNew();
        long errors = 0;
        var workers = Enumerable.Range(0, concurrency).Select(_ => Task.Run(async () =>
        {
            var latencies = new List<double>(1 << 16);
            var buffer = new byte[4096];
            while (stop.Elapsed < duration)
            {
                var start = Stopwatch.GetTimestamp();
                using var response = await client.GetAsync(target, HttpCompletionOption.ResponseHeadersRead);
                await using (var body = await response.Content.ReadAsStreamAsync())
                {
                    while (await body.ReadAsync(buffer) > 0)
                    {
                    }
                }

                latencies.Add(Stopwatch.GetElapsedTime(start).TotalMilliseconds);
                if (!response.IsSuccessStatusCode)
                {
                    Interlocked.Increment(ref errors);
                }
            }

            return latencies;
        })).ToArray();
        var all = (await Task.WhenAll(workers)).SelectMany(l => l).ToArray();
        var elapsed = stop.Elapsed.TotalSeconds;
        Array.Sort(all);
        return new Result(all.Length, errors, elapsed, all);
    }

    private static async Task<(string ConnectionId, string Key)> SetUpAsync(Uri valetUrl)
    {
        using var admin = Client("bench-admin-token-0123456789");
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
        var builder = WebApplication.CreateSlimBuilder();
        builder.WebHost.UseUrls("http://127.0.0.1:0");
        builder.Logging.ClearProviders();
        services?.Invoke(builder.Services);
        var app = builder.Build();
        map(app);
        await app.StartAsync();
        return new Host(app);
    }
}
