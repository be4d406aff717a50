using System.Collections.Concurrent;
using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Security.Cryptography;
using System.Text.Json;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Valet.Server.Hosting;
using Valet.Storage;

namespace Valet.Tests.Infrastructure;

/// <summary>
/// A real Valet server (Kestrel on 127.0.0.1, ephemeral port) built exactly as <c>valet serve</c> builds it, over a
/// temporary data directory. Every log line of every category is captured, at every level, for the secret scans.
/// </summary>
public sealed class ValetTestServer : IAsyncDisposable
{
    public const string AdminToken = "test-admin-token-0123456789-abcdefghijk";

    private readonly WebApplication _app;

    private bool _ownsDataDirectory;

    private ValetTestServer(WebApplication app, string dataDirectory, LogSink logs)
    {
        _app = app;
        DataDirectory = dataDirectory;
        Logs = logs;
        BaseUrl = new Uri(app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.First());
    }

    public Uri BaseUrl { get; }

    public string DataDirectory { get; }

    public LogSink Logs { get; }

    public IServiceProvider Services => _app.Services;

    public string ServiceToken => File.ReadAllText(ServiceTokenFile.PathIn(DataDirectory)).Trim();

    public static async Task<ValetTestServer> StartAsync(IDictionary<string, string?>? settings = null, string? dataDirectory = null,
        Action<WebApplicationBuilder>? configure = null)
    {
        var owns = dataDirectory is null;
        dataDirectory ??= Path.Combine(Path.GetTempPath(), "valet-test-" + Guid.NewGuid().ToString("N"));
        var overrides = new Dictionary<string, string?>
        {
            ["DATA_DIR"] = dataDirectory,
            ["ADMIN_TOKEN"] = AdminToken,
            ["urls"] = "http://127.0.0.1:0",

            // Storm tests send 1,000 calls with one key at once; the per-key limit has its own tests (RateLimitTests).
            ["RateLimits:AgentRequestsPerSecond"] = "100000",
            ["RateLimits:AgentBurst"] = "100000",
        };
        foreach (var (key, value) in settings ?? new Dictionary<string, string?>())
        {
            overrides[key] = value;
        }

        // Hosted mode (PostgreSQL) requires a public URL: give the node its own address, known before it listens.
        if (overrides.GetValueOrDefault("DATABASE") is { } database && DatabaseTarget.Parse(database, dataDirectory).IsPostgres &&
            !overrides.ContainsKey("PUBLIC_URL"))
        {
            var url = $"http://127.0.0.1:{FreePort()}";
            overrides["urls"] = url;
            overrides["PUBLIC_URL"] = url;
        }

        var logs = new LogSink();
        var app = await ValetHost.BuildAsync([], overrides, builder =>
        {
            builder.Logging.ClearProviders();
            builder.Logging.AddProvider(logs);
            builder.Logging.AddFilter<LogSink>(null, LogLevel.Trace);
            configure?.Invoke(builder);
        });
        await app.StartAsync();
        return new ValetTestServer(app, dataDirectory, logs) { _ownsDataDirectory = owns };
    }

    public HttpClient Client(string? bearer = AdminToken)
    {
        var client = new HttpClient { BaseAddress = BaseUrl };
        if (bearer is not null)
        {
            client.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", bearer);
        }

        return client;
    }

    /// <summary>Creates an API key through the admin API and returns (id, secret).</summary>
    public async Task<(string Id, string Key)> CreateKeyAsync(string org, params object[] permissions)
    {
        using var admin = Client();
        var response = await admin.PostAsJsonAsync($"/v1/orgs/{org}/keys", new { name = "agent", permissions });
        var body = await response.Content.ReadFromJsonAsync<JsonElement>();
        Assert.True(response.IsSuccessStatusCode, body.ToString());
        return (body.GetProperty("id").GetString()!, body.GetProperty("key").GetString()!);
    }

    public static int FreePort()
    {
        using var listener = new System.Net.Sockets.TcpListener(System.Net.IPAddress.Loopback, 0);
        listener.Start();
        return ((System.Net.IPEndPoint)listener.LocalEndpoint).Port;
    }

    public static string RandomKey() => Convert.ToBase64String(RandomNumberGenerator.GetBytes(32));

    public async ValueTask DisposeAsync()
    {
        await _app.StopAsync();
        await _app.DisposeAsync();
        if (!_ownsDataDirectory)
        {
            return;
        }

        try
        {
            Directory.Delete(DataDirectory, recursive: true);
        }
        catch (IOException)
        {
            // A file still held open by a background thread: it is a temp dir anyway.
        }
    }
}

/// <summary>Collects every log line (formatted message, exception text and scope values) for later scans.</summary>
public sealed class LogSink : ILoggerProvider
{
    private readonly ConcurrentQueue<string> _lines = new();

    public IReadOnlyCollection<string> Lines => _lines;

    public string All => string.Join('\n', _lines);

    public ILogger CreateLogger(string categoryName) => new Logger(categoryName, _lines);

    public void Dispose()
    {
    }

    private sealed class Logger(string category, ConcurrentQueue<string> lines) : ILogger
    {
        public IDisposable? BeginScope<TState>(TState state) where TState : notnull
        {
            lines.Enqueue($"[scope] {category}: {state}");
            return null;
        }

        public bool IsEnabled(LogLevel logLevel) => true;

        public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter)
        {
            var structured = state is IEnumerable<KeyValuePair<string, object?>> pairs ? string.Join(", ", pairs.Select(p => $"{p.Key}={p.Value}")) : string.Empty;
            lines.Enqueue($"{logLevel} {category}[{eventId.Id}]: {formatter(state, exception)} | {structured} {exception}");
        }
    }
}
