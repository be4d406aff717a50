using System.Collections.Concurrent;
using System.Security.Cryptography;
using System.Text;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;

namespace Valet.Tests.Providers.Fidelity;

/// <summary>
/// Slack's OAuth v2 with user scopes and token rotation, written from Slack's documentation (not from Valet's catalog). Each
/// behaviour names its page:
/// <list type="bullet">
/// <item>authorize: "Installing with OAuth" — GET /oauth/v2/authorize with client_id, scope (bot scopes) and/or user_scope (user
/// scopes), redirect_uri, state; Slack redirects back with code and state;</item>
/// <item>exchange: https://docs.slack.dev/reference/methods/oauth.v2.access — POST, application/x-www-form-urlencoded (or JSON);
/// client_id and client_secret as parameters or, preferably, HTTP Basic; code, redirect_uri, code_verifier, or grant_type=refresh_token
/// with refresh_token. With only user scopes the user token is nested: <c>{"ok":true,"app_id",…,"authed_user":{"id","scope",
/// "access_token","token_type":"user"}, "team":{…}}</c> (the answer's shape per Slack's SDK type OauthV2ExchangeResponse /
/// AuthedUser, https://app.unpkg.com/@slack/web-api@7.9.1/files/dist/types/response/OauthV2ExchangeResponse.d.ts);</item>
/// <item>rotation: https://docs.slack.dev/authentication/using-token-rotation — with rotation the access token "expires every 12 hours"
/// (expires_in 43200, refresh_token xoxe-… beside it); "the refresh token is then revoked, and a new refresh token is used". That a
/// refreshed user token comes back at the top level (access_token, token_type "user") is from memory, not checked here;</item>
/// <item>errors: every Web API method answers HTTP 200 and "Callers should always check the value of the ok params in the response":
/// <c>{"ok":false,"error":"invalid_refresh_token"}</c> ("The given refresh token is invalid", https://api.slack.com/methods/tooling.tokens.rotate),
/// <c>invalid_code</c>, <c>bad_client_secret</c>, <c>invalid_client_id</c> (oauth.v2.exchange's table); an expired user token is
/// <c>{"ok":false,"error":"token_expired"}</c>, also HTTP 200 (from memory, not checked here);</item>
/// <item>identity: auth.test (POST, bearer token) → ok, url, team, user, team_id, user_id.</item>
/// </list>
/// </summary>
internal sealed class SlackFake : IAsyncDisposable
{
    public const string ClientId = "2141029472.691202649728";
    public const string ClientSecret = "e1b9e11dfcd19c1982d5de12921e17e8c";

    private readonly ConcurrentDictionary<string, (string User, string Redirect, string Scope)> _codes = new(StringComparer.Ordinal);
    private readonly ConcurrentDictionary<string, string> _access = new(StringComparer.Ordinal);
    private readonly ConcurrentDictionary<string, string> _refresh = new(StringComparer.Ordinal);
    private WebApplication _app = null!;
    private int _users;

    public Uri BaseUrl { get; private set; } = null!;

    public ConcurrentQueue<RecordedRequest> TokenRequests { get; } = new();

    /// <summary>What each token-endpoint answer was: status and body as sent.</summary>
    public ConcurrentQueue<(int Status, string Body)> TokenAnswers { get; } = new();

    public ConcurrentQueue<string> AuthorizeQueries { get; } = new();

    /// <summary>When set, oauth.v2.access answers this HTTP status (an outage in front of the Web API).</summary>
    public int? Outage { get; set; }

    public string? LastUser { get; private set; }

    public string? LastAccessToken { get; private set; }

    public string? LastRefreshToken { get; private set; }

    public static async Task<SlackFake> StartAsync()
    {
        var fake = new SlackFake();
        fake._app = await FakeHost.StartAsync(app =>
        {
            app.MapGet("/oauth/v2/authorize", fake.Authorize);
            app.MapPost("/api/oauth.v2.access", fake.AccessAsync);
            app.MapPost("/api/auth.test", fake.AuthTest);
            app.MapPost("/api/auth.revoke", fake.AuthRevokeAsync);
            app.MapGet("/api/users.info", fake.AuthTest);
        });
        fake.BaseUrl = FakeHost.BaseUrl(fake._app);
        return fake;
    }

    /// <summary>Twelve hours pass: every access token is expired.</summary>
    public void ExpireAccessTokens() => _access.Clear();

    /// <summary>The app is uninstalled (or the user revoked it): every refresh token is dead.</summary>
    public void RevokeGrant()
    {
        _access.Clear();
        _refresh.Clear();
    }

    private IResult Authorize(HttpRequest request)
    {
        var q = request.Query;
        AuthorizeQueries.Enqueue(request.QueryString.Value ?? string.Empty);
        if (q["client_id"] != ClientId || (string.IsNullOrEmpty(q["scope"]) && string.IsNullOrEmpty(q["user_scope"]))
            || !Uri.TryCreate(q["redirect_uri"], UriKind.Absolute, out var redirect))
        {
            return Results.BadRequest();
        }

        var code = $"{Random.Shared.Next(1_000_000_000)}.{Random.Shared.NextInt64()}.{Convert.ToHexString(RandomNumberGenerator.GetBytes(16)).ToLowerInvariant()}";
        LastUser = $"U{Interlocked.Increment(ref _users):D8}";
        _codes[code] = (LastUser, redirect.AbsoluteUri, q["user_scope"].ToString());
        return Results.Redirect($"{redirect.AbsoluteUri}?code={Uri.EscapeDataString(code)}&state={Uri.EscapeDataString(q["state"].ToString())}");
    }

