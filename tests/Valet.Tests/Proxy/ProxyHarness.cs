using System.Collections.Concurrent;
using System.Net;
using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Net.Sockets;
using System.Text.Json;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Valet.Core.Providers;
using Valet.Server.Hosting;
using Valet.Server.Proxy;
using Valet.Tests.Infrastructure;

namespace Valet.Tests.Proxy;

[CollectionDefinition(Name, DisableParallelization = true)]
public sealed class ProxyCollection : ICollectionFixture<ProxyHarness>
{
    public const string Name = "proxy";
}

/// <summary>Maps chosen names to chosen addresses, as a DNS server under an attacker's control would.</summary>
internal sealed class FakeResolver : IUpstreamResolver
{
    public ConcurrentDictionary<string, IPAddress[]> Names { get; } = new(StringComparer.OrdinalIgnoreCase);

    public Task<IPAddress[]> ResolveAsync(string host, CancellationToken cancellationToken) =>
        Names.TryGetValue(host, out var addresses) ? Task.FromResult(addresses) : Dns.GetHostAddressesAsync(host, cancellationToken);
}

/// <summary>
/// One real Valet server (built exactly as <c>valet serve</c> builds it) in front of one <see cref="ResourceServer"/>, with a
/// validated test catalog: <c>acme</c> (loopback API, AllowPrivateNetwork, a managed <c>mail</c> target needing
/// <c>mail.read</c>), <c>faraway</c>/<c>mixed</c> (public-looking names that resolve to loopback, no AllowPrivateNetwork),
/// <c>metadata</c> (resolves to 169.254.169.254, even with AllowPrivateNetwork), <c>gone</c> (a closed port).
/// </summary>
public sealed class ProxyHarness : IAsyncLifetime
{
    public const long MaxRequestBytes = 60L * 1024 * 1024;

    private WebApplication? _app;
    private string _dataDirectory = string.Empty;

    public ResourceServer Upstream { get; private set; } = null!;

    public Uri BaseUrl { get; private set; } = null!;

    public IServiceProvider Services => _app!.Services;

    public LogSink Logs { get; } = new();

    public async Task InitializeAsync()
    {
        Upstream = await ResourceServer.StartAsync();
        var up = Upstream.BaseUrl.ToString().TrimEnd('/');
        var closed = new TcpListener(IPAddress.Loopback, 0);
        closed.Start();
        var closedPort = ((IPEndPoint)closed.LocalEndpoint).Port;
        closed.Stop();

        ProviderDefinition Provider(string id, string apiBase, bool allowPrivate) => new()
        {
            Id = id,
            DisplayName = id,
            AuthorizationEndpoint = new Uri(up + "/oauth/authorize"),
            TokenEndpoint = new Uri(up + "/oauth/token"),
            DefaultScopes = ["profile"],
            ApiBaseUrls = [apiBase],
            AllowPrivateNetwork = allowPrivate,
        };

        var providers = new List<ProviderDefinition>(BuiltInProviders.All)
        {
            Provider("acme", up + "/api", allowPrivate: true) with
            {
                ApiHeaders = new Dictionary<string, string> { ["Acme-Version"] = "2024-06-01" },
                Targets = [new ManagedTargetDefinition { Name = "mail", BaseUrl = up + "/api/mail", RequiredScopes = ["mail.read"] }],
            },
            Provider("faraway", $"https://api.faraway.test:{Upstream.BaseUrl.Port}", allowPrivate: false) with
            {
                AuthorizationEndpoint = new Uri("https://auth.faraway.test/authorize"),
                TokenEndpoint = new Uri("https://auth.faraway.test/token"),
            },
            Provider("mixed", "https://mixed.faraway.test", allowPrivate: false) with
            {
                AuthorizationEndpoint = new Uri("https://auth.faraway.test/authorize"),
                TokenEndpoint = new Uri("https://auth.faraway.test/token"),
            },
            Provider("metadata", "https://metadata.acme.test", allowPrivate: true),
            Provider("gone", $"http://127.0.0.1:{closedPort}", allowPrivate: true),
        };

        using var http = new HttpClient();
        var catalog = await ProviderCatalogBuilder.BuildAsync(new ConfigurationBuilder().Build(), providers, http, CancellationToken.None);
        var resolver = new FakeResolver();
        resolver.Names["api.faraway.test"] = [IPAddress.Loopback];
        resolver.Names["mixed.faraway.test"] = [IPAddress.Parse("93.184.216.34"), IPAddress.Loopback];
        resolver.Names["metadata.acme.test"] = [IPAddress.Parse("169.254.169.254")];

        _dataDirectory = Path.Combine(Path.GetTempPath(), "valet-proxy-test-" + Guid.NewGuid().ToString("N"));
        var overrides = new Dictionary<string, string?>
        {
            ["DATA_DIR"] = _dataDirectory,
            ["ADMIN_TOKEN"] = ValetTestServer.AdminToken,
            ["urls"] = "http://127.0.0.1:0",
            ["Proxy:MaxRequestBytes"] = MaxRequestBytes.ToString(System.Globalization.CultureInfo.InvariantCulture),
            // Shared by every proxy test class, all from 127.0.0.1, several of which send bad keys on purpose (and the
            // fuzz test hundreds): the failure lockout has its own tests (RateLimitTests) on their own servers.
            ["RateLimits:FailuresPerMinute"] = "0",

            // A token endpoint that never answers (ProxyRecoveryTests' outage cases) is given up after 2 s.
            ["Refresh:ProviderTimeout"] = "00:00:02",
        };
        _app = await ValetHost.BuildAsync([], overrides, builder =>
        {
            builder.Services.AddSingleton<IProviderCatalog>(catalog);
            builder.Services.AddSingleton<IUpstreamResolver>(resolver);
            builder.Logging.AddProvider(Logs);
            builder.Logging.AddFilter<LogSink>(null, LogLevel.Trace);
        });
        await _app.StartAsync();
        BaseUrl = new Uri(_app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.First());
    }

