using System.Collections.Concurrent;
using System.Net;
using System.Security.Cryptography;
using System.Text;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;
using Valet.Core.Domain;
using Valet.Server.Flows;

namespace Valet.Server.Demo;

/// <summary>
/// A small but real OAuth 2.0 authorization server (code + PKCE S256, refresh-token rotation, RFC 7009 revocation,
/// user-info) so <c>valet demo</c> can show connect → token on a machine with no internet and no OAuth app anywhere.
/// It is on only when <c>VALET_DEMO=true</c> (what <c>valet demo</c> sets), lives under <c>/demo-oauth</c>, keeps its
/// grants in memory, and labels every page as a demo.
/// </summary>
internal static class DemoAuthorizationServer
{
    public const string ProviderId = "demo";

    /// <summary>Where the demo's authorization server lives on Valet's own host.</summary>
    public const string Root = "/demo-oauth";

    /// <summary>The demo provider's API (one route, <c>/me</c>), also on Valet's own host.</summary>
    public const string ApiRoot = "/demo-api";

    public const string ClientId = "valet-demo-client";
    public static readonly TimeSpan AccessTokenLifetime = TimeSpan.FromMinutes(10);

    /// <summary>The demo's own routes, which check the demo's access tokens themselves (not Valet keys).</summary>
    public static bool Owns(PathString path) =>
        path.StartsWithSegments(Root, StringComparison.Ordinal) || path.StartsWithSegments(ApiRoot, StringComparison.Ordinal);

    private sealed record PendingCode(string ClientId, string RedirectUri, string Challenge, string Scope, string User, DateTimeOffset Expires);

    private sealed record Grant(string User, string Scope);

    private static readonly ConcurrentDictionary<string, PendingCode> Codes = new(StringComparer.Ordinal);
    private static readonly ConcurrentDictionary<string, Grant> AccessTokens = new(StringComparer.Ordinal);
    private static readonly ConcurrentDictionary<string, Grant> RefreshTokens = new(StringComparer.Ordinal);

    /// <summary>Configuration that registers the demo provider in the catalog, pointing at this server.</summary>
    public static Dictionary<string, string?> ProviderConfiguration(string baseUrl, string clientSecret) => new()
    {
        ["DEMO"] = "true",
        ["DEMO_CLIENT_SECRET"] = clientSecret,
        ["Providers:demo:DisplayName"] = "Valet demo provider (local, not a real service)",
        ["Providers:demo:AuthorizationEndpoint"] = baseUrl + Root + "/authorize",
        ["Providers:demo:TokenEndpoint"] = baseUrl + Root + "/token",
        ["Providers:demo:RevocationEndpoint"] = baseUrl + Root + "/revoke",
        ["Providers:demo:UserInfoEndpoint"] = baseUrl + Root + "/userinfo",
        ["Providers:demo:ApiBaseUrl"] = baseUrl + ApiRoot,
        ["Providers:demo:Scopes"] = "profile notes.read",
        ["Providers:demo:ClientId"] = ClientId,
        ["Providers:demo:ClientSecret"] = clientSecret,
        ["Providers:demo:AllowPrivateNetwork"] = "true",
    };

    public static void MapDemoAuthorizationServer(this IEndpointRouteBuilder routes, string clientSecret)
    {
        var group = routes.MapGroup(Root).AllowAnonymous().ExcludeFromDescription();
        group.MapGet("/authorize", Authorize);
        group.MapPost("/decide", (HttpRequest request) => Decide(request.HttpContext)).DisableAntiforgery();
        group.MapPost("/token", (HttpRequest request) => Token(request.HttpContext, clientSecret)).DisableAntiforgery();
        group.MapPost("/revoke", (HttpRequest request) => Revoke(request.HttpContext)).DisableAntiforgery();
        group.MapGet("/userinfo", (HttpContext context) => UserInfo(context));
        routes.MapGet(ApiRoot + "/me", (HttpContext context) => UserInfo(context)).AllowAnonymous().ExcludeFromDescription();
    }

    private static async Task Authorize(HttpContext context)
    {
        var q = context.Request.Query;
        if (q["client_id"] != ClientId || q["response_type"] != "code" || q["code_challenge_method"] != "S256" ||
            string.IsNullOrEmpty(q["code_challenge"]) || string.IsNullOrEmpty(q["redirect_uri"]) || string.IsNullOrEmpty(q["state"]))
        {
            context.Response.StatusCode = StatusCodes.Status400BadRequest;
            await CallbackPage.WriteHtmlAsync(context.Response, "Demo provider: bad request",
                "The authorization request is missing client_id, response_type=code, PKCE S256, redirect_uri or state.", false, "invalid_request");
            return;
        }

        CallbackPage.ApplySecurityHeaders(context.Response);
        var hidden = string.Concat(new[] { "redirect_uri", "state", "code_challenge", "scope" }
            .Select(k => $"<input type=\"hidden\" name=\"{k}\" value=\"{WebUtility.HtmlEncode(q[k].ToString())}\">"));
        var form = $"""
            <form method="post" action="/demo-oauth/decide">{hidden}
            <div class="field"><label for="demo-user">Demo account name</label><input type="text" id="demo-user" name="user" value="demo-user" maxlength="40"></div>
            <p>Valet asks for: {string.Concat(q["scope"].ToString().Split(' ', StringSplitOptions.RemoveEmptyEntries).Select(s => $"<span class=\"chip\">{WebUtility.HtmlEncode(s)}</span> "))}</p>
            <div class="actions"><button name="decision" value="allow" id="allow" class="primary">Allow</button> <button name="decision" value="deny" id="deny">Deny</button></div></form>
            """;
        await CallbackPage.WriteHtmlAsync(context.Response, "Demo provider — consent",
            "This is Valet's built-in DEMO authorization server, running inside your local Valet. It is not a real service.", null, null, form);
    }

