using System.Security.Claims;
using System.Security.Cryptography;
using Microsoft.AspNetCore.Authentication;
using Microsoft.AspNetCore.Authentication.Cookies;
using Microsoft.AspNetCore.Http;
using Valet.Core.Stores;
using Valet.Server.Auth;
using Valet.Server.Http;

namespace Valet.Server.Dashboard;

internal sealed record OperatorSession(string Id, string OrgId, string Operator, DateTimeOffset Since, string? Provider = null,
    string? AccountLogin = null, string? BaseUrl = null);

/// <summary>How an operator signed in through a provider: the account, and the provider's API base URL.</summary>
internal sealed record ProviderSignInIdentity(string Provider, string Operator, string? AccountLogin, string? BaseUrl);

/// <summary>
/// Dashboard sessions: ASP.NET Core cookie authentication (<see cref="ValetClaims.SessionScheme"/>), the ticket encrypted
/// by Data Protection with its keys in Valet's database. The cookie carries a session id, the org, the operator, and
/// which operator token it was issued for (its kind and a fingerprint). A session is valid while its row exists in
/// <c>sessions</c> (sign-out deletes it, for every node at once) and while that token is still the one this server
/// accepts (a changed <c>VALET_ADMIN_TOKEN</c> ends every session issued for the old one).
/// </summary>
internal sealed class OperatorSessions(ISessionStore store, OperatorTokens tokens, TimeProvider time)
{
    public static readonly TimeSpan Lifetime = TimeSpan.FromHours(8);

    /// <summary>The operator name shown by <c>/me</c> for a token kind.</summary>
    public static string OperatorName(string kind) => kind == OperatorTokens.AdminKind ? "admin" : "local";

    public async Task SignInAsync(HttpContext context, string orgId, string tokenKind, ProviderSignInIdentity? via = null)
    {
        // A sign-in replaces whatever session this browser had: the old one ends server-side too.
        if (await ReadAsync(context) is { } previous)
        {
            await store.DeleteAsync(previous.Id, context.RequestAborted);
        }

        var now = time.GetUtcNow();
        var record = new OperatorSessionRecord
        {
            Id = Base64Url(RandomNumberGenerator.GetBytes(16)),
            OrgId = orgId,
            Operator = via?.Operator ?? OperatorName(tokenKind),
            CreatedAt = now,
            ExpiresAt = now + Lifetime,
        };
        await store.CreateAsync(record, now, context.RequestAborted);

        var identity = new ClaimsIdentity(
        [
            new Claim(ValetClaims.SessionIdClaim, record.Id),
            new Claim(ValetClaims.OrgClaim, orgId),
            new Claim(ValetClaims.OperatorClaim, record.Operator),
            new Claim(ClaimTypes.Role, ValetClaims.RoleOperator),
            new Claim(ValetClaims.TokenKindClaim, tokenKind),
            new Claim(ValetClaims.TokenFingerprintClaim, tokens.Fingerprint(tokenKind)!),
        ], ValetClaims.SessionScheme);
        if (via is not null)
        {
            identity.AddClaim(new Claim(ValetClaims.ProviderClaim, via.Provider));
            identity.AddClaim(new Claim(ValetClaims.AccountLoginClaim, via.AccountLogin ?? via.Operator));
            if (via.BaseUrl is not null)
            {
                identity.AddClaim(new Claim(ValetClaims.BaseUrlClaim, via.BaseUrl));
            }
        }

        await context.SignInAsync(ValetClaims.SessionScheme, new ClaimsPrincipal(identity),
            new AuthenticationProperties { IsPersistent = true, IssuedUtc = now, ExpiresUtc = record.ExpiresAt, AllowRefresh = false });
    }

    /// <summary>The session of this request, validated (see <see cref="SessionValidation"/>), or null.</summary>
    public static async Task<OperatorSession?> ReadAsync(HttpContext context)
    {
        var result = await context.AuthenticateAsync(ValetClaims.SessionScheme);
        if (!result.Succeeded || result.Principal.FindFirstValue(ValetClaims.SessionIdClaim) is not { } id ||
            result.Principal.OrgId() is not { } orgId)
        {
            return null;
        }

        var principal = result.Principal;
        return new OperatorSession(id, orgId, principal.FindFirstValue(ValetClaims.OperatorClaim) ?? "admin",
            result.Properties.IssuedUtc ?? DateTimeOffset.UnixEpoch, principal.FindFirstValue(ValetClaims.ProviderClaim),
            principal.FindFirstValue(ValetClaims.AccountLoginClaim), principal.FindFirstValue(ValetClaims.BaseUrlClaim));
    }

    public async Task SignOutAsync(HttpContext context)
    {
        if (await ReadAsync(context) is { } session)
        {
            await store.DeleteAsync(session.Id, context.RequestAborted);
        }

        await context.SignOutAsync(ValetClaims.SessionScheme);
    }

    private static string Base64Url(byte[] bytes) => System.Buffers.Text.Base64Url.EncodeToString(bytes);
}

/// <summary>
/// Runs on every cookie the session scheme decrypts: the session must still exist server-side and its operator token
/// must still be accepted; otherwise the principal is rejected and the cookie deleted. Challenges are problems, not
/// redirects: the browser routes decide themselves where to send a person without a session.
/// </summary>
internal sealed class SessionValidation(ISessionStore store, OperatorTokens tokens, TimeProvider time) : CookieAuthenticationEvents
{
    public override async Task ValidatePrincipal(CookieValidatePrincipalContext context)
    {
        var principal = context.Principal;
        var valid = principal is not null
            && tokens.StillAccepts(principal.FindFirstValue(ValetClaims.TokenKindClaim), principal.FindFirstValue(ValetClaims.TokenFingerprintClaim))
            && principal.FindFirstValue(ValetClaims.SessionIdClaim) is { } id
            && await store.IsActiveAsync(id, time.GetUtcNow(), context.HttpContext.RequestAborted);
        if (!valid)
        {
            context.RejectPrincipal();
            await context.HttpContext.SignOutAsync(ValetClaims.SessionScheme);
        }
    }

    public override Task RedirectToLogin(RedirectContext<CookieAuthenticationOptions> context) =>
        Problems.Unauthorized("No dashboard session: sign in at /signin.").ExecuteAsync(context.HttpContext);

    public override Task RedirectToAccessDenied(RedirectContext<CookieAuthenticationOptions> context) =>
        Problems.Forbidden().ExecuteAsync(context.HttpContext);
}