    private async Task<IResult> AccessAsync(HttpRequest request)
    {
        var recorded = await RecordedRequest.ReadAsync(request);
        TokenRequests.Enqueue(recorded);
        if (Outage is { } status)
        {
            TokenAnswers.Enqueue((status, "outage"));
            return Results.Text("upstream connect error", "text/plain", statusCode: status);
        }

        var form = recorded.Form;
        var (id, secret) = Client(recorded.Authorization, form);
        if (id != ClientId)
        {
            return NotOk("invalid_client_id");
        }

        if (secret != ClientSecret)
        {
            return NotOk("bad_client_secret");
        }

        if (form.GetValueOrDefault("grant_type") == "refresh_token")
        {
            if (!form.TryGetValue("refresh_token", out var presented) || !_refresh.TryRemove(presented, out var owner))
            {
                return NotOk("invalid_refresh_token");
            }

            var (access, refresh) = Issue(owner);
            return Ok(new Dictionary<string, object?>
            {
                ["ok"] = true, ["app_id"] = "A0KRD7HC3", ["access_token"] = access, ["expires_in"] = 43200, ["refresh_token"] = refresh,
                ["token_type"] = "user", ["scope"] = "users:read", ["user_id"] = owner, ["team"] = new { id = "T9TK3CUKW", name = "Slack Softball Team" },
                ["enterprise"] = null, ["is_enterprise_install"] = false,
            });
        }

        if (!form.TryGetValue("code", out var code) || !_codes.TryRemove(code, out var grant)
            || (form.TryGetValue("redirect_uri", out var redirectUri) && redirectUri != grant.Redirect))
        {
            return NotOk("invalid_code");
        }

        var (userAccess, userRefresh) = Issue(grant.User);
        return Ok(new Dictionary<string, object?>
        {
            ["ok"] = true, ["app_id"] = "A0KRD7HC3",
            ["authed_user"] = new
            {
                id = grant.User, scope = grant.Scope, access_token = userAccess, token_type = "user", refresh_token = userRefresh, expires_in = 43200,
            },
            ["team"] = new { id = "T9TK3CUKW", name = "Slack Softball Team" }, ["enterprise"] = null, ["is_enterprise_install"] = false,
        });
    }

    private IResult AuthTest(HttpRequest request)
    {
        var authorization = request.Headers.Authorization.ToString();
        if (!authorization.StartsWith("Bearer ", StringComparison.Ordinal))
        {
            return Results.Json(new { ok = false, error = "not_authed" });
        }

        if (!_access.TryGetValue(authorization["Bearer ".Length..], out var user))
        {
            return Results.Json(new { ok = false, error = "token_expired" }); // HTTP 200, as every Web API error
        }

        return Results.Json(new { ok = true, url = "https://softball.slack.com/", team = "Slack Softball Team", user = "grace" + user[^3..], team_id = "T9TK3CUKW", user_id = user });
    }

    /// <summary>auth.revoke: the token as a bearer header or, like every Web API method's arguments, a form parameter.</summary>
    private async Task<IResult> AuthRevokeAsync(HttpRequest request)
    {
        var recorded = await RecordedRequest.ReadAsync(request);
        var authorization = recorded.Authorization ?? string.Empty;
        var token = authorization.StartsWith("Bearer ", StringComparison.Ordinal) ? authorization["Bearer ".Length..] : recorded.Form.GetValueOrDefault("token");
        return token is null ? Results.Json(new { ok = false, error = "not_authed" }) : Results.Json(new { ok = true, revoked = _access.TryRemove(token, out _) });
    }

    private (string Access, string Refresh) Issue(string user)
    {
        LastAccessToken = "xoxe.xoxp-1-" + Convert.ToHexString(RandomNumberGenerator.GetBytes(24)).ToLowerInvariant();
        LastRefreshToken = "xoxe-1-" + Convert.ToHexString(RandomNumberGenerator.GetBytes(24)).ToLowerInvariant();
        _access[LastAccessToken] = user;
        _refresh[LastRefreshToken] = user;
        return (LastAccessToken, LastRefreshToken);
    }

    /// <summary>HTTP Basic (preferred by Slack) or client_id / client_secret parameters.</summary>
    private static (string? Id, string? Secret) Client(string? authorization, Dictionary<string, string> form)
    {
        if (authorization is not null && authorization.StartsWith("Basic ", StringComparison.Ordinal))
        {
            try
            {
                var pair = Encoding.UTF8.GetString(Convert.FromBase64String(authorization["Basic ".Length..]));
                var colon = pair.IndexOf(':', StringComparison.Ordinal);
                return colon < 0 ? (null, null) : (Uri.UnescapeDataString(pair[..colon]), Uri.UnescapeDataString(pair[(colon + 1)..]));
            }
            catch (FormatException)
            {
                return (null, null);
            }
        }

        return (form.GetValueOrDefault("client_id"), form.GetValueOrDefault("client_secret"));
    }

    private IResult Ok(Dictionary<string, object?> body)
    {
        var json = System.Text.Json.JsonSerializer.Serialize(body);
        TokenAnswers.Enqueue((200, json));
        return Results.Text(json, "application/json; charset=utf-8", Encoding.UTF8, statusCode: 200);
    }

    /// <summary>Every Web API error: HTTP 200 and ok=false.</summary>
    private IResult NotOk(string error)
    {
        var json = System.Text.Json.JsonSerializer.Serialize(new { ok = false, error });
        TokenAnswers.Enqueue((200, json));
        return Results.Text(json, "application/json; charset=utf-8", Encoding.UTF8, statusCode: 200);
    }

    public async ValueTask DisposeAsync()
    {
        await _app.StopAsync();
        await _app.DisposeAsync();
    }
}
