using System.Diagnostics;
using System.Globalization;
using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Text;
using System.Text.Json;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Valet.Server.Hosting;

namespace Valet.Bench;

/// <summary>
/// <c>call_api</c> through <c>/mcp</c> against the plain proxy route (<c>GET /v1/proxy/{connection}/user</c>), one Valet,
/// one key, one connection, the same local upstream, in one run (docs/mcp.md). The MCP side is what an agent's
/// Streamable HTTP transport sends per call on the 2025-11-25 revision: one <c>tools/call</c> POST carrying the
/// <c>Mcp-Session-Id</c> from one <c>initialize</c>, answered as an SSE event whose result must say status 200. Raw
/// HTTP on both sides, so the client library's own cost does not count. Rounds alternate proxy/MCP so drift on a shared
/// machine hits both alike; one caller (added latency, p50/p99), then many (throughput). Goal: MCP ≥ 0.5 of the
/// proxy's throughput.
/// </summary>
internal static class McpBench
{
    private const string AdminToken = "bench-admin-token-0123456789-abcdefghijk";
    private static readonly byte[] Payload = JsonSerializer.SerializeToUtf8Bytes(new { id = 42, login = "octocat", items = Enumerable.Range(0, 10).ToArray() });

    public static async Task<int> RunAsync(string[] args)
    {
        var seconds = Option(args, "--seconds", 5);
        var concurrency = Option(args, "--concurrency", 16);
        var rounds = Option(args, "--rounds", 3);
        var warmup = Option(args, "--warmup", 20); // the MCP side runs many more methods than the proxy: longer until tiered JIT settles

        var upstreamBuilder = WebApplication.CreateSlimBuilder(BenchHosts.Options);
        upstreamBuilder.WebHost.UseUrls("http://127.0.0.1:0");
        upstreamBuilder.Logging.ClearProviders();
        await using var upstream = upstreamBuilder.Build();
        upstream.MapGet("/api/{**rest}", (HttpContext c) =>
        {
            c.Response.ContentType = "application/json";
            return c.Response.Body.WriteAsync(Payload).AsTask();
        });
        await upstream.StartAsync();
        var upstreamUrl = new Uri(upstream.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.First());

        var dataDirectory = Path.Combine(Path.GetTempPath(), "valet-bench-" + Guid.NewGuid().ToString("N"));
        var valet = await ValetHost.BuildAsync([], new Dictionary<string, string?>
        {
            ["DATA_DIR"] = dataDirectory,
            ["ADMIN_TOKEN"] = AdminToken,
            ["urls"] = "http://127.0.0.1:0",
            ["RateLimits:AgentRequestsPerSecond"] = "100000000", // measured, never reached: one key carries the whole load
            ["RateLimits:AgentBurst"] = "100000000",
            ["Providers:bench:AuthorizationEndpoint"] = new Uri(upstreamUrl, "/authorize").ToString(),
            ["Providers:bench:TokenEndpoint"] = new Uri(upstreamUrl, "/token").ToString(),
            ["Providers:bench:ApiBaseUrl"] = new Uri(upstreamUrl, "/api").ToString(),
            ["Providers:bench:AllowPrivateNetwork"] = "true",
        }, builder => builder.Logging.SetMinimumLevel(LogLevel.Warning));
        await valet.StartAsync();
        try
        {
            var valetUrl = new Uri(valet.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.First());
            var (connectionId, key) = await SetUpAsync(valetUrl);
            using var http = new HttpClient(new SocketsHttpHandler { UseProxy = false, MaxConnectionsPerServer = 1024, PooledConnectionLifetime = Timeout.InfiniteTimeSpan })
            {
                BaseAddress = valetUrl,
            };
            http.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", key);

            var sessionId = await InitializeAsync(http);
            var proxyPath = $"/v1/proxy/{connectionId}/user";
            var callBody = Encoding.UTF8.GetBytes(JsonSerializer.Serialize(new
            {
                jsonrpc = "2.0", id = 1, method = "tools/call",
                @params = new { name = "call_api", arguments = new { connection_id = connectionId, path = "user" } },
            }));

            async Task<bool> ProxyAsync()
            {
                using var response = await http.GetAsync(proxyPath);
                await response.Content.ReadAsByteArrayAsync();
                return response.IsSuccessStatusCode;
            }

            async Task<bool> McpAsync()
            {
                using var request = Rpc(callBody, sessionId);
                using var response = await http.SendAsync(request);
                var text = await response.Content.ReadAsStringAsync();
                return response.IsSuccessStatusCode && text.Contains("\"status\":200", StringComparison.Ordinal) && !text.Contains("\"isError\":true", StringComparison.Ordinal);
            }

            if (!await McpAsync() || !await ProxyAsync())
            {
                await Console.Error.WriteLineAsync("mcp bench: a first call_api or proxy call did not answer 200; nothing to measure.");
                return 1;
            }

            Console.WriteLine($"warming up {warmup}s ...");
            for (var i = 0; i < 4; i++)
            {
                await RoundResult.MeasureAsync(() => ProxyAsync, concurrency, TimeSpan.FromSeconds(warmup / 8.0));
                await RoundResult.MeasureAsync(() => McpAsync, concurrency, TimeSpan.FromSeconds(warmup / 8.0));
            }

            if (Array.IndexOf(args, "--profile") is var at and >= 0 && at + 1 < args.Length)
            {
                // One side alone, for perf / dotnet-trace on this process: CPU and bytes per request, allocations by type.
                Func<Task<bool>> side = args[at + 1] == "proxy" ? ProxyAsync : McpAsync;
                Console.WriteLine($"profiling {args[at + 1]}: pid {Environment.ProcessId}, {concurrency} callers for {seconds}s");
                using var sampler = new AllocationSampler { Recording = true };
                var (allocated, cpu, items, contention, gen0) = (GC.GetTotalAllocatedBytes(), Environment.CpuUsage.TotalTime, ThreadPool.CompletedWorkItemCount,
                    Monitor.LockContentionCount, GC.CollectionCount(0));
                var alone = await RoundResult.MeasureAsync(() => side, concurrency, TimeSpan.FromSeconds(seconds));
                sampler.Recording = false;
                double PerRequest(double total) => total / alone.Requests;
                Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
                    $"  {alone.Rps:F0} req/s; per request (client, server and upstream together): {PerRequest((Environment.CpuUsage.TotalTime - cpu).TotalMicroseconds):F1} us CPU, " +
                    $"{PerRequest(GC.GetTotalAllocatedBytes() - allocated):F0} B allocated, {PerRequest(ThreadPool.CompletedWorkItemCount - items):F2} pool work items, " +
                    $"{PerRequest(Monitor.LockContentionCount - contention):F4} lock contentions; gen0 GCs {GC.CollectionCount(0) - gen0}"));
                foreach (var (type, bytes) in sampler.Top(25))
                {
                    Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"    {bytes / (double)alone.Requests,8:F0}  {type}"));
                }

                return 0;
            }

            var serialProxy = new List<RoundResult>();
            var serialMcp = new List<RoundResult>();
            var loadProxy = new List<RoundResult>();
            var loadMcp = new List<RoundResult>();
            for (var round = 0; round < rounds; round++)
            {
                serialProxy.Add(await RoundResult.MeasureAsync(() => ProxyAsync, 1, TimeSpan.FromSeconds(seconds)));
                serialMcp.Add(await RoundResult.MeasureAsync(() => McpAsync, 1, TimeSpan.FromSeconds(seconds)));
                loadProxy.Add(await RoundResult.MeasureAsync(() => ProxyAsync, concurrency, TimeSpan.FromSeconds(seconds)));
                loadMcp.Add(await RoundResult.MeasureAsync(() => McpAsync, concurrency, TimeSpan.FromSeconds(seconds)));
            }

            RoundResult.PrintComparison($"1 caller, {seconds}s x {rounds}", "proxy route", serialProxy, "mcp call_api", serialMcp, goal: 0.5);
            RoundResult.PrintComparison($"{concurrency} callers, {seconds}s x {rounds}", "proxy route", loadProxy, "mcp call_api", loadMcp, goal: 0.5);
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

    /// <summary>One <c>initialize</c> as a 2025-11-25 client sends it; returns the session id the later calls carry.</summary>
    private static async Task<string> InitializeAsync(HttpClient http)
    {
        var body = Encoding.UTF8.GetBytes(JsonSerializer.Serialize(new
        {
            jsonrpc = "2.0", id = 0, method = "initialize",
            @params = new { protocolVersion = "2025-11-25", capabilities = new { }, clientInfo = new { name = "valet-bench", version = "1.0.0" } },
        }));
        using var request = Rpc(body, sessionId: null);
        using var response = await http.SendAsync(request);
        await response.Content.ReadAsStringAsync();
        return response.IsSuccessStatusCode && response.Headers.TryGetValues("Mcp-Session-Id", out var values) ? values.Single()
            : throw new InvalidOperationException($"initialize: {(int)response.StatusCode}, no session id");
    }

    private static HttpRequestMessage Rpc(byte[] body, string? sessionId)
    {
        var request = new HttpRequestMessage(HttpMethod.Post, "/mcp") { Content = new ByteArrayContent(body) };
        request.Content.Headers.ContentType = new MediaTypeHeaderValue("application/json");
        request.Headers.Accept.Add(new MediaTypeWithQualityHeaderValue("application/json"));
        request.Headers.Accept.Add(new MediaTypeWithQualityHeaderValue("text/event-stream"));
        if (sessionId is not null)
        {
            request.Headers.Add("MCP-Protocol-Version", "2025-11-25");
            request.Headers.Add("Mcp-Session-Id", sessionId);
        }

        return request;
    }

    private static async Task<(string ConnectionId, string Key)> SetUpAsync(Uri valetUrl)
    {
        using var admin = new HttpClient { BaseAddress = valetUrl };
        admin.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", AdminToken);
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

    private static int Option(string[] args, string name, int fallback)
    {
        var i = Array.IndexOf(args, name);
        return i >= 0 && i + 1 < args.Length && int.TryParse(args[i + 1], NumberStyles.None, CultureInfo.InvariantCulture, out var value) && value > 0 ? value : fallback;
    }
}
