using System.Collections.Concurrent;
using System.Security.Cryptography;
using System.Text;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.WebUtilities;

namespace Valet.Tests.Providers.Fidelity;

/// <summary>
/// Airtable's OAuth for a confidential integration and the one API call Valet makes, written from Airtable's documentation
/// (not from Valet's catalog). Each behaviour names its source:
/// <list type="bullet">
/// <item>authorize: https://airtable.com/developers/web/api/oauth-reference, "Authorization request query" — client_id,
/// redirect_uri, response_type=code, scope ("a space delimited list of unique scopes … You must request at least one scope"),
/// state, code_challenge ("the base64 url-encoding of the sha256 of the code_verifier") and code_challenge_method=S256;</item>
/// <item>token: Airtable's example integration (github.com/Airtable/oauth-example, index.js) — POST /oauth2/v1/token,
/// <c>application/x-www-form-urlencoded</c>, "Authorization is required if your integration has a client secret" (Basic
/// base64(client_id:client_secret)), "client_id is optional if authorization header provided", code_verifier, redirect_uri,
/// code, grant_type=authorization_code; the answer carries access_token, refresh_token, token_type, scope, expires_in (60
/// minutes) and refresh_expires_in (60 days);</item>
/// <item>refresh: grant_type=refresh_token; "when a refresh token is exchanged, the previous access and refresh tokens are
/// invalidated and new tokens are returned", a stale refresh token answers 400 <c>invalid_grant</c>
/// (https://www.nango.dev/blog/airtable-oauth-refresh-token-invalid-grant);</item>
/// <item>identity: GET /v0/meta/whoami → <c>{"id":"usr…","email":…,"scopes":[…]}</c> (from memory, not checked here).</item>
/// </list>
/// </summary>
internal sealed class AirtableFake : IAsyncDisposable
{
    public const string ClientId = "c3f1a2b4-7e6d-4c5b-9a8f-0e1d2c3b4a59";
    public const string ClientSecret = "at-secret-9Qv2Lx7Pk4Zr1Wm8Ns3Bt6Yh0Jd5Fg";

    /// <summary>Seconds an access token lives ("expires_in" of the reference's example answer).</summary>
    public const int AccessTokenLifetime = 3600;

    private readonly ConcurrentDictionary<string, (string Redirect, string Challenge, string User)> _codes = new(StringComparer.Ordinal);
    private readonly ConcurrentDictionary<string, string> _accessTokens = new(StringComparer.Ordinal); // token → user
    private readonly ConcurrentDictionary<string, string> _refreshTokens = new(StringComparer.Ordinal);
    private WebApplication _app = null!;
    private int _issued;
    private int _reused;
    private readonly ConcurrentDictionary<string, (string, string)> _latest = new(StringComparer.Ordinal);

    public Uri BaseUrl { get; private set; } = null!;

    public ConcurrentQueue<RecordedRequest> TokenRequests { get; } = new();

    /// <summary>The query of every authorization request, as the browser sent it.</summary>
    public ConcurrentQueue<Dictionary<string, string>> AuthorizeRequests { get; } = new();

    /// <summary>When set, the token endpoint answers this status with an empty body instead (an outage).</summary>
    public int? Outage { get; set; }

    /// <summary>The person who approved the last authorization (each approval is a new person).</summary>
    public string? LastUser { get; private set; }

    /// <summary>The tokens last issued to this person (at the code exchange or the latest refresh).</summary>
    public (string AccessToken, string RefreshToken) Latest(string user) => _latest[user];

    /// <summary>Refresh tokens presented after they were spent (rotation makes them invalid).</summary>
    public int ReusedRefreshTokens => Volatile.Read(ref _reused);

    public static async Task<AirtableFake> StartAsync()
    {
        var fake = new AirtableFake();
        fake._app = await FakeHost.StartAsync(app =>
        {
            app.MapGet("/oauth2/v1/authorize", fake.Authorize);
            app.MapPost("/oauth2/v1/token", fake.TokenAsync);
            app.MapGet("/v0/meta/whoami", fake.WhoAmI);
        });
        fake.BaseUrl = FakeHost.BaseUrl(fake._app);
        return fake;
    }

    /// <summary>This person's access tokens stop working (their 60 minutes are over); the refresh token still works.</summary>
    public void ExpireAccessTokens(string user) => Remove(_accessTokens, user);

    /// <summary>This person revoked the integration: their access and refresh tokens are dead.</summary>
    public void RevokeGrant(string user)
    {
        Remove(_accessTokens, user);
        Remove(_refreshTokens, user);
    }

    private static void Remove(ConcurrentDictionary<string, string> tokens, string user)
    {
        foreach (var (token, owner) in tokens)
        {
            if (owner == user)
            {
                tokens.TryRemove(token, out _);
            }
        }
    }

