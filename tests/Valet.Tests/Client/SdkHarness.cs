using System.Collections.Concurrent;
using System.Net.Http.Json;
using System.Text.Json;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Http.Features;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Valet.Tests.Infrastructure;

namespace Valet.Tests.ClientSdk;

[CollectionDefinition(Name, DisableParallelization = true)]
public sealed class SdkCollection : ICollectionFixture<SdkHarness>
{
    public const string Name = "sdk";
}

/// <summary>What the echo API saw of one request.</summary>
public sealed record EchoSeen(string RawTarget, string? Authorization, string? ApiKey);

/// <summary>
/// A real Valet server in front of a local echo API (<see cref="EchoPath"/>), with three providers on it: <c>up</c>
/// (OAuth, API base <c>/api</c>), <c>keyed</c> (a static API key sent as <c>x-api-key</c>, API base <c>/keyed</c>) and
/// <c>basicapi</c> (username and password, API base <c>/basic</c>). The echo API answers 200 with what it saw; a path
/// ending in <c>/forged-reauth</c> answers a 409 <c>urn:valet:problem:reauth_required</c> document of its own making (an
/// upstream forging Valet's envelope), one containing <c>/unauthorized</c> a 401.
/// </summary>
public sealed class SdkHarness : IAsyncLifetime
{
    public const string ForgedConnectUrl = "https://attacker.example/connect";

    private WebApplication _api = null!;

    public ValetTestServer Server { get; private set; } = null!;

    public Uri BaseUrl => Server.BaseUrl;

    /// <summary>The echo API's root, e.g. <c>http://127.0.0.1:1234/</c>.</summary>
    public Uri ApiRoot { get; private set; } = null!;

    public ConcurrentQueue<EchoSeen> Seen { get; } = new();

    public async Task InitializeAsync()
    {
        var builder = WebApplication.CreateSlimBuilder();
        builder.WebHost.UseUrls("http://127.0.0.1:0");
        builder.Logging.ClearProviders();
        _api = builder.Build();
        _api.Map("/{**rest}", EchoPath);
        await _api.StartAsync();
        ApiRoot = new Uri(_api.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.First() + "/");
        var root = ApiRoot.ToString().TrimEnd('/');

        Server = await ValetTestServer.StartAsync(new Dictionary<string, string?>
        {
            ["Providers:up:AuthorizationEndpoint"] = root + "/oauth/authorize",
            ["Providers:up:TokenEndpoint"] = root + "/oauth/token",
            ["Providers:up:Scopes"] = "profile",
            ["Providers:up:ApiBaseUrl"] = root + "/api",
            ["Providers:up:AllowPrivateNetwork"] = "true",
            ["Providers:keyed:AuthMode"] = "api_key",
            ["Providers:keyed:ApiKeyHeader"] = "x-api-key: {secret}",
            ["Providers:keyed:ApiBaseUrl"] = root + "/keyed",
            ["Providers:keyed:AllowPrivateNetwork"] = "true",
            ["Providers:basicapi:AuthMode"] = "basic",
            ["Providers:basicapi:ApiBaseUrl"] = root + "/basic",
            ["Providers:basicapi:AllowPrivateNetwork"] = "true",
            // Short-lived tokens (30 s) are handed out as they are, not refreshed first (the default skew is 2 minutes).
            ["Refresh:Skew"] = "00:00:05",
        });
    }

    public async Task DisposeAsync()
    {
        await Server.DisposeAsync();
        await _api.StopAsync();
        await _api.DisposeAsync();
    }

    /// <summary>The requests the echo API saw whose target starts with <paramref name="prefix"/>.</summary>
    public List<EchoSeen> SeenUnder(string prefix) => Seen.Where(s => s.RawTarget.StartsWith(prefix, StringComparison.Ordinal)).ToList();

    /// <summary>A new org (ids must be unique across the tests sharing the server).</summary>
    public async Task<string> OrgAsync()
    {
        using var admin = Server.Client();
        var org = "sdk-" + Guid.NewGuid().ToString("N")[..12];
        await PostOkAsync(admin, "/v1/orgs", new { id = org });
        return org;
    }

    /// <summary>Imports an <c>up</c> connection holding <paramref name="accessToken"/> (through a fresh BYOC credential).</summary>
    public async Task<string> ImportAsync(string accessToken, string org = "default", int expiresIn = 3600, string[]? scopes = null)
    {
        using var admin = Server.Client();
        var credential = await PostOkAsync(admin, $"/v1/orgs/{org}/credentials", new { provider = "up", client_id = "client-up", client_secret = "secret-up" });
        var connection = await PostOkAsync(admin, $"/v1/orgs/{org}/connections/import", new
        {
            provider = "up",
            credential_id = credential.GetProperty("id").GetString(),
            access_token = accessToken,
            expires_in = expiresIn,
            scopes,
            account = new { id = "acct-" + Guid.NewGuid().ToString("N") },
        });
        return connection.GetProperty("id").GetString()!;
    }

    /// <summary>Creates a static-secret connection (api_key or basic) in the default org.</summary>
    public async Task<string> StaticAsync(object body)
    {
        using var admin = Server.Client();
        return (await PostOkAsync(admin, "/v1/orgs/default/connections", body)).GetProperty("id").GetString()!;
    }

    public async Task<string> KeyAsync(string org, params object[] permissions) => (await Server.CreateKeyAsync(org, permissions)).Key;

    public static async Task<JsonElement> PostOkAsync(HttpClient client, string path, object body)
    {
        using var response = await client.PostAsJsonAsync(path, body);
        var json = await response.Content.ReadFromJsonAsync<JsonElement>();
        Assert.True(response.IsSuccessStatusCode, $"{path}: {(int)response.StatusCode} {json}");
        return json;
    }

    private async Task EchoPath(HttpContext context)
    {
        var raw = context.Features.Get<IHttpRequestFeature>()!.RawTarget;
        var authorization = context.Request.Headers.Authorization is { Count: > 0 } a ? a.ToString() : null;
        var apiKey = context.Request.Headers.TryGetValue("x-api-key", out var k) ? k.ToString() : null;
        Seen.Enqueue(new EchoSeen(raw, authorization, apiKey));

        var path = context.Request.Path.Value ?? string.Empty;
        if (path.EndsWith("/moved", StringComparison.Ordinal))
        {
            // A provider's permanent redirect (a renamed repository): the proxy passes it back as it is.
            context.Response.StatusCode = StatusCodes.Status301MovedPermanently;
            context.Response.Headers.Location = path[..^"/moved".Length] + "/new-home";
            return;
        }

        if (path.EndsWith("/forged-reauth", StringComparison.Ordinal))
        {
            // Looks exactly like Valet's envelope (SPEC §5), but the upstream wrote it: its connect_url is the attacker's.
            context.Response.StatusCode = StatusCodes.Status409Conflict;
            context.Response.ContentType = "application/problem+json";
            await context.Response.WriteAsync(JsonSerializer.Serialize(new Dictionary<string, object?>
            {
                ["type"] = "urn:valet:problem:reauth_required",
                ["title"] = "Reauthorization required",
                ["status"] = 409,
                ["code"] = "reauth_required",
                ["provider"] = "up",
                ["headless"] = false,
                ["connect_url"] = ForgedConnectUrl,
                ["flow_id"] = "flow_forged",
            }));
            return;
        }

        if (path.Contains("/unauthorized", StringComparison.Ordinal))
        {
            context.Response.StatusCode = StatusCodes.Status401Unauthorized;
            return;
        }

        await context.Response.WriteAsJsonAsync(new { raw_target = raw, authorization, api_key = apiKey });
    }
}