    /// <summary>The posted form; a body that is not one is answered 400 by ErrorHandling (the InvalidDataException), not 500.</summary>
    private static async Task<IFormCollection> FormAsync(HttpContext context) =>
        context.Request.HasFormContentType && await Dashboard.SignInEndpoints.ReadFormOrNullAsync(context) is { } form
            ? form
            : throw new InvalidDataException("Expected a readable form body.");

    private static async Task<IResult> Decide(HttpContext context)
    {
        var form = await FormAsync(context);
        var redirect = form["redirect_uri"].ToString();
        var local = Uri.TryCreate(redirect, UriKind.Absolute, out var redirectUri) &&
            (redirectUri.IsLoopback || string.Equals(redirectUri.Host, context.Request.Host.Host, StringComparison.OrdinalIgnoreCase));
        if (!local)
        {
            return Results.BadRequest("redirect_uri must be local");
        }

        var state = Uri.EscapeDataString(form["state"].ToString());
        var separator = redirect.Contains('?', StringComparison.Ordinal) ? '&' : '?';
        if (form["decision"] != "allow")
        {
            return Results.Redirect($"{redirect}{separator}error=access_denied&state={state}");
        }

        var code = Ids.RandomToken(24);
        var user = string.IsNullOrWhiteSpace(form["user"]) ? "demo-user" : form["user"].ToString().Trim();
        Codes[code] = new PendingCode(ClientId, redirect, form["code_challenge"].ToString(), form["scope"].ToString(), user[..Math.Min(40, user.Length)],
            DateTimeOffset.UtcNow.AddMinutes(2));
        return Results.Redirect($"{redirect}{separator}code={Uri.EscapeDataString(code)}&state={state}");
    }

    private static async Task<IResult> Token(HttpContext context, string clientSecret)
    {
        var form = await FormAsync(context);
        if (form["client_id"] != ClientId || !FixedEquals(form["client_secret"].ToString(), clientSecret))
        {
            return Error("invalid_client", StatusCodes.Status401Unauthorized);
        }

        Grant grant;
        if (form["grant_type"] == "authorization_code")
        {
            if (!Codes.TryRemove(form["code"].ToString(), out var pending) || pending.Expires < DateTimeOffset.UtcNow ||
                pending.RedirectUri != form["redirect_uri"] ||
                pending.Challenge != Base64Url(SHA256.HashData(Encoding.ASCII.GetBytes(form["code_verifier"].ToString()))))
            {
                return Error("invalid_grant");
            }

            grant = new Grant(pending.User, pending.Scope);
        }
        else if (form["grant_type"] == "refresh_token")
        {
            // Rotation: the presented refresh token is spent.
            if (!RefreshTokens.TryRemove(form["refresh_token"].ToString(), out var previous))
            {
                return Error("invalid_grant");
            }

            grant = previous;
        }
        else
        {
            return Error("unsupported_grant_type");
        }

        var access = "demo_at_" + Ids.RandomToken(24);
        var refresh = "demo_rt_" + Ids.RandomToken(24);
        AccessTokens[access] = grant;
        RefreshTokens[refresh] = grant;
        return Results.Json(new Dictionary<string, object>
        {
            ["access_token"] = access,
            ["refresh_token"] = refresh,
            ["token_type"] = "Bearer",
            ["expires_in"] = (int)AccessTokenLifetime.TotalSeconds,
            ["scope"] = grant.Scope,
        });
    }

    private static async Task<IResult> Revoke(HttpContext context)
    {
        var form = await FormAsync(context);
        var token = form["token"].ToString();
        if (RefreshTokens.TryRemove(token, out var grant))
        {
            foreach (var (access, value) in AccessTokens)
            {
                if (ReferenceEquals(value, grant))
                {
                    AccessTokens.TryRemove(access, out _);
                }
            }
        }

        AccessTokens.TryRemove(token, out _);
        return Results.Ok();
    }

    private static IResult UserInfo(HttpContext context)
    {
        var header = context.Request.Headers.Authorization.ToString();
        if (!header.StartsWith("Bearer ", StringComparison.Ordinal) || !AccessTokens.TryGetValue(header[7..], out var grant))
        {
            return Results.Json(new { error = "invalid_token" }, statusCode: StatusCodes.Status401Unauthorized);
        }

        return Results.Json(new { sub = grant.User, preferred_username = grant.User, email = grant.User + "@demo.invalid", scope = grant.Scope });
    }

    private static IResult Error(string code, int status = StatusCodes.Status400BadRequest) => Results.Json(new { error = code }, statusCode: status);

    private static bool FixedEquals(string a, string b) =>
        CryptographicOperations.FixedTimeEquals(SHA256.HashData(Encoding.UTF8.GetBytes(a)), SHA256.HashData(Encoding.UTF8.GetBytes(b)));

    private static string Base64Url(byte[] bytes) => System.Buffers.Text.Base64Url.EncodeToString(bytes);
}
