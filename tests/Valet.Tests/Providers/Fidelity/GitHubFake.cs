using System.Collections.Concurrent;
using System.Net;
using System.Security.Cryptography;
using System.Text;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.WebUtilities;

namespace Valet.Tests.Providers.Fidelity;

/// <summary>
/// github.com's web application flow for a GitHub App with expiring user access tokens, written from GitHub's documentation
/// (not from Valet's catalog). Each behaviour names its page:
/// <list type="bullet">
/// <item>authorize: "Authorizing OAuth apps" / "Generating a user access token for a GitHub App" — GET /login/oauth/authorize with
/// client_id, redirect_uri, scope, state (and PKCE code_challenge, S256); GitHub redirects back with code and state;</item>
/// <item>token: POST /login/oauth/access_token with client_id, client_secret, code, redirect_uri (code_verifier); "By default, the
/// response takes the following form" — form-encoded <c>access_token=…&amp;scope=…&amp;token_type=bearer</c> — "You can also receive
/// the response in different formats if you provide the format in the Accept header" (application/json);</item>
/// <item>expiry: https://docs.github.com/en/apps/creating-github-apps/authenticating-with-a-github-app/refreshing-user-access-tokens —
/// the answer carries <c>expires_in</c> (always 28800), <c>refresh_token</c> (ghr_…) and <c>refresh_token_expires_in</c>; a refresh is
/// POST /login/oauth/access_token with client_id, client_secret, grant_type=refresh_token, refresh_token; "Once you use a refresh
/// token, that refresh token and the old user access token will no longer work";</item>
/// <item>errors: https://docs.github.com/en/apps/oauth-apps/maintaining-oauth-apps/troubleshooting-oauth-app-access-token-request-errors —
/// <c>incorrect_client_credentials</c>, <c>redirect_uri_mismatch</c>, <c>bad_verification_code</c> ("The code passed is incorrect or
/// expired"), in the format the Accept header asks for. That they come with HTTP 200 is not stated on that page; it is what
/// github.com answers (from memory, not checked here), as is <c>bad_refresh_token</c> for a spent or unknown refresh token;</item>
/// <item>identity: GET https://api.github.com/user → id, login, email; 401 <c>{"message":"Bad credentials"}</c> for a dead token.</item>
/// </list>
/// </summary>
internal sealed class GitHubFake : IAsyncDisposable
{
    public const string ClientId = "Iv23liValetFidelity01";
    public const string ClientSecret = "0123456789abcdef0123456789abcdef01234567";

    private readonly ConcurrentDictionary<string, Grant> _codes = new(StringComparer.Ordinal);
    private readonly ConcurrentDictionary<string, long> _access = new(StringComparer.Ordinal);
    private readonly ConcurrentDictionary<string, long> _refresh = new(StringComparer.Ordinal);
    private WebApplication _app = null!;
    private long _users = 583231;

    public Uri BaseUrl { get; private set; } = null!;

    /// <summary>Every token-endpoint request with the Accept header it came with.</summary>
    public ConcurrentQueue<(RecordedRequest Request, string Accept)> TokenRequests { get; } = new();

    /// <summary>What each token-endpoint answer was: status and body as sent.</summary>
    public ConcurrentQueue<(int Status, string ContentType, string Body)> TokenAnswers { get; } = new();

    /// <summary>When set, the token endpoint answers this HTTP status with GitHub's unicorn page (an outage).</summary>
    public int? Outage { get; set; }

    public long LastUser => Interlocked.Read(ref _users);

    public string? LastAccessToken { get; private set; }

    public string? LastRefreshToken { get; private set; }

    public static async Task<GitHubFake> StartAsync()
    {
        var fake = new GitHubFake();
        fake._app = await FakeHost.StartAsync(app =>
        {
            app.MapGet("/login/oauth/authorize", fake.Authorize);
            app.MapPost("/login/oauth/access_token", fake.AccessTokenAsync);
            app.MapGet("/user", fake.User);
        });
        fake.BaseUrl = FakeHost.BaseUrl(fake._app);
        return fake;
    }

    /// <summary>The eight hours pass: every user access token stops working.</summary>
    public void ExpireAccessTokens() => _access.Clear();

    /// <summary>The person revoked the app (or six months passed): every refresh token is dead.</summary>
    public void RevokeGrant()
    {
        _access.Clear();
        _refresh.Clear();
    }

    private IResult Authorize(HttpRequest request)
    {
        var q = request.Query;
        if (q["client_id"] != ClientId || !Uri.TryCreate(q["redirect_uri"], UriKind.Absolute, out var redirect) || string.IsNullOrEmpty(q["state"]))
        {
            return Results.BadRequest();
        }

        var code = Convert.ToHexString(RandomNumberGenerator.GetBytes(10)).ToLowerInvariant();
        _codes[code] = new Grant(Interlocked.Increment(ref _users), redirect.AbsoluteUri, q["code_challenge"].ToString(), q["scope"].ToString());
        return Results.Redirect($"{redirect.AbsoluteUri}?code={code}&state={Uri.EscapeDataString(q["state"].ToString())}");
    }

