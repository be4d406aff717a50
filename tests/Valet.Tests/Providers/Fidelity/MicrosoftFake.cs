using System.Collections.Concurrent;
using System.Security.Cryptography;
using System.Text;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.WebUtilities;

namespace Valet.Tests.Providers.Fidelity;

/// <summary>
/// The Microsoft identity platform (v2 endpoints) and the Graph calls Valet makes, written from Microsoft's
/// documentation (MicrosoftDocs/entra-docs), not from Valet's catalog:
/// <list type="bullet">
/// <item>authorize and token: "Microsoft identity platform and OAuth 2.0 authorization code flow"
/// (https://learn.microsoft.com/entra/identity-platform/v2-oauth2-auth-code-flow) — <c>/{tenant}/oauth2/v2.0/authorize</c>
/// and <c>/{tenant}/oauth2/v2.0/token</c>, {tenant} one of common, organizations, consumers or a tenant id; a
/// form-encoded POST with client_id, client_secret, code, redirect_uri, code_verifier (PKCE, RFC 7636); the answer
/// token_type Bearer, expires_in, scope, refresh_token (only with offline_access); "Refresh tokens aren't revoked when
/// used to acquire new access tokens";</item>
/// <item>errors: the same page ("Error response") and "Microsoft Entra authentication and authorization error codes"
/// (https://learn.microsoft.com/entra/identity-platform/reference-error-codes) — <c>error</c>, <c>error_description</c>
/// ("AADSTSnnnnn: …"), <c>error_codes</c> [nnnnn], timestamp, trace_id, correlation_id, error_uri;</item>
/// <item>Graph: "Use the access token" (GET https://graph.microsoft.com/v1.0/me/messages with the bearer token) and the
/// user resource (GET /v1.0/me → id, userPrincipalName, mail); Graph's error body <c>{"error":{"code":…,"message":…}}</c>.
/// Each call needs its delegated permission in the token ("Get user": User.Read; "List messages": Mail.Read), else 403
/// <c>Authorization_RequestDenied</c>.</item>
/// </list>
/// National clouds use the same paths on other hosts (https://learn.microsoft.com/entra/identity-platform/authentication-national-cloud),
/// so one fake, reached at an overridden host, serves for them too.
/// </summary>
internal sealed class MicrosoftFake : IAsyncDisposable
{
    public const string ClientId = "00001111-aaaa-2222-bbbb-3333cccc4444";
    public const string ClientSecret = "sampleCredentia1s~with.url-encoding+needed";

    private readonly ConcurrentDictionary<string, Grant> _codes = new(StringComparer.Ordinal);
    private readonly ConcurrentDictionary<string, (string User, string[] Scopes)> _accessTokens = new(StringComparer.Ordinal);
    private readonly ConcurrentDictionary<string, (string User, string[] Scopes)> _refreshTokens = new(StringComparer.Ordinal);
    private readonly ConcurrentDictionary<string, (string Error, long[] Codes)> _interrupts = new(StringComparer.Ordinal);
    private WebApplication _app = null!;

    public Uri BaseUrl { get; private set; } = null!;

    /// <summary>The tenant segment of every authorize and token request received.</summary>
    public ConcurrentQueue<string> Tenants { get; } = new();

    public ConcurrentQueue<RecordedRequest> TokenRequests { get; } = new();

    /// <summary>Graph paths (with query) called, and the bearer token each carried.</summary>
    public ConcurrentQueue<(string Path, string? Bearer)> GraphCalls { get; } = new();

    public string? LastUser { get; private set; }

    public string? LastAccessToken { get; private set; }

    public static async Task<MicrosoftFake> StartAsync()
    {
        var fake = new MicrosoftFake();
        fake._app = await FakeHost.StartAsync(app =>
        {
            app.MapGet("/{tenant}/oauth2/v2.0/authorize", fake.Authorize);
            app.MapPost("/{tenant}/oauth2/v2.0/token", fake.TokenAsync);
            app.MapGet("/v1.0/{**rest}", fake.Graph);
        });
        fake.BaseUrl = FakeHost.BaseUrl(fake._app);
        return fake;
    }

    /// <summary>
    /// From now on every refresh for <paramref name="user"/> fails as Entra answers when a person must act: an admin turned
    /// on MFA (50076), consent was withdrawn (65001), a Conditional Access policy blocks (53003)…
    /// </summary>
    public void Interrupt(string user, string error, params long[] codes) => _interrupts[user] = (error, codes);

    public void ExpireAccessTokens() => _accessTokens.Clear();

    private IResult Authorize(string tenant, HttpRequest request)
    {
        Tenants.Enqueue(tenant);
        var q = request.Query;
        if (q["client_id"] != ClientId || q["response_type"] != "code" || q["code_challenge_method"] != "S256"
            || string.IsNullOrEmpty(q["code_challenge"]) || !Uri.TryCreate(q["redirect_uri"], UriKind.Absolute, out var redirect))
        {
            return Results.BadRequest();
        }

        LastUser = "user-" + Guid.NewGuid().ToString("N");
        var code = "OAAABAAAAiL9Kn2Z27Uubv-" + Guid.NewGuid().ToString("N");
        var scopes = q["scope"].ToString().Split(' ', StringSplitOptions.RemoveEmptyEntries);
        _codes[code] = new Grant(LastUser, redirect.AbsoluteUri, q["code_challenge"].ToString(), scopes);
        return Results.Redirect($"{redirect.AbsoluteUri}?code={code}&state={Uri.EscapeDataString(q["state"].ToString())}&session_state=fake");
    }

