using System.Collections.Concurrent;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Http.Features;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace Valet.Tests.Credentials;

/// <summary>One request as a <see cref="KeyedApi"/> received it: the raw request target and every header.</summary>
public sealed record KeyedRequest(string Method, string RawTarget, IReadOnlyDictionary<string, string> Headers)
{
    public string? Header(string name) => Headers.TryGetValue(name, out var value) ? value : null;

    /// <summary>The values of query parameter <paramref name="name"/>, decoded, in order.</summary>
    public IReadOnlyList<string> Query(string name)
    {
        var q = RawTarget.IndexOf('?', StringComparison.Ordinal);
        if (q < 0)
        {
            return [];
        }

        return [.. RawTarget[(q + 1)..].Split('&').Select(p => p.Split('=', 2))
            .Where(p => Uri.UnescapeDataString(p[0]) == name).Select(p => p.Length > 1 ? Uri.UnescapeDataString(p[1]) : string.Empty)];
    }
}

/// <summary>
/// A local API on real Kestrel (127.0.0.1, ephemeral port) that behaves like an API-key provider: it answers 200 only when
/// <see cref="Accepts"/> says the request carries the credential the way that provider documents it, else 401. Every
/// request is kept in <see cref="Seen"/>, headers as received and the request target as sent on the wire.
/// </summary>
public sealed class KeyedApi : IAsyncDisposable
{
    private readonly WebApplication _app;

    private KeyedApi(WebApplication app) => _app = app;

    public Uri BaseUrl { get; private set; } = null!;

    public ConcurrentQueue<KeyedRequest> Seen { get; } = new();

    /// <summary>The provider's rule; by default everything is refused.</summary>
    public Func<KeyedRequest, bool> Accepts { get; set; } = _ => false;

    public static async Task<KeyedApi> StartAsync()
    {
        var builder = WebApplication.CreateSlimBuilder();
        builder.WebHost.UseUrls("http://127.0.0.1:0");
        builder.Logging.ClearProviders();
        var app = builder.Build();
        var api = new KeyedApi(app);
        app.Run(api.HandleAsync);
        await app.StartAsync();
        api.BaseUrl = new Uri(app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.First());
        return api;
    }

    public KeyedRequest Last => Seen.Last();

    private async Task HandleAsync(HttpContext context)
    {
        var seen = new KeyedRequest(context.Request.Method, context.Features.Get<IHttpRequestFeature>()!.RawTarget,
            context.Request.Headers.ToDictionary(h => h.Key, h => h.Value.ToString(), StringComparer.OrdinalIgnoreCase));
        Seen.Enqueue(seen);
        var ok = Accepts(seen);
        var path = context.Request.Path.Value ?? string.Empty;
        if (ok && path.EndsWith("/ws", StringComparison.Ordinal) && context.Features.Get<IHttpUpgradeFeature>() is { IsUpgradableRequest: true } upgrade)
        {
            // A WebSocket endpoint that would take the upgrade (101) and echo whatever bytes follow: a tunnel, if allowed.
            await using var tunnel = await upgrade.UpgradeAsync();
            await tunnel.CopyToAsync(tunnel);
            return;
        }
        var self = BaseUrl.GetLeftPart(UriPartial.Authority) + seen.RawTarget;
        if (ok && path.EndsWith("/redirect", StringComparison.Ordinal))
        {
            // As an API that moves a resource answers: the same URL (query and all) somewhere else.
            context.Response.StatusCode = StatusCodes.Status302Found;
            context.Response.Headers.Location = self.Replace("/redirect", "/moved", StringComparison.Ordinal);
            return;
        }

        if (ok && path.Contains("/echo-", StringComparison.Ordinal))
        {
            // An API that repeats the request URL in its body ("self" links, error pages): as received, decoded, HTML-escaped
            // and JSON-escaped the way Go writes '+', '<' and '>'.
            var json = System.Text.Json.JsonSerializer.Serialize(new
            {
                self,
                decoded = Uri.UnescapeDataString(self),
                html = System.Text.Encodings.Web.HtmlEncoder.Default.Encode(Uri.UnescapeDataString(self)),
            }).Replace("+", "\\u002b", StringComparison.Ordinal);
            var bytes = System.Text.Encoding.UTF8.GetBytes(json + " ends");
            context.Response.ContentType = "application/json";
            if (path.EndsWith("/echo-gzip", StringComparison.Ordinal) || path.EndsWith("/echo-zstd", StringComparison.Ordinal))
            {
                // Compressed whatever the request asked (a server that ignores Accept-Encoding).
                using var compressed = new MemoryStream();
                await using (var gzip = new System.IO.Compression.GZipStream(compressed, System.IO.Compression.CompressionLevel.Fastest, leaveOpen: true))
                {
                    await gzip.WriteAsync(bytes);
                }

                context.Response.Headers.ContentEncoding = path.EndsWith("/echo-gzip", StringComparison.Ordinal) ? "gzip" : "zstd";
                context.Response.ContentLength = compressed.Length;
                await context.Response.Body.WriteAsync(compressed.ToArray());
                return;
            }

            if (context.Request.Query.ContainsKey("length"))
            {
                context.Response.ContentLength = bytes.Length;
            }

            // In pieces of three bytes, each sent on its own: every spelling is split across reads somewhere.
            for (var at = 0; at < bytes.Length; at += 3)
            {
                await context.Response.Body.WriteAsync(bytes.AsMemory(at, Math.Min(3, bytes.Length - at)));
                await context.Response.Body.FlushAsync();
            }

            return;
        }

        if (ok && path.EndsWith("/paged", StringComparison.Ordinal))
        {
            // Pagination that repeats the request's query, once as received, once with lower-case escapes, once decoded;
            // and a header that claims to be Valet's marker.
            context.Response.Headers.Link = $"<{self}&page=2>; rel=\"next\", <{LowerEscapes(self)}&page=9>; rel=\"last\"";
            context.Response.Headers.ContentLocation = Uri.UnescapeDataString(self);
            context.Response.Headers["Valet-Upstream"] = "forged";

            // Re-serialised by RFC 3986 query rules ('/' and '=' left as they are, '+' escaped), and nested in another URL's query.
            context.Response.Headers["X-Reencoded"] = self.Replace("%2F", "/", StringComparison.Ordinal).Replace("%3D", "=", StringComparison.Ordinal);
            context.Response.Headers["X-Nested"] = "https://elsewhere.test/?next=" + Uri.EscapeDataString(self);
        }

        context.Response.StatusCode = ok ? StatusCodes.Status200OK : StatusCodes.Status401Unauthorized;
        context.Response.ContentType = "application/json";
        await context.Response.WriteAsync(ok ? "{\"ok\":true}" : "{\"error\":\"bad credential\"}");
    }

    private static string LowerEscapes(string text) =>
        System.Text.RegularExpressions.Regex.Replace(text, "%[0-9A-F]{2}", m => m.Value.ToLowerInvariant());

    public async ValueTask DisposeAsync()
    {
        await _app.StopAsync();
        await _app.DisposeAsync();
    }
}