    private async Task<IResult> AccessTokenAsync(HttpRequest request)
    {
        var recorded = await RecordedRequest.ReadAsync(request);
        var accept = request.Headers.Accept.ToString();
        TokenRequests.Enqueue((recorded, accept));
        var json = accept.Contains("application/json", StringComparison.OrdinalIgnoreCase);
        if (Outage is { } status)
        {
            TokenAnswers.Enqueue((status, "text/html", "unicorn"));
            return Results.Content("<html><body>Unicorn! This page is taking too long to load.</body></html>", "text/html", statusCode: status);
        }

        var form = recorded.Form;
        if (form.GetValueOrDefault("client_id") != ClientId || form.GetValueOrDefault("client_secret") != ClientSecret)
        {
            return Answer(json, Error("incorrect_client_credentials", "The client_id and/or client_secret passed are incorrect."));
        }

        if (form.GetValueOrDefault("grant_type") == "refresh_token")
        {
            // A refresh token is good once; the old user access token dies with it.
            if (!form.TryGetValue("refresh_token", out var presented) || !_refresh.TryRemove(presented, out var owner))
            {
                return Answer(json, Error("bad_refresh_token", "The refresh token passed is incorrect or expired."));
            }

            foreach (var old in _access.Where(a => a.Value == owner).Select(a => a.Key).ToList())
            {
                _access.TryRemove(old, out _);
            }

            return Answer(json, Issue(owner, "read:user,user:email"));
        }

        if (!form.TryGetValue("code", out var code) || !_codes.TryRemove(code, out var grant)
            || (grant.Challenge.Length > 0 && Pkce(form.GetValueOrDefault("code_verifier")) != grant.Challenge))
        {
            return Answer(json, Error("bad_verification_code", "The code passed is incorrect or expired."));
        }

        if (form.TryGetValue("redirect_uri", out var redirectUri) && redirectUri != grant.Redirect)
        {
            return Answer(json, Error("redirect_uri_mismatch", "The redirect_uri MUST match the registered callback URL for this application."));
        }

        return Answer(json, Issue(grant.User, grant.Scope.Replace(' ', ',')));
    }

    private IResult User(HttpRequest request)
    {
        var authorization = request.Headers.Authorization.ToString();
        var token = authorization.StartsWith("Bearer ", StringComparison.Ordinal) ? authorization["Bearer ".Length..]
            : authorization.StartsWith("token ", StringComparison.Ordinal) ? authorization["token ".Length..] : null;
        if (token is null || !_access.TryGetValue(token, out var user))
        {
            return Results.Json(new { message = "Bad credentials", documentation_url = "https://docs.github.com/rest", status = "401" }, statusCode: 401);
        }

        return Results.Json(new { login = $"octocat{user}", id = user, type = "User", name = "The Octocat", email = $"octocat{user}@github.example" });
    }

    private List<KeyValuePair<string, string>> Issue(long user, string scope)
    {
        LastAccessToken = "ghu_" + Convert.ToHexString(RandomNumberGenerator.GetBytes(18)).ToLowerInvariant();
        LastRefreshToken = "ghr_" + Convert.ToHexString(RandomNumberGenerator.GetBytes(36)).ToLowerInvariant();
        _access[LastAccessToken] = user;
        _refresh[LastRefreshToken] = user;
        return
        [
            new("access_token", LastAccessToken),
            new("expires_in", "28800"),
            new("refresh_token", LastRefreshToken),
            new("refresh_token_expires_in", "15811200"),
            new("scope", scope),
            new("token_type", "bearer"),
        ];
    }

    private static List<KeyValuePair<string, string>> Error(string error, string description) =>
    [
        new("error", error),
        new("error_description", description),
        new("error_uri", "https://docs.github.com/apps/managing-oauth-apps/troubleshooting-oauth-app-access-token-request-errors/#" + error.Replace('_', '-')),
    ];

    /// <summary>HTTP 200 whatever the outcome; JSON when the Accept header asks for it, form-encoded otherwise.</summary>
    private IResult Answer(bool json, List<KeyValuePair<string, string>> members)
    {
        string body;
        string contentType;
        if (json)
        {
            // Numbers are numbers in GitHub's JSON answer.
            body = "{" + string.Join(',', members.Select(m => $"\"{m.Key}\":" + (long.TryParse(m.Value, out _) ? m.Value : $"\"{m.Value}\""))) + "}";
            contentType = "application/json; charset=utf-8";
        }
        else
        {
            body = string.Join('&', members.Select(m => $"{WebUtility.UrlEncode(m.Key)}={WebUtility.UrlEncode(m.Value)}"));
            contentType = "application/x-www-form-urlencoded; charset=utf-8";
        }

        TokenAnswers.Enqueue((200, contentType, body));
        return Results.Text(body, contentType, Encoding.UTF8, statusCode: 200);
    }

    private static string? Pkce(string? verifier) =>
        verifier is null ? null : WebEncoders.Base64UrlEncode(SHA256.HashData(Encoding.ASCII.GetBytes(verifier)));

    public async ValueTask DisposeAsync()
    {
        await _app.StopAsync();
        await _app.DisposeAsync();
    }

    private sealed record Grant(long User, string Redirect, string Challenge, string Scope);
}
