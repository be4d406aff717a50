using System.Security.Claims;
using System.Text.Encodings.Web;
using Microsoft.AspNetCore.Authentication;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using Valet.Core.Keys;
using Valet.Core.Stores;
using Valet.Server.Http;

namespace Valet.Server.Auth;

/// <summary>
/// One bearer scheme for three principals: the admin token (operator), the local service token (operator + service)
/// and agent API keys (agent of one org). Challenges and denials are problem+json.
/// </summary>
internal sealed class ValetAuthenticationHandler(
    IOptionsMonitor<AuthenticationSchemeOptions> options,
    ILoggerFactory logger,
    UrlEncoder encoder,
    OperatorTokens operatorTokens,
    IApiKeyStore keys)
    : AuthenticationHandler<AuthenticationSchemeOptions>(options, logger, encoder)
{
    public const string ApiKeyItem = "valet.apikey";

    protected override async Task<AuthenticateResult> HandleAuthenticateAsync()
    {
        var header = Request.Headers.Authorization.ToString();
        if (string.IsNullOrEmpty(header))
        {
            return AuthenticateResult.NoResult();
        }

        if (!header.StartsWith("Bearer ", StringComparison.OrdinalIgnoreCase))
        {
            return AuthenticateResult.Fail("Unsupported authorization scheme.");
        }

        var presented = header["Bearer ".Length..].Trim();
        if (presented.Length == 0)
        {
            return AuthenticateResult.Fail("Empty bearer token.");
        }

        if (operatorTokens.IsService(presented))
        {
            return Success([new Claim(ClaimTypes.Role, ValetClaims.RoleOperator), new Claim(ClaimTypes.Role, ValetClaims.RoleService),
                new Claim(ValetClaims.OperatorClaim, "service")]);
        }

        if (operatorTokens.IsAdmin(presented))
        {
            return Success([new Claim(ClaimTypes.Role, ValetClaims.RoleOperator), new Claim(ValetClaims.OperatorClaim, "admin")]);
        }

        var prefix = ApiKeySecrets.PrefixOf(presented);
        if (prefix is null)
        {
            return AuthenticateResult.Fail("Unknown bearer token.");
        }

        var key = await keys.FindByPrefixAsync(prefix, Context.RequestAborted);
        if (key is null || !ApiKeySecrets.Verify(presented, key.Hash))
        {
            return AuthenticateResult.Fail("Unknown bearer token.");
        }

        Context.Items[ApiKeyItem] = key;
        return Success([new Claim(ClaimTypes.Role, ValetClaims.RoleAgent), new Claim(ValetClaims.OrgClaim, key.OrgId),
            new Claim(ValetClaims.KeyIdClaim, key.Id)]);
    }

    protected override async Task HandleChallengeAsync(AuthenticationProperties properties) =>
        await Problems.Unauthorized().ExecuteAsync(Context);

    protected override async Task HandleForbiddenAsync(AuthenticationProperties properties) =>
        await Problems.Forbidden().ExecuteAsync(Context);

    private static AuthenticateResult Success(Claim[] claims) =>
        AuthenticateResult.Success(new AuthenticationTicket(
            new ClaimsPrincipal(new ClaimsIdentity(claims, ValetClaims.Scheme)), ValetClaims.Scheme));
}
