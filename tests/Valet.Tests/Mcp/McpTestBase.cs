using System.Collections.Concurrent;
using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Valet.Tests.Connect;
using Valet.Tests.Infrastructure;

namespace Valet.Tests.Mcp;

/// <summary>
/// A Valet server whose provider <c>idp</c> is the real oidc-provider, and whose API is a local upstream that accepts a
/// bearer only when the IdP's introspection says it is active (RFC 7662) and the test has not distrusted it — the way to
/// make an upstream answer 401 to a token whose grant is still alive (the refresh-on-401 path). Paths under <c>/api</c>:
/// <c>whoami</c> (JSON), <c>text</c>, <c>big</c> (300 KB of text), <c>image</c> (PNG bytes).
/// </summary>
public abstract class McpTestBase(IdpFixture idp, BrowserFixture browser) : ConnectTestBase(idp, browser)
{
    private WebApplication? _upstream;
    private int _rejected;

    /// <summary>Tokens the upstream refuses (401) even while the IdP says they are active.</summary>
    protected ConcurrentDictionary<string, bool> Distrusted { get; } = new(StringComparer.Ordinal);

    /// <summary>How many calls the upstream refused with 401.</summary>
    protected int Rejected => Volatile.Read(ref _rejected);

    /// <summary>Bytes <c>/api/endless</c> managed to send before its reader went away.</summary>
    protected long EndlessBytesSent => Interlocked.Read(ref _endlessBytes);

    /// <summary>Completed when <c>/api/endless</c> stopped sending: true if its reader went away, false if it sent everything.</summary>
    protected Task<bool> EndlessCutOff => _endlessEnded.Task;

    private long _endlessBytes;
    private readonly TaskCompletionSource<bool> _endlessEnded = new(TaskCreationOptions.RunContinuationsAsynchronously);

    protected override IDictionary<string, string?> ExtraSettings
    {
        get
        {
            // The upstream must exist before the server reads its configuration.
            var builder = WebApplication.CreateSlimBuilder();
            builder.Logging.ClearProviders();
            builder.WebHost.UseUrls("http://127.0.0.1:0");
            _upstream = builder.Build();
            _upstream.MapGet("/api/whoami", async (HttpRequest request) =>
            {
                var header = request.Headers.Authorization.ToString();
                var token = header.StartsWith("Bearer ", StringComparison.Ordinal) ? header[7..] : string.Empty;
                if (token.Length == 0 || Distrusted.ContainsKey(token) || !await Idp.IsActiveAsync(token))
                {
                    Interlocked.Increment(ref _rejected);
                    return Results.Json(new { error = "invalid_token" }, statusCode: 401);
                }

                return Results.Json(new { ok = true, query = request.QueryString.Value, cookie = request.Headers.Cookie.ToString() });
            });
            _upstream.MapGet("/api/text", () => Results.Text("plain words", "text/plain"));
            // A debug endpoint that hands its request back: the credential Valet sent, in the body (JSON) and in an ETag.
            _upstream.MapGet("/api/echo", (HttpContext context) =>
            {
                var authorization = context.Request.Headers.Authorization.ToString();
                context.Response.Headers.ETag = "\"" + authorization + "\"";
                return Results.Json(new { headers = new { authorization }, note = "echoed" });
            });
            // The same, as text past the 100 KB cap: the cut falls inside the token.
            _upstream.MapGet("/api/echo-cut", (HttpContext context) =>
                Results.Text(new string('.', 100 * 1024 - 16) + context.Request.Headers.Authorization.ToString(), "text/plain"));
            // The echo in UTF-16 (declared), in UTF-16 with only a byte order mark, and gzip-compressed unasked.
            _upstream.MapGet("/api/echo-utf16", (HttpContext context) =>
                Results.Bytes(System.Text.Encoding.Unicode.GetBytes("auth=" + context.Request.Headers.Authorization), "text/plain; charset=utf-16"));
            _upstream.MapGet("/api/echo-bom", (HttpContext context) =>
                Results.Bytes([.. System.Text.Encoding.Unicode.GetPreamble(), .. System.Text.Encoding.Unicode.GetBytes("auth=" + context.Request.Headers.Authorization)], "text/plain"));
            _upstream.MapGet("/api/echo-1252", (HttpContext context) =>
                Results.Bytes([.. "caf"u8, 0xE9, .. System.Text.Encoding.ASCII.GetBytes(" auth=" + context.Request.Headers.Authorization + " ae=" + context.Request.Headers.AcceptEncoding)],
                    "text/plain; charset=windows-1252"));
            _upstream.MapGet("/api/echo-utf7", (HttpContext context) =>
                Results.Bytes(System.Text.Encoding.ASCII.GetBytes("auth=" + context.Request.Headers.Authorization), "text/plain; charset=utf-7"));
            _upstream.MapGet("/api/echo-gzip", (HttpContext context) =>
            {
                using var packed = new MemoryStream();
                using (var gzip = new System.IO.Compression.GZipStream(packed, System.IO.Compression.CompressionLevel.Fastest, leaveOpen: true))
                {
                    gzip.Write(System.Text.Encoding.UTF8.GetBytes("auth=" + context.Request.Headers.Authorization));
                }

                context.Response.Headers.ContentEncoding = "gzip";
                return Results.Bytes(packed.ToArray(), "text/plain");
            });
            _upstream.MapGet("/api/big", () => Results.Text(new string('x', 300 * 1024), "text/plain"));
            _upstream.MapGet("/api/image", () => Results.Bytes([0x89, 0x50, 0x4e, 0x47], "image/png"));
            _upstream.MapGet("/api/endless", async (HttpContext context) =>
            {
                // A download as large as the reader will take (up to 1 GB): how much is sent shows when the reader stopped.
                context.Response.ContentType = "text/plain";
                var chunk = System.Text.Encoding.ASCII.GetBytes(new string('y', 16 * 1024));
                try
                {
                    for (var sent = 0L; sent < 1L << 30; sent += chunk.Length)
                    {
                        // Once the connection is gone Kestrel completes writes without throwing (its output is discarded)
                        // and signals RequestAborted from a thread-pool work item. On a loaded machine that item can wait
                        // while a tight loop "sends" the whole gigabyte into the void; yielding after each write lets it
                        // run, so the count stays what actually left before the reader went away.
                        if (context.RequestAborted.IsCancellationRequested)
                        {
                            _endlessEnded.TrySetResult(true);
                            return;
                        }

                        await context.Response.Body.WriteAsync(chunk, context.RequestAborted);
                        Interlocked.Add(ref _endlessBytes, chunk.Length);
                        await Task.Yield();
                    }

                    // Everything was written. A reader that took it all leaves the connection open (pooled); one that went
                    // away aborts it, which Kestrel may report only now.
                    await Task.Delay(TimeSpan.FromSeconds(5), context.RequestAborted);
                    _endlessEnded.TrySetResult(false);
                }
                catch (Exception e) when (e is IOException or OperationCanceledException)
                {
                    _endlessEnded.TrySetResult(true); // the reader went away: the point
                }
            });
            _upstream.StartAsync().GetAwaiter().GetResult();
            var url = _upstream.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.First();
            return new Dictionary<string, string?> { ["Providers:idp:ApiBaseUrl"] = url + "/api" };
        }
    }

