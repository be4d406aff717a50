using System.Collections.Concurrent;
using System.Globalization;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Http.Features;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace Valet.Tests.Proxy;

/// <summary>What the resource server saw of one request (headers as received, path as sent on the wire).</summary>
public sealed record SeenRequest(string Method, string RawTarget, string? Bearer, IReadOnlyDictionary<string, string> Headers, long BodyBytes);

/// <summary>
/// A local upstream on real Kestrel (127.0.0.1, ephemeral port): an API under <c>/api</c> that accepts only bearer tokens
/// from <see cref="ValidTokens"/>, and an OAuth token endpoint at <c>/oauth/token</c> whose refresh grant mints a new valid
/// token. Special API paths: <c>cookie</c>, <c>hop-headers</c>, <c>limited</c>, <c>redirect</c>, <c>upload</c>, <c>download?bytes=N</c>.
/// </summary>
public sealed class ResourceServer : IAsyncDisposable
{
    private static readonly byte[] Chunk = new byte[64 * 1024];
    private readonly WebApplication _app;
    private int _minted;

    private ResourceServer(WebApplication app) => _app = app;

    public Uri BaseUrl { get; private set; } = null!;

    public ConcurrentDictionary<string, bool> ValidTokens { get; } = new(StringComparer.Ordinal);

    /// <summary>Refresh tokens the token endpoint accepts; any other gets <c>invalid_grant</c>.</summary>
    public ConcurrentDictionary<string, bool> ValidRefreshTokens { get; } = new(StringComparer.Ordinal);

    public ConcurrentQueue<SeenRequest> Seen { get; } = new();

    private int _refreshCalls;

    public int RefreshCalls => Volatile.Read(ref _refreshCalls);

    public string LastMintedToken { get; private set; } = string.Empty;

    /// <summary>Refresh tokens starting with these make the token endpoint fail that way (503 / 429 with Retry-After: 7 / never answer).</summary>
    public const string Outage5xx = "outage-5xx-";
    public const string Outage429 = "outage-429-";
    public const string OutageHang = "outage-hang-";

    public static async Task<ResourceServer> StartAsync()
    {
        var builder = WebApplication.CreateSlimBuilder();
        builder.WebHost.UseUrls("http://127.0.0.1:0");
        builder.WebHost.ConfigureKestrel(k => k.Limits.MaxRequestBodySize = null);
        builder.Logging.ClearProviders();
        var app = builder.Build();
        var server = new ResourceServer(app);
        app.Map("/api/{**rest}", server.ApiAsync);
        app.MapPost("/oauth/token", server.TokenAsync);
        await app.StartAsync();
        server.BaseUrl = new Uri(app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.First());
        return server;
    }

    public int SeenCount(string pathPrefix) => Seen.Count(s => s.RawTarget.StartsWith(pathPrefix, StringComparison.Ordinal));

