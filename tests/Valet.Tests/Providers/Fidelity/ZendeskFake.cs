using System.Collections.Concurrent;
using System.Net.Sockets;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.WebUtilities;
using Valet.Core.OAuth;

namespace Valet.Tests.Providers.Fidelity;

/// <summary>
/// Zendesk, where every account is its own subdomain, written from Zendesk's documentation (not from Valet's catalog):
/// <list type="bullet">
/// <item>"Using OAuth to authenticate Zendesk API requests in a web app" and "Using PKCE": the person is sent to
/// <c>https://{subdomain}.zendesk.com/oauth/authorizations/new</c> (response_type=code, redirect_uri, client_id, scope,
/// state, code_challenge, code_challenge_method=S256) and comes back with code and state;</item>
/// <item>"OAuth Tokens for Grant Types" (https://developer.zendesk.com/api-reference/ticketing/oauth/grant_type_tokens/):
/// <c>POST /oauth/tokens</c>, parameters "formatted as JSON": grant_type, code, client_id, client_secret, redirect_uri,
/// code_verifier; a refresh "returns a new access token and refresh token while invalidating the previous access and
/// refresh tokens"; the answer carries access_token, refresh_token, token_type "bearer", scope;</item>
/// <item>"Show Self" (GET /api/v2/users/me → <c>{"user":{"id","name","email"}}</c>); API paths under <c>/api/v2</c>.</item>
/// </list>
/// One server plays every subdomain: the <c>Host</c> header says which, and a token works only on the subdomain that issued it.
/// </summary>
internal sealed class ZendeskFake : IAsyncDisposable
{
    public const string ClientId = "valet_zendesk_integration";
    public const string ClientSecret = "zd-secret-0a1b2c3d4e5f60718293a4b5c6d7e8f9";

    /// <summary>Stands for <c>zendesk.com</c>: hosts are <c>{subdomain}.zendesk.localhost</c>, mapped to this server by <see cref="Connect"/>.</summary>
    public const string Domain = "zendesk.localhost";

    private readonly ConcurrentDictionary<string, Grant> _codes = new(StringComparer.Ordinal);
    private readonly ConcurrentDictionary<string, (string Subdomain, long User)> _access = new(StringComparer.Ordinal);
    private readonly ConcurrentDictionary<string, (string Subdomain, long User)> _refresh = new(StringComparer.Ordinal);
    private WebApplication _app = null!;
    private long _users = 35436;

    public int Port { get; private set; }

    public ConcurrentQueue<(string Host, RecordedRequest Request)> TokenRequests { get; } = new();

    public ConcurrentQueue<(string Host, string Path)> ApiCalls { get; } = new();

    public long LastUser => Interlocked.Read(ref _users);

    public static async Task<ZendeskFake> StartAsync()
    {
        var fake = new ZendeskFake();
        fake._app = await FakeHost.StartAsync(app =>
        {
            app.MapGet("/oauth/authorizations/new", fake.Authorize);
            app.MapPost("/oauth/tokens", fake.TokensAsync);
            app.Map("/api/v2/{**rest}", fake.Api);
        });
        fake.Port = FakeHost.BaseUrl(fake._app).Port;
        return fake;
    }

