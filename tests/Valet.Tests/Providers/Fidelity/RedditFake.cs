using System.Collections.Concurrent;
using System.Security.Cryptography;
using System.Text;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;

namespace Valet.Tests.Providers.Fidelity;

/// <summary>
/// Reddit's OAuth2 for a web app, written from https://github.com/reddit/reddit/wiki/OAuth2 (not from Valet's catalog):
/// <list type="bullet">
/// <item>authorize: /api/v1/authorize with client_id, response_type=code, state, redirect_uri, duration (temporary or permanent), scope;</item>
/// <item>token: POST /api/v1/access_token, form body grant_type=authorization_code + code + redirect_uri, the client id and secret
/// "using HTTP basic auth" — the only client authentication described (a wrong or missing one is a 401); the answer is JSON
/// access_token, token_type "bearer", expires_in, scope, and refresh_token "only if duration=permanent"; a refresh is
/// grant_type=refresh_token + refresh_token, Basic again, answered without a new refresh token (the old one stays);</item>
/// <item>errors: <c>{"error":"invalid_grant"}</c> for an expired, used or revoked code or refresh token (HTTP status from memory, not checked here: 400);</item>
/// <item>revoke: POST /api/v1/revoke_token, Basic, token + token_type_hint, answered 204;</item>
/// <item>identity: GET /api/v1/me (on oauth.reddit.com) with the bearer token → id, name.</item>
/// </list>
/// </summary>
internal sealed class RedditFake : IAsyncDisposable
{
    public const string ClientId = "p-jcoLKBynTLew";
    public const string ClientSecret = "gko_LXELoV07ZBNUXrvWZfzE3aI";

    private readonly ConcurrentDictionary<string, (string User, string Redirect, bool Permanent)> _codes = new(StringComparer.Ordinal);
    private readonly ConcurrentDictionary<string, string> _access = new(StringComparer.Ordinal);
    private readonly ConcurrentDictionary<string, string> _refresh = new(StringComparer.Ordinal);
    private WebApplication _app = null!;
    private int _users;

    public Uri BaseUrl { get; private set; } = null!;

    public ConcurrentQueue<RecordedRequest> TokenRequests { get; } = new();

    public ConcurrentQueue<RecordedRequest> RevokeRequests { get; } = new();

    public ConcurrentQueue<string> Durations { get; } = new();

    public int? Outage { get; set; }

    public string? LastUser { get; private set; }

    public string? LastAccessToken { get; private set; }

    public string? LastRefreshToken { get; private set; }

    public static async Task<RedditFake> StartAsync()
    {
        var fake = new RedditFake();
        fake._app = await FakeHost.StartAsync(app =>
        {
            app.MapGet("/api/v1/authorize", fake.Authorize);
            app.MapPost("/api/v1/access_token", fake.AccessTokenAsync);
            app.MapPost("/api/v1/revoke_token", fake.RevokeAsync);
            app.MapGet("/api/v1/me", fake.Me);
        });
        fake.BaseUrl = FakeHost.BaseUrl(fake._app);
        return fake;
    }

    public void ExpireAccessTokens() => _access.Clear();

    public void RevokeGrant()
    {
        _access.Clear();
        _refresh.Clear();
    }

    private IResult Authorize(HttpRequest request)
    {
        var q = request.Query;
        Durations.Enqueue(q["duration"].ToString());
        if (q["client_id"] != ClientId || q["response_type"] != "code" || !Uri.TryCreate(q["redirect_uri"], UriKind.Absolute, out var redirect))
        {
            return Results.BadRequest();
        }

        var code = Convert.ToHexString(RandomNumberGenerator.GetBytes(15)).ToLowerInvariant();
        LastUser = Convert.ToString(Interlocked.Increment(ref _users) + 1_000_000, 16);
        _codes[code] = (LastUser, redirect.AbsoluteUri, q["duration"] == "permanent");
        return Results.Redirect($"{redirect.AbsoluteUri}?state={Uri.EscapeDataString(q["state"].ToString())}&code={code}");
    }

