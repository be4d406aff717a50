using System.Runtime.CompilerServices;
using System.Security.Claims;
using System.Text.Encodings.Web;
using Microsoft.AspNetCore.Authentication;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using Valet.Core.Domain;
using Valet.Core.Keys;
using Valet.Core.Stores;
using Valet.Server.Http;

namespace Valet.Server.Auth;

/// <summary>
/// One bearer scheme for three principals: the admin token (operator), the local service token (operator + service)
/// and agent API keys (agent of one org). Challenges and denials are problem+json.
/// <para>
/// This runs on every agent request, so the hot path allocates little: the key is hashed on the stack, and the principal
/// of a key is built once per cached <see cref="ApiKey"/> instance (a changed key is a new instance, so a new principal).
/// </para>
/// </summary>
internal sealed class ValetAuthenticationHandler(
    IOptionsMonitor<AuthenticationSchemeOptions> options,
    ILoggerFactory logger,
    UrlEncoder encoder,
    OperatorTokens operatorTokens,
    IApiKeyStore keys)
    : AuthenticationHandler<AuthenticationSchemeOptions>(options, logger, encoder)
{
    private const string BearerPrefix = "Bearer ";

    private static readonly ConditionalWeakTable<ApiKey, ApiKeyPrincipal> Principals = new();

    private static readonly ClaimsPrincipal ServicePrincipal = Principal(new Claim(ClaimTypes.Role, ValetClaims.RoleOperator),
        new Claim(ClaimTypes.Role, ValetClaims.RoleService), new Claim(ValetClaims.OperatorClaim, "service"));

    private static readonly ClaimsPrincipal AdminPrincipal = Principal(new Claim(ClaimTypes.Role, ValetClaims.RoleOperator),
        new Claim(ValetClaims.OperatorClaim, "admin"));

    protected override async Task<AuthenticateResult> HandleAuthenticateAsync()
    {
        var header = Request.Headers.Authorization.ToString();
        if (string.IsNullOrEmpty(header))
        {
            return AuthenticateResult.NoResult();
        }

        if (!header.StartsWith(BearerPrefix, StringComparison.OrdinalIgnoreCase))
        {
            return AuthenticateResult.Fail("Unsupported authorization scheme.");
        }

        var (start, length) = Trimmed(header);
        if (length == 0)
        {
            return AuthenticateResult.Fail("Empty bearer token.");
        }

        // API keys first: they are what the hot routes see. A token of another shape never reaches the store.
        if (ApiKeySecrets.PrefixOf(header.AsSpan(start, length)) is { } prefix)
        {
            var key = await keys.FindByPrefixAsync(prefix, Context.RequestAborted);
            if (key is not null && ApiKeySecrets.Verify(header.AsSpan(start, length), key.Hash))
            {
                return Success(Principals.GetValue(key, static k => new ApiKeyPrincipal(k)));
            }
        }

        if (operatorTokens.IsService(header.AsSpan(start, length)))
        {
            return Success(ServicePrincipal);
        }

        return operatorTokens.IsAdmin(header.AsSpan(start, length)) ? Success(AdminPrincipal) : AuthenticateResult.Fail("Unknown bearer token.");
    }

    protected override async Task HandleChallengeAsync(AuthenticationProperties properties) =>
        await Problems.Unauthorized().ExecuteAsync(Context);

    protected override async Task HandleForbiddenAsync(AuthenticationProperties properties) =>
        await Problems.Forbidden().ExecuteAsync(Context);

    private static (int Start, int Length) Trimmed(string header)
    {
        var token = header.AsSpan(BearerPrefix.Length);
        var trimmedStart = token.TrimStart();
        var start = BearerPrefix.Length + (token.Length - trimmedStart.Length);
        return (start, trimmedStart.TrimEnd().Length);
    }

    private static AuthenticateResult Success(ClaimsPrincipal principal) =>
        AuthenticateResult.Success(new AuthenticationTicket(principal, ValetClaims.Scheme));

    private static ClaimsPrincipal Principal(params Claim[] claims) => new(new ClaimsIdentity(claims, ValetClaims.Scheme));
}

/// <summary>The principal of an agent API key: role agent, its org and key id as claims, and the key row itself.</summary>
internal sealed class ApiKeyPrincipal(ApiKey key) : ClaimsPrincipal(new ClaimsIdentity(
    [new Claim(ClaimTypes.Role, ValetClaims.RoleAgent), new Claim(ValetClaims.OrgClaim, key.OrgId), new Claim(ValetClaims.KeyIdClaim, key.Id)],
    ValetClaims.Scheme))
{
    public ApiKey Key { get; } = key;
}