    /// <summary>
    /// The DNS of this test: every <c>*.zendesk.localhost</c> name is this server (a subdomain per account, as Zendesk's
    /// DNS does); any other name resolves as usual. A <c>SocketsHttpHandler.ConnectCallback</c>.
    /// </summary>
    public static async ValueTask<Stream> Connect(SocketsHttpConnectionContext context, CancellationToken cancellationToken)
    {
        var socket = new Socket(SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
        try
        {
            if (context.DnsEndPoint.Host.EndsWith("." + Domain, StringComparison.OrdinalIgnoreCase))
            {
                await socket.ConnectAsync(System.Net.IPAddress.Loopback, context.DnsEndPoint.Port, cancellationToken);
            }
            else
            {
                await socket.ConnectAsync(context.DnsEndPoint, cancellationToken);
            }

            return new NetworkStream(socket, ownsSocket: true);
        }
        catch
        {
            socket.Dispose();
            throw;
        }
    }

    /// <summary>The OAuth handler Valet registers, with this test's DNS.</summary>
    public static HttpMessageHandler OAuthHandler() => OAuthHttp.CreateHandler(handler => handler.ConnectCallback = Connect);

    public void ExpireAccessTokens() => _access.Clear();

    private static string Subdomain(HttpRequest request) =>
        request.Host.Host.EndsWith("." + Domain, StringComparison.OrdinalIgnoreCase) ? request.Host.Host[..^(Domain.Length + 1)] : string.Empty;

    private IResult Authorize(HttpRequest request)
    {
        var q = request.Query;
        if (q["response_type"] != "code" || q["client_id"] != ClientId || q["code_challenge_method"] != "S256"
            || !Uri.TryCreate(q["redirect_uri"], UriKind.Absolute, out var redirect) || Subdomain(request).Length == 0)
        {
            return Results.BadRequest();
        }

        var code = Convert.ToHexString(RandomNumberGenerator.GetBytes(16)).ToLowerInvariant();
        _codes[code] = new Grant(Subdomain(request), Interlocked.Increment(ref _users), redirect.AbsoluteUri, q["code_challenge"].ToString(),
            q["scope"].ToString());
        return Results.Redirect($"{redirect.AbsoluteUri}?code={code}&state={Uri.EscapeDataString(q["state"].ToString())}");
    }

    private async Task<IResult> TokensAsync(HttpRequest request)
    {
        var recorded = await RecordedRequest.ReadAsync(request);
        var subdomain = Subdomain(request);
        TokenRequests.Enqueue((request.Host.Host, recorded));
        if (!recorded.ContentType.StartsWith("application/json", StringComparison.Ordinal) || recorded.Json is not { ValueKind: JsonValueKind.Object } body)
        {
            return Error(400, "invalid_request");
        }

        if (Member(body, "client_id") != ClientId || Member(body, "client_secret") != ClientSecret)
        {
            return Error(401, "invalid_client");
        }

        switch (Member(body, "grant_type"))
        {
            case "authorization_code":
                if (Member(body, "code") is not { } code || !_codes.TryRemove(code, out var grant) || grant.Subdomain != subdomain
                    || Member(body, "redirect_uri") != grant.Redirect || Pkce(Member(body, "code_verifier")) != grant.Challenge)
                {
                    return Error(400, "invalid_grant");
                }

                return Results.Json(Issue(subdomain, grant.User, grant.Scope));
            case "refresh_token":
                // Each refresh invalidates the previous access and refresh tokens.
                if (Member(body, "refresh_token") is not { } refresh || !_refresh.TryRemove(refresh, out var held) || held.Subdomain != subdomain)
                {
                    return Error(400, "invalid_grant");
                }

                foreach (var old in _access.Where(a => a.Value == held).Select(a => a.Key).ToList())
                {
                    _access.TryRemove(old, out _);
                }

                return Results.Json(Issue(subdomain, held.User, "read"));
            default:
                return Error(400, "unsupported_grant_type");
        }
    }

    private IResult Api(HttpRequest request)
    {
        ApiCalls.Enqueue((request.Host.Host, request.Path + request.QueryString));
        var authorization = request.Headers.Authorization.ToString();
        if (!authorization.StartsWith("Bearer ", StringComparison.Ordinal) || !_access.TryGetValue(authorization["Bearer ".Length..], out var owner)
            || owner.Subdomain != Subdomain(request))
        {
            return Error(401, "invalid_token");
        }

        return request.Path.Value == "/api/v2/users/me"
            ? Results.Json(new { user = new { id = owner.User, name = "Johnny Agent", email = $"agent{owner.User}@{owner.Subdomain}.example", role = "agent" } })
            : Results.Json(new { tickets = Array.Empty<object>(), subdomain = owner.Subdomain, path = request.Path.Value });
    }

    private object Issue(string subdomain, long user, string scope)
    {
        var access = Convert.ToHexString(RandomNumberGenerator.GetBytes(24)).ToLowerInvariant();
        var refresh = Convert.ToHexString(RandomNumberGenerator.GetBytes(24)).ToLowerInvariant();
        _access[access] = (subdomain, user);
        _refresh[refresh] = (subdomain, user);
        return new { access_token = access, refresh_token = refresh, token_type = "bearer", scope, refresh_token_expires_in = 2592000 };
    }

    private static IResult Error(int status, string error) =>
        Results.Json(new { error, error_description = "fake " + error }, statusCode: status);

    private static string? Member(JsonElement body, string name) =>
        body.TryGetProperty(name, out var value) && value.ValueKind == JsonValueKind.String ? value.GetString() : null;

    private static string? Pkce(string? verifier) =>
        verifier is null ? null : WebEncoders.Base64UrlEncode(SHA256.HashData(Encoding.ASCII.GetBytes(verifier)));

    public async ValueTask DisposeAsync()
    {
        await _app.StopAsync();
        await _app.DisposeAsync();
    }

    private sealed record Grant(string Subdomain, long User, string Redirect, string Challenge, string Scope);
}
