using System.Globalization;
using System.Text.Json;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Yarp.ReverseProxy.Forwarder;

namespace Valet.Bench;

/// <summary>
/// The baselines of <see cref="ExternalBench"/>, each run as its own process (<c>bench bare KIND PORT [UPSTREAM]</c>):
/// <c>token</c>, an endpoint answering the token route's JSON (same shape, same snake_case serializer, no work);
/// <c>yarp</c>, a bare YARP forwarder to the upstream; <c>upstream</c>, the API both forward to.
/// </summary>
internal static class BareServers
{
    private static readonly byte[] Payload = JsonSerializer.SerializeToUtf8Bytes(new { id = 42, login = "octocat", items = Enumerable.Range(0, 10).ToArray() });

    private sealed record TokenResponse(string AccessToken, string TokenType, DateTimeOffset? ExpiresAt, IReadOnlyList<string>? Scopes, string ConnectionId);

    public static async Task<int> RunAsync(string[] args)
    {
        if (args.Length < 2 || !int.TryParse(args[1], CultureInfo.InvariantCulture, out var port))
        {
            await Console.Error.WriteLineAsync("usage: bare token|yarp|upstream PORT [UPSTREAM_URL]");
            return 2;
        }

        var builder = WebApplication.CreateSlimBuilder(BenchHosts.Options);
        builder.WebHost.UseUrls($"http://127.0.0.1:{port}");
        builder.Logging.ClearProviders();
        builder.Services.ConfigureHttpJsonOptions(o => o.SerializerOptions.PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower);
        if (args[0] == "yarp")
        {
            builder.Services.AddHttpForwarder();
        }

        var app = builder.Build();
        app.MapGet("/healthz", () => TypedResults.Ok(new { status = "ok" }));
        var expiresAt = DateTimeOffset.UtcNow.AddDays(1);
        switch (args[0])
        {
            case "token":
                app.MapPost("/v1/connections/{id}/token", (string id) =>
                    TypedResults.Ok(new TokenResponse("bench-access-token-0123456789abcdef0123456789abcdef", "Bearer", expiresAt, null, id)));
                break;
            case "yarp":
                var invoker = new HttpMessageInvoker(new SocketsHttpHandler { UseProxy = false, AllowAutoRedirect = false, UseCookies = false });
                var forwarder = app.Services.GetRequiredService<IHttpForwarder>();
                var prefix = args[2].TrimEnd('/');
                app.Map("/api/{**rest}", async context => await forwarder.SendAsync(context, prefix, invoker, ForwarderRequestConfig.Empty, HttpTransformer.Empty));
                break;
            case "upstream":
                app.MapGet("/api/{**rest}", (HttpContext c) =>
                {
                    c.Response.ContentType = "application/json";
                    return c.Response.Body.WriteAsync(Payload).AsTask();
                });
                break;
            default:
                await Console.Error.WriteLineAsync($"unknown bare server '{args[0]}'");
                return 2;
        }

        await app.RunAsync();
        return 0;
    }
}