    protected Uri McpUrl => new(Server.BaseUrl, "/mcp");

    public override async Task DisposeAsync()
    {
        await base.DisposeAsync();
        if (_upstream is not null)
        {
            await _upstream.DisposeAsync();
        }
    }

    /// <summary>The connection's current access token, as the service token reads it (to prove it never reaches a result).</summary>
    protected async Task<string> AccessTokenAsync(string connectionId)
    {
        using var service = Server.Client(Server.ServiceToken);
        using var response = await service.PostAsJsonAsync($"/v1/connections/{connectionId}/token", new { });
        return (await response.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("access_token").GetString()!;
    }

    /// <summary>Signs a person of the org in (the sign-in form, as a browser posts it), opens the connect link and continues: the IdP's authorize URL.</summary>
    protected async Task<string> PersonOpensAsync(string connectUrl)
    {
        using var handler = new HttpClientHandler { AllowAutoRedirect = false, UseCookies = true };
        using var person = new HttpClient(handler) { BaseAddress = Server.BaseUrl };
        (await SignInForms.SignInAsync(person, new Dictionary<string, string>
        {
            ["token"] = ValetTestServer.AdminToken, ["org"] = "default", ["return"] = new Uri(connectUrl).PathAndQuery,
        })).Dispose();
        using var authorize = await ConnectLinks.ContinueAsync(person, new Uri(connectUrl));
        Assert.Equal(HttpStatusCode.Redirect, authorize.StatusCode);
        return authorize.Headers.Location!.AbsoluteUri;
    }

    /// <summary>Revokes a token at the IdP; oidc-provider then revokes every token of its grant: the grant is dead.</summary>
    protected async Task RevokeGrantAsync(string accessToken)
    {
        using var request = new HttpRequestMessage(HttpMethod.Post, Idp.Issuer + "/token/revocation")
        {
            Content = new FormUrlEncodedContent(new Dictionary<string, string>
            {
                ["token"] = accessToken, ["token_type_hint"] = "access_token", ["client_id"] = IdpFixture.ClientId, ["client_secret"] = IdpFixture.ClientSecret,
            }),
        };
        (await Idp.Http.SendAsync(request)).EnsureSuccessStatusCode();
        Assert.False(await Idp.IsActiveAsync(accessToken));
    }
}