    private async Task<IResult> AccessTokenAsync(HttpRequest request)
    {
        var recorded = await RecordedRequest.ReadAsync(request);
        TokenRequests.Enqueue(recorded);
        if (Outage is { } status)
        {
            return Results.Text("<html>all of our servers are busy right now</html>", "text/html", statusCode: status);
        }

        if (!ValidBasic(recorded.Authorization))
        {
            return Results.Json(new { message = "Unauthorized", error = 401 }, statusCode: 401);
        }

        var form = recorded.Form;
        if (form.GetValueOrDefault("grant_type") == "refresh_token")
        {
            if (!form.TryGetValue("refresh_token", out var presented) || !_refresh.TryGetValue(presented, out var owner))
            {
                return Results.Json(new { error = "invalid_grant" }, statusCode: 400);
            }

            return Results.Json(Issue(owner, withRefresh: false));
        }

        if (!form.TryGetValue("code", out var code) || !_codes.TryRemove(code, out var grant) || form.GetValueOrDefault("redirect_uri") != grant.Redirect)
        {
            return Results.Json(new { error = "invalid_grant" }, statusCode: 400);
        }

        return Results.Json(Issue(grant.User, grant.Permanent));
    }

    private async Task<IResult> RevokeAsync(HttpRequest request)
    {
        var recorded = await RecordedRequest.ReadAsync(request);
        RevokeRequests.Enqueue(recorded);
        if (!ValidBasic(recorded.Authorization))
        {
            return Results.StatusCode(401);
        }

        var token = recorded.Form.GetValueOrDefault("token") ?? string.Empty;
        _access.TryRemove(token, out _);
        if (_refresh.TryRemove(token, out var owner))
        {
            foreach (var old in _access.Where(a => a.Value == owner).Select(a => a.Key).ToList())
            {
                _access.TryRemove(old, out _);
            }
        }

        return Results.NoContent();
    }

    private IResult Me(HttpRequest request)
    {
        var authorization = request.Headers.Authorization.ToString();
        if (!authorization.StartsWith("Bearer ", StringComparison.Ordinal) || !_access.TryGetValue(authorization["Bearer ".Length..], out var user))
        {
            return Results.Json(new { message = "Unauthorized", error = 401 }, statusCode: 401);
        }

        return Results.Json(new { id = user, name = "spez_" + user, is_employee = false, created_utc = 1118030400.0 });
    }

    private Dictionary<string, object> Issue(string user, bool withRefresh)
    {
        LastAccessToken = "eyJhbGciOiJSUzI1NiJ9." + Convert.ToHexString(RandomNumberGenerator.GetBytes(20)).ToLowerInvariant();
        _access[LastAccessToken] = user;
        var answer = new Dictionary<string, object>
        {
            ["access_token"] = LastAccessToken, ["token_type"] = "bearer", ["expires_in"] = 86400, ["scope"] = "identity",
        };
        if (withRefresh)
        {
            LastRefreshToken = "1234567-" + Convert.ToHexString(RandomNumberGenerator.GetBytes(15)).ToLowerInvariant();
            _refresh[LastRefreshToken] = user;
            answer["refresh_token"] = LastRefreshToken;
        }

        return answer;
    }

    private static bool ValidBasic(string? authorization)
    {
        if (authorization is null || !authorization.StartsWith("Basic ", StringComparison.Ordinal))
        {
            return false;
        }

        try
        {
            return Encoding.UTF8.GetString(Convert.FromBase64String(authorization["Basic ".Length..])) == $"{ClientId}:{ClientSecret}";
        }
        catch (FormatException)
        {
            return false;
        }
    }

    public async ValueTask DisposeAsync()
    {
        await _app.StopAsync();
        await _app.DisposeAsync();
    }
}