    private IResult Authorize(HttpRequest request)
    {
        var query = request.Query.ToDictionary(p => p.Key, p => p.Value.ToString(), StringComparer.Ordinal);
        AuthorizeRequests.Enqueue(query);
        if (query.GetValueOrDefault("client_id") != ClientId || query.GetValueOrDefault("response_type") != "code"
            || string.IsNullOrWhiteSpace(query.GetValueOrDefault("scope")) || string.IsNullOrEmpty(query.GetValueOrDefault("state"))
            || query.GetValueOrDefault("code_challenge_method") != "S256" || query.GetValueOrDefault("code_challenge") is not { Length: 43 } challenge
            || !Uri.TryCreate(query.GetValueOrDefault("redirect_uri"), UriKind.Absolute, out var redirect))
        {
            return Results.BadRequest();
        }

        var code = "code-" + Guid.NewGuid().ToString("N");
        LastUser = "usr" + Guid.NewGuid().ToString("N")[..14];
        _codes[code] = (redirect.AbsoluteUri, challenge, LastUser);
        return Results.Redirect($"{redirect.AbsoluteUri}?code={code}&state={Uri.EscapeDataString(query["state"])}");
    }

    private async Task<IResult> TokenAsync(HttpRequest request)
    {
        var recorded = await RecordedRequest.ReadAsync(request);
        TokenRequests.Enqueue(recorded);
        if (Outage is { } status)
        {
            return Results.StatusCode(status);
        }

        // Form-encoded only, and a confidential integration authenticates with Basic (the secret never in the body).
        var form = recorded.Form;
        if (!recorded.ContentType.StartsWith("application/x-www-form-urlencoded", StringComparison.Ordinal))
        {
            return Error(400, "invalid_request");
        }

        if (!ValidBasic(recorded.Authorization) || form.ContainsKey("client_secret")
            || (form.TryGetValue("client_id", out var bodyId) && bodyId != ClientId))
        {
            return Error(401, "invalid_client");
        }

        switch (form.GetValueOrDefault("grant_type"))
        {
            case "authorization_code":
                if (form.GetValueOrDefault("code") is not { } code || !_codes.TryRemove(code, out var grant)
                    || form.GetValueOrDefault("redirect_uri") != grant.Redirect
                    || form.GetValueOrDefault("code_verifier") is not { } verifier || Challenge(verifier) != grant.Challenge)
                {
                    return Error(400, "invalid_grant");
                }

                return Results.Json(Issue(grant.User));
            case "refresh_token":
                if (form.GetValueOrDefault("refresh_token") is not { } refresh || !_refreshTokens.TryRemove(refresh, out var user))
                {
                    if (form.GetValueOrDefault("refresh_token") is { } spent && spent.StartsWith("art_refresh_", StringComparison.Ordinal))
                    {
                        Interlocked.Increment(ref _reused);
                    }

                    return Error(400, "invalid_grant");
                }

                // Rotation: the previous access token dies with the refresh token that was spent.
                Remove(_accessTokens, user);

                return Results.Json(Issue(user));
            default:
                return Error(400, "unsupported_grant_type");
        }
    }

    private IResult WhoAmI(HttpRequest request)
    {
        var authorization = request.Headers.Authorization.ToString();
        if (!authorization.StartsWith("Bearer ", StringComparison.Ordinal) || !_accessTokens.TryGetValue(authorization["Bearer ".Length..], out var user))
        {
            return Results.Json(new { error = new { type = "AUTHENTICATION_REQUIRED", message = "Authentication required" } }, statusCode: 401);
        }

        return Results.Json(new { id = user, email = "ada@example.com", scopes = new[] { "user.email:read" } });
    }

    private object Issue(string user)
    {
        var n = Interlocked.Increment(ref _issued);
        var access = $"art_access_{n}_{Guid.NewGuid():N}";
        var refresh = $"art_refresh_{n}_{Guid.NewGuid():N}";
        _accessTokens[access] = user;
        _refreshTokens[refresh] = user;
        _latest[user] = (access, refresh);
        return new
        {
            access_token = access,
            refresh_token = refresh,
            token_type = "Bearer",
            scope = "user.email:read",
            expires_in = AccessTokenLifetime,
            refresh_expires_in = 5_184_000,
        };
    }

    private static string Challenge(string verifier) => WebEncoders.Base64UrlEncode(SHA256.HashData(Encoding.ASCII.GetBytes(verifier)));

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

    /// <summary>RFC 6749 §5.2 errors, as Airtable's token endpoint answers them.</summary>
    private static IResult Error(int status, string code) =>
        Results.Json(new { error = code, error_description = "fake " + code }, statusCode: status);

    public async ValueTask DisposeAsync()
    {
        await _app.StopAsync();
        await _app.DisposeAsync();
    }
}