    private async Task<IResult> TokenAsync(string tenant, HttpRequest request)
    {
        Tenants.Enqueue(tenant);
        var recorded = await RecordedRequest.ReadAsync(request);
        TokenRequests.Enqueue(recorded);
        if (!recorded.ContentType.StartsWith("application/x-www-form-urlencoded", StringComparison.Ordinal))
        {
            return Error("invalid_request", 900144); // the form body could not be read: "must contain the 'grant_type' parameter"
        }

        var form = recorded.Form;
        if (form.GetValueOrDefault("client_id") != ClientId || form.GetValueOrDefault("client_secret") != ClientSecret)
        {
            return Error("invalid_client", 7000215, status: 401); // AADSTS7000215: invalid client secret provided
        }

        switch (form.GetValueOrDefault("grant_type"))
        {
            case "authorization_code":
                if (form.GetValueOrDefault("code") is not { } code || !_codes.TryRemove(code, out var grant)
                    || form.GetValueOrDefault("redirect_uri") != grant.Redirect)
                {
                    return Error("invalid_grant", 70000);
                }

                if (Pkce(form.GetValueOrDefault("code_verifier")) != grant.Challenge)
                {
                    return Error("invalid_grant", 501481); // "The Code_Verifier doesn't match the code_challenge"
                }

                return Results.Json(Issue(grant.User, grant.Scopes));
            case "refresh_token":
                if (form.GetValueOrDefault("refresh_token") is not { } refresh || !_refreshTokens.TryGetValue(refresh, out var held))
                {
                    return Error("invalid_grant", 70008); // ExpiredOrRevokedGrant
                }

                if (_interrupts.TryGetValue(held.User, out var interrupt))
                {
                    return Error(interrupt.Error, interrupt.Codes);
                }

                return Results.Json(Issue(held.User, held.Scopes));
            default:
                return Error("unsupported_grant_type", 70003);
        }
    }

    private IResult Graph(HttpRequest request)
    {
        var authorization = request.Headers.Authorization.ToString();
        var bearer = authorization.StartsWith("Bearer ", StringComparison.Ordinal) ? authorization["Bearer ".Length..] : null;
        GraphCalls.Enqueue((request.Path + request.QueryString, bearer));
        if (bearer is null || !_accessTokens.TryGetValue(bearer, out var held))
        {
            return Results.Json(new { error = new { code = "InvalidAuthenticationToken", message = "Access token is empty or invalid." } }, statusCode: 401);
        }

        var (user, scopes) = held;
        var needs = request.Path.Value switch { "/v1.0/me" => "User.Read", "/v1.0/me/messages" => "Mail.Read", _ => null };
        if (needs is not null && !scopes.Contains(needs, StringComparer.OrdinalIgnoreCase))
        {
            return Results.Json(new { error = new { code = "Authorization_RequestDenied", message = "Insufficient privileges to complete the operation." } }, statusCode: 403);
        }

        return request.Path.Value switch
        {
            "/v1.0/me" => Results.Json(new { id = user, userPrincipalName = user + "@contoso.example", mail = user + "@contoso.example", displayName = "Adele Vance" }),
            "/v1.0/me/messages" => Results.Json(new { value = new[] { new { id = "AAMkAGI2", subject = "Quarterly report" } } }),
            _ => Results.Json(new { error = new { code = "ResourceNotFound", message = "Resource not found." } }, statusCode: 404),
        };
    }

    private object Issue(string user, string[] scopes)
    {
        LastAccessToken = "eyJ0eXAiOiJKV1Q." + Guid.NewGuid().ToString("N");
        _accessTokens[LastAccessToken] = (user, scopes);
        var refresh = scopes.Contains("offline_access") ? "AwABAAAAvPM1KaPlrEqdFSBzjqfTG-" + Guid.NewGuid().ToString("N") : null;
        if (refresh is not null)
        {
            _refreshTokens[refresh] = (user, scopes); // earlier refresh tokens stay valid: Entra does not revoke them on use
        }

        return new { access_token = LastAccessToken, token_type = "Bearer", expires_in = 3599, scope = string.Join(' ', scopes), refresh_token = refresh };
    }

    private static IResult Error(string error, long code, int status = 400) => Error(error, [code], status);

    private static IResult Error(string error, long[] codes, int status = 400)
    {
        var first = codes.Length > 0 ? codes[0] : 0;
        return Results.Json(new
        {
            error,
            error_description = $"AADSTS{first}: fake description.\r\nTrace ID: 0000aaaa-11bb-cccc-dd22-eeeeee333333\r\nTimestamp: 2016-01-09 02:02:12Z",
            error_codes = codes,
            timestamp = "2016-01-09 02:02:12Z",
            trace_id = "0000aaaa-11bb-cccc-dd22-eeeeee333333",
            correlation_id = "aaaa0000-bb11-2222-33cc-444444dddddd",
            error_uri = $"https://login.microsoftonline.com/error?code={first}",
        }, statusCode: status);
    }

    private static string? Pkce(string? verifier) =>
        verifier is null ? null : WebEncoders.Base64UrlEncode(SHA256.HashData(Encoding.ASCII.GetBytes(verifier)));

    public async ValueTask DisposeAsync()
    {
        await _app.StopAsync();
        await _app.DisposeAsync();
    }

    private sealed record Grant(string User, string Redirect, string Challenge, string[] Scopes);
}