    public HttpClient Client(string? bearer = ValetTestServer.AdminToken)
    {
        var client = new HttpClient(new SocketsHttpHandler { UseCookies = false, AllowAutoRedirect = false }) { BaseAddress = BaseUrl };
        if (bearer is not null)
        {
            client.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", bearer);
        }

        return client;
    }

    /// <summary>Imports a connection (through a fresh BYOC credential) and returns its id.</summary>
    public async Task<string> ImportAsync(string provider, string accessToken, string? refreshToken = null, string[]? scopes = null, string org = "default")
    {
        using var admin = Client();
        var credential = await PostOkAsync(admin, $"/v1/orgs/{org}/credentials", new { provider, client_id = "client-" + provider, client_secret = "secret-" + provider });
        var connection = await PostOkAsync(admin, $"/v1/orgs/{org}/connections/import", new
        {
            provider,
            credential_id = credential.GetProperty("id").GetString(),
            access_token = accessToken,
            refresh_token = refreshToken,
            expires_in = 3600,
            scopes,
            account = new { id = "acct-" + Guid.NewGuid().ToString("N") },
        });
        return connection.GetProperty("id").GetString()!;
    }

    public async Task<string> KeyAsync(string org, params object[] permissions)
    {
        using var admin = Client();
        var key = await PostOkAsync(admin, $"/v1/orgs/{org}/keys", new { name = "agent", permissions });
        return key.GetProperty("key").GetString()!;
    }

    /// <summary>A valid upstream token, and a connection and key that may use it.</summary>
    public async Task<(string ConnectionId, string Key, string Token)> ConnectedAsync(string provider = "acme", string[]? scopes = null)
    {
        var token = "valid-" + Guid.NewGuid().ToString("N");
        Upstream.ValidTokens[token] = true;
        var id = await ImportAsync(provider, token, scopes: scopes);
        return (id, await KeyAsync("default", new { connection = id }), token);
    }

    /// <summary>
    /// The <c>proxy.request</c> events of one connection, newest first, once <paramref name="expected"/> of them are stored
    /// (the audit writer stores events off the request path: polled for up to about 5 s).
    /// </summary>
    public async Task<List<JsonElement>> AuditEventsAsync(string connectionId, int expected)
    {
        using var admin = Client();
        for (var i = 0; ; i++)
        {
            var page = await admin.GetFromJsonAsync<JsonElement>("/v1/orgs/default/audit?limit=500");
            var mine = page.GetProperty("events").EnumerateArray()
                .Where(e => e.GetProperty("kind").GetString() == "proxy.request" && e.TryGetProperty("connection_id", out var c) && c.GetString() == connectionId)
                .ToList();
            if (mine.Count >= expected || i == 50)
            {
                Assert.Equal(expected, mine.Count);
                return mine;
            }

            await Task.Delay(100);
        }
    }

    public static async Task<JsonElement> PostOkAsync(HttpClient client, string path, object body)
    {
        var response = await client.PostAsJsonAsync(path, body);
        var json = await response.Content.ReadFromJsonAsync<JsonElement>();
        Assert.True(response.IsSuccessStatusCode, $"{path}: {(int)response.StatusCode} {json}");
        return json;
    }

    public async Task DisposeAsync()
    {
        if (_app is not null)
        {
            await _app.StopAsync();
            await _app.DisposeAsync();
        }

        await Upstream.DisposeAsync();
        try
        {
            Directory.Delete(_dataDirectory, recursive: true);
        }
        catch (IOException)
        {
        }
    }
}

/// <summary>Raw HTTP/1.1 over a socket: sends a request target byte for byte (HttpClient would normalise '..' and '\').</summary>
internal static class RawHttp
{
    public static async Task<(int Status, string Response)> SendAsync(Uri baseUrl, string method, string rawTarget, string bearer,
        string extraHeaders = "")
    {
        using var tcp = new TcpClient();
        await tcp.ConnectAsync(baseUrl.Host, baseUrl.Port);
        var stream = tcp.GetStream();
        var request = $"{method} {rawTarget} HTTP/1.1\r\nHost: {baseUrl.Authority}\r\nAuthorization: Bearer {bearer}\r\nConnection: close\r\n{extraHeaders}\r\n";
        await stream.WriteAsync(System.Text.Encoding.Latin1.GetBytes(request));
        using var reader = new StreamReader(stream, System.Text.Encoding.UTF8);
        var text = await reader.ReadToEndAsync().WaitAsync(TimeSpan.FromSeconds(30));
        var status = int.Parse(text.Split(' ', 3)[1], System.Globalization.CultureInfo.InvariantCulture);
        return (status, text);
    }
}