    private async Task ApiAsync(HttpContext context)
    {
        var raw = context.Features.Get<IHttpRequestFeature>()!.RawTarget;
        var authorization = context.Request.Headers.Authorization.ToString();
        var bearer = authorization.StartsWith("Bearer ", StringComparison.Ordinal) ? authorization["Bearer ".Length..] : null;

        long bytes = 0;
        var buffer = new byte[64 * 1024];
        int read;
        while ((read = await context.Request.Body.ReadAsync(buffer, context.RequestAborted)) > 0)
        {
            bytes += read;
        }

        Seen.Enqueue(new SeenRequest(context.Request.Method, raw, bearer,
            context.Request.Headers.ToDictionary(h => h.Key, h => h.Value.ToString(), StringComparer.OrdinalIgnoreCase), bytes));

        if (bearer is null || !ValidTokens.ContainsKey(bearer))
        {
            context.Response.StatusCode = 401;
            context.Response.Headers.WWWAuthenticate = "Bearer error=\"invalid_token\"";
            await context.Response.WriteAsJsonAsync(new { message = "Bad credentials" });
            return;
        }

        var path = context.Request.Path.Value ?? string.Empty;
        switch (path)
        {
            case "/api/cookie":
                context.Response.Headers.SetCookie = "session=upstream-secret; HttpOnly";
                await context.Response.WriteAsJsonAsync(new { ok = true });
                return;
            case "/api/limited":
                context.Response.StatusCode = 429;
                context.Response.Headers.RetryAfter = "7";
                context.Response.Headers["X-RateLimit-Remaining"] = "0";
                await context.Response.WriteAsJsonAsync(new { message = "slow down" });
                return;
            case "/api/limited-no-retry-after":
                context.Response.StatusCode = 429;
                context.Response.Headers["RateLimit-Reset"] = "12";
                return;
            case "/api/gone":
                // 404 with an empty chunked body: no Content-Length, no Content-Type, nothing written.
                context.Response.StatusCode = 404;
                await context.Response.StartAsync(context.RequestAborted);
                return;
            case "/api/hop-headers":
                // Connection names a header: it is hop-by-hop (RFC 9110 §7.6.1) and must not reach the agent. (Only a name: Kestrel
                // rewrites a Connection value holding one of close/keep-alive/upgrade to that word alone, before it is sent.)
                context.Response.Headers.Connection = "X-Secret-Hop";
                context.Response.Headers["X-Secret-Hop"] = "upstream-hop-value";
                context.Response.Headers["X-Upstream-Note"] = "keep-me";
                await context.Response.WriteAsJsonAsync(new { ok = true });
                return;
            case "/api/redirect":
                context.Response.StatusCode = 302;
                context.Response.Headers.Location = new Uri(BaseUrl, "/api/elsewhere").ToString();
                return;
            case "/api/download":
                var total = long.Parse(context.Request.Query["bytes"].ToString(), CultureInfo.InvariantCulture);
                context.Response.ContentLength = total;
                for (long sent = 0; sent < total; sent += Chunk.Length)
                {
                    await context.Response.Body.WriteAsync(Chunk.AsMemory(0, (int)Math.Min(Chunk.Length, total - sent)), context.RequestAborted);
                }

                return;
            case "/api/chunked":
                // Flushed part by part, so Kestrel cannot count it first: chunked, no Content-Length.
                var parts = int.Parse(context.Request.Query["parts"].ToString(), CultureInfo.InvariantCulture);
                for (var part = 0; part < parts; part++)
                {
                    await context.Response.WriteAsync("part " + part + ";", context.RequestAborted);
                    await context.Response.Body.FlushAsync(context.RequestAborted);
                    await Task.Delay(20, context.RequestAborted);
                }

                return;
            case "/api/headers-only":
                // Declares a body, sends the headers, then drops the connection before the first byte of it.
                context.Response.ContentLength = 1000;
                await context.Response.StartAsync(context.RequestAborted);
                await context.Response.Body.FlushAsync(context.RequestAborted);
                await Task.Delay(100, context.RequestAborted);
                context.Abort();
                return;
            case "/api/nocontent":
                context.Response.StatusCode = 204;
                return;
            case "/api/broken":
                // Declares its length, sends half of it, then drops the connection: a body that breaks off.
                var declared = long.Parse(context.Request.Query["bytes"].ToString(), CultureInfo.InvariantCulture);
                context.Response.ContentLength = declared;
                await context.Response.Body.WriteAsync(Chunk.AsMemory(0, (int)Math.Min(Chunk.Length, declared / 2)), context.RequestAborted);
                await context.Response.Body.FlushAsync(context.RequestAborted);
                await Task.Delay(100, context.RequestAborted);
                context.Abort();
                return;
            default:
                await context.Response.WriteAsJsonAsync(new { method = context.Request.Method, raw_target = raw, body_bytes = bytes });
                return;
        }
    }

    private async Task TokenAsync(HttpContext context)
    {
        Interlocked.Increment(ref _refreshCalls);
        var form = await context.Request.ReadFormAsync();
        var refresh = form["refresh_token"].ToString();

        // Outages, chosen by the refresh token so that tests sharing this server never disturb each other: a 503 with
        // RFC 6749 §5.2 temporarily_unavailable, a 429 with Retry-After (RFC 9110 §10.2.3), or no answer at all.
        if (refresh.StartsWith(Outage5xx, StringComparison.Ordinal))
        {
            context.Response.StatusCode = 503;
            await context.Response.WriteAsJsonAsync(new { error = "temporarily_unavailable" });
            return;
        }

        if (refresh.StartsWith(Outage429, StringComparison.Ordinal))
        {
            context.Response.StatusCode = 429;
            context.Response.Headers.RetryAfter = "7";
            await context.Response.WriteAsJsonAsync(new { error = "rate_limited" });
            return;
        }

        if (refresh.StartsWith(OutageHang, StringComparison.Ordinal))
        {
            await Task.Delay(Timeout.InfiniteTimeSpan, context.RequestAborted);
            return;
        }

        if (form["grant_type"] != "refresh_token" || !ValidRefreshTokens.ContainsKey(refresh))
        {
            context.Response.StatusCode = 400;
            await context.Response.WriteAsJsonAsync(new { error = "invalid_grant" });
            return;
        }

        var token = "minted-" + Interlocked.Increment(ref _minted).ToString(CultureInfo.InvariantCulture) + "-" + Guid.NewGuid().ToString("N");
        ValidTokens[token] = true;
        LastMintedToken = token;
        await context.Response.WriteAsJsonAsync(new { access_token = token, token_type = "Bearer", expires_in = 3600 });
    }

    public async ValueTask DisposeAsync()
    {
        await _app.StopAsync();
        await _app.DisposeAsync();
    }
}
