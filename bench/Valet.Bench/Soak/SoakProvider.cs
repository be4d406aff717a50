using System.Collections.Concurrent;
using System.Text.Json;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace Valet.Bench.Soak;

/// <summary>
/// The provider and its API, in the bench process. Token endpoint: answers refresh_token grants with a new access token
/// of <c>lifetime</c> and a rotated refresh token; only the latest refresh token is accepted (strict rotation, so a
/// refresh made twice, or with a stale token, shows as <c>invalid_grant</c>). API: answers a small JSON to a bearer that
/// is an unexpired token it issued, else 401.
/// </summary>
internal sealed class SoakProvider : IAsyncDisposable
{
    private static readonly byte[] Payload = JsonSerializer.SerializeToUtf8Bytes(new { id = 42, login = "octocat", items = Enumerable.Range(0, 10).ToArray() });

    private readonly ConcurrentDictionary<string, DateTimeOffset> _issued = new(StringComparer.Ordinal);
    private readonly Lock _gate = new();
    private readonly TimeSpan _lifetime;
    private WebApplication? _app;
    private string _refreshToken = InitialRefreshToken;
    private int _refreshes;
    private int _rejectedRefreshes;
    private int _rejectedApiCalls;

    private SoakProvider(TimeSpan lifetime)
    {
        _lifetime = lifetime;
        _issued[InitialAccessToken] = DateTimeOffset.UtcNow + lifetime;
    }

    public Uri Url { get; private set; } = null!;

    public const string InitialAccessToken = "soak-access-0";

    public const string InitialRefreshToken = "soak-refresh-0";

    public TimeSpan Lifetime => _lifetime;

    public int Refreshes => Volatile.Read(ref _refreshes);

    public int RejectedRefreshes => Volatile.Read(ref _rejectedRefreshes);

    public int RejectedApiCalls => Volatile.Read(ref _rejectedApiCalls);

    /// <summary>Whether <paramref name="accessToken"/> was issued here and has not expired.</summary>
    public bool IsValid(string? accessToken) =>
        accessToken is not null && _issued.TryGetValue(accessToken, out var expiresAt) && expiresAt > DateTimeOffset.UtcNow;

    public static async Task<SoakProvider> StartAsync(TimeSpan lifetime)
    {
        var self = new SoakProvider(lifetime);
        var builder = WebApplication.CreateSlimBuilder();
        builder.Logging.ClearProviders();
        builder.WebHost.UseUrls("http://127.0.0.1:0");
        var app = builder.Build();
        app.MapPost("/token", self.TokenAsync);
        app.MapGet("/api/{**rest}", (HttpContext context) =>
        {
            var header = context.Request.Headers.Authorization.ToString();
            if (!header.StartsWith("Bearer ", StringComparison.Ordinal) || !self.IsValid(header["Bearer ".Length..]))
            {
                Interlocked.Increment(ref self._rejectedApiCalls);
                context.Response.StatusCode = StatusCodes.Status401Unauthorized;
                return Task.CompletedTask;
            }

            context.Response.ContentType = "application/json";
            return context.Response.Body.WriteAsync(Payload).AsTask();
        });
        await app.StartAsync();
        self._app = app;
        self.Url = new Uri(app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.First());
        return self;
    }

    private async Task<IResult> TokenAsync(HttpRequest request)
    {
        var form = await request.ReadFormAsync();
        if (form["grant_type"] != "refresh_token")
        {
            return Results.Json(new { error = "unsupported_grant_type" }, statusCode: 400);
        }

        int n;
        lock (_gate)
        {
            if (form["refresh_token"] != _refreshToken)
            {
                Interlocked.Increment(ref _rejectedRefreshes);
                return Results.Json(new { error = "invalid_grant", error_description = "refresh token is not the latest" }, statusCode: 400);
            }

            n = Interlocked.Increment(ref _refreshes);
            _refreshToken = $"soak-refresh-{n}";
        }

        var accessToken = $"soak-access-{n}";
        _issued[accessToken] = DateTimeOffset.UtcNow + _lifetime;
        return Results.Json(new
        {
            access_token = accessToken,
            refresh_token = $"soak-refresh-{n}",
            token_type = "Bearer",
            expires_in = (long)_lifetime.TotalSeconds,
        });
    }

    public async ValueTask DisposeAsync()
    {
        if (_app is not null)
        {
            await _app.StopAsync();
            await _app.DisposeAsync();
        }
    }
}
