using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Text.Json;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Valet.Server.Hosting;
using Valet.Tests.Infrastructure;

namespace Valet.Bench;

/// <summary>
/// <c>token</c>: the agent token route (fresh token: key check, permission, one store read) against <c>/healthz</c> on the
/// same server, same run, same load, on SQLite and on PostgreSQL. <c>storm</c>: wall time for 1,000 concurrent callers on
/// an expired token, and how many refreshes the provider saw.
/// </summary>
internal static class TokenBench
{
    private const string AdminToken = "bench-admin-token-0123456789-abcdefghijk";

    public static async Task RunThroughputAsync(TimeSpan duration, int concurrency)
    {
        Console.WriteLine($"Token route vs trivial endpoint: {concurrency} concurrent clients, {duration.TotalSeconds:F0} s each, same process.");
        var pg = new PostgresFixture();
        await pg.InitializeAsync();
        try
        {
            await RunBothAsync(pg, duration, concurrency);
        }
        finally
        {
            await pg.DisposeAsync();
        }
    }

    private static async Task RunBothAsync(PostgresFixture pg, TimeSpan duration, int concurrency)
    {
        foreach (var (label, database) in new[] { ("SQLite", (string?)null), ("PostgreSQL", await pg.CreateDatabaseAsync()) })
        {
            await using var server = await StartAsync(database, null);
            var (connectionId, key) = await ImportAsync(server, expiresIn: 86_400, provider: null);
            using var http = Client(server.Url, null);
            using var agent = Client(server.Url, key);
            async Task<bool> Trivial() => (await http.GetAsync("/healthz")).IsSuccessStatusCode;
            async Task<bool> Token()
            {
                using var response = await agent.PostAsync($"/v1/connections/{connectionId}/token", null);
                return response.IsSuccessStatusCode;
            }

            await LoadRunner.RunAsync("warm-up", concurrency, TimeSpan.FromSeconds(2), Trivial);
            await LoadRunner.RunAsync("warm-up", concurrency, TimeSpan.FromSeconds(2), Token);
            // Alternate the two twice and keep the second round, so neither side pays for warm-up or order.
            await LoadRunner.RunAsync("round 1", concurrency, duration, Trivial);
            await LoadRunner.RunAsync("round 1", concurrency, duration, Token);
            var trivial = await LoadRunner.RunAsync($"{label} GET /healthz", concurrency, duration, Trivial);
            var token = await LoadRunner.RunAsync($"{label} POST token", concurrency, duration, Token);
            Console.WriteLine(trivial);
            Console.WriteLine(token);
            if (token.Failures > 0)
            {
                Console.WriteLine($"{label}: {token.Failures} token calls failed: the ratio below does not measure the token route.");
            }

            Console.WriteLine($"{label}: token route throughput = {token.Throughput / trivial.Throughput:P0} of the trivial endpoint (target ≥ 50%)");
        }
    }

    public static async Task RunStormAsync(int callers)
    {
        await using var provider = await FakeOAuthServer.StartAsync();
        await using var server = await StartAsync(null, provider);
        var (connectionId, key) = await ImportAsync(server, expiresIn: 0, provider: "acme");
        using var agent = Client(server.Url, key);
        agent.Timeout = TimeSpan.FromMinutes(2);
        var started = System.Diagnostics.Stopwatch.StartNew();
        var results = await Task.WhenAll(Enumerable.Range(0, callers).Select(async _ =>
        {
            using var response = await agent.PostAsync($"/v1/connections/{connectionId}/token", null);
            return (await response.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("access_token").GetString();
        }));
        var wall = started.Elapsed;
        Console.WriteLine($"Refresh storm: {callers} concurrent callers on an expired token: wall time {wall.TotalMilliseconds:F0} ms, " +
            $"provider refresh calls {provider.RefreshCount}, distinct tokens returned {results.Distinct().Count()}.");
    }

    private sealed record Running(WebApplication App, string Url) : IAsyncDisposable
    {
        public async ValueTask DisposeAsync()
        {
            await App.StopAsync();
            await App.DisposeAsync();
        }
    }

    private static async Task<Running> StartAsync(string? database, FakeOAuthServer? provider)
    {
        var settings = new Dictionary<string, string?>
        {
            ["DATA_DIR"] = Path.Combine(Path.GetTempPath(), "valet-bench-" + Guid.NewGuid().ToString("N")),
            ["ADMIN_TOKEN"] = AdminToken,
            ["ENCRYPTION_KEY"] = Convert.ToBase64String(System.Security.Cryptography.RandomNumberGenerator.GetBytes(32)),
            ["DATABASE"] = database,
            ["urls"] = "http://127.0.0.1:0",
            // One key carries the whole load (and the storm's 1,000 callers): the per-key limit would answer most calls 429.
            ["RateLimits:AgentRequestsPerSecond"] = "100000000",
            ["RateLimits:AgentBurst"] = "100000000",
        };
        foreach (var (k, v) in (provider ?? null)?.ProviderSettings("acme") ?? new Dictionary<string, string?>
                 {
                     ["Providers:acme:AuthorizationEndpoint"] = "http://127.0.0.1:9/authorize",
                     ["Providers:acme:TokenEndpoint"] = "http://127.0.0.1:9/token",
                     ["Providers:acme:ApiBaseUrl"] = "http://127.0.0.1:9/api",
                     ["Providers:acme:AllowPrivateNetwork"] = "true",
                 })
        {
            settings[k] = v;
        }

        if (database is not null)
        {
            // Hosted mode requires a public URL; the bench follows no link Valet builds from it.
            settings["PUBLIC_URL"] = "http://127.0.0.1";
        }

        var app = await ValetHost.BuildAsync([], settings, builder => builder.Logging.ClearProviders());
        await app.StartAsync();
        return new Running(app, app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.First());
    }

    private static async Task<(string ConnectionId, string Key)> ImportAsync(Running server, long expiresIn, string? provider)
    {
        using var admin = Client(server.Url, AdminToken);
        var credential = await (await admin.PostAsJsonAsync("/v1/orgs/default/credentials",
            new { provider = "acme", client_id = "bench", client_secret = "bench-secret" })).Content.ReadFromJsonAsync<JsonElement>();
        var connection = await (await admin.PostAsJsonAsync("/v1/orgs/default/connections/import", new
        {
            provider = provider ?? "acme",
            credential_id = credential.GetProperty("id").GetString(),
            access_token = "bench-access-token",
            refresh_token = "bench-refresh-token",
            expires_in = expiresIn,
            account = new { id = "bench-user" },
        })).Content.ReadFromJsonAsync<JsonElement>();
        var id = connection.GetProperty("id").GetString()!;
        var key = await (await admin.PostAsJsonAsync("/v1/orgs/default/keys", new { name = "bench", permissions = new[] { new { connection = id } } }))
            .Content.ReadFromJsonAsync<JsonElement>();
        return (id, key.GetProperty("key").GetString()!);
    }

    private static HttpClient Client(string url, string? bearer)
    {
        var client = new HttpClient(new SocketsHttpHandler { MaxConnectionsPerServer = 256 }) { BaseAddress = new Uri(url) };
        if (bearer is not null)
        {
            client.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", bearer);
        }

        return client;
    }
}
