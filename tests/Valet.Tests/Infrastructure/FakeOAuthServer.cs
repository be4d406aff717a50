using System.Collections.Concurrent;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace Valet.Tests.Infrastructure;

/// <summary>
/// A small local OAuth token/revocation/user-info server for tests that need a provider without a browser. Each refresh
/// answers with the next token of a sequence; every request is recorded.
/// </summary>
public sealed class FakeOAuthServer : IAsyncDisposable
{
    private readonly WebApplication _app;
    private int _refreshCount;

    private FakeOAuthServer(WebApplication app)
    {
        _app = app;
        BaseUrl = app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.First();
    }

    public string BaseUrl { get; }

    public int RefreshCount => _refreshCount;

    public ConcurrentQueue<string> Revoked { get; } = new();

    /// <summary>Access token of refresh number N (1-based).</summary>
    public static string AccessTokenAfterRefresh(int n) => $"fake-access-after-refresh-{n}-Zq9";

    public static string RefreshTokenAfterRefresh(int n) => $"fake-refresh-after-refresh-{n}-Xk2";

    public static async Task<FakeOAuthServer> StartAsync()
    {
        var builder = WebApplication.CreateSlimBuilder();
        builder.Logging.ClearProviders();
        builder.WebHost.UseUrls("http://127.0.0.1:0");
        var app = builder.Build();
        FakeOAuthServer? self = null;
        app.MapPost("/token", async (HttpRequest request) =>
        {
            var form = await request.ReadFormAsync();
            if (form["grant_type"] != "refresh_token")
            {
                return Results.Json(new { error = "unsupported_grant_type" }, statusCode: 400);
            }

            var n = Interlocked.Increment(ref self!._refreshCount);
            return Results.Json(new
            {
                access_token = AccessTokenAfterRefresh(n),
                refresh_token = RefreshTokenAfterRefresh(n),
                token_type = "Bearer",
                expires_in = 3600,
            });
        });
        app.MapPost("/revoke", async (HttpRequest request) =>
        {
            var form = await request.ReadFormAsync();
            self!.Revoked.Enqueue(form["token"].ToString());
            return Results.Ok();
        });
        app.MapGet("/userinfo", () => Results.Json(new { sub = "user-1", preferred_username = "user-one" }));
        await app.StartAsync();
        self = new FakeOAuthServer(app);
        return self;
    }

    /// <summary>Configuration defining provider <paramref name="id"/> against this server (loopback allowed).</summary>
    public Dictionary<string, string?> ProviderSettings(string id) => new()
    {
        [$"Providers:{id}:AuthorizationEndpoint"] = BaseUrl + "/authorize",
        [$"Providers:{id}:TokenEndpoint"] = BaseUrl + "/token",
        [$"Providers:{id}:RevocationEndpoint"] = BaseUrl + "/revoke",
        [$"Providers:{id}:UserInfoEndpoint"] = BaseUrl + "/userinfo",
        [$"Providers:{id}:ApiBaseUrl"] = BaseUrl + "/api",
        [$"Providers:{id}:Scopes"] = "read write",
        [$"Providers:{id}:AllowPrivateNetwork"] = "true",
    };

    public async ValueTask DisposeAsync()
    {
        await _app.StopAsync();
        await _app.DisposeAsync();
    }
}
