using System.Text.Encodings.Web;
using Microsoft.AspNetCore.Authentication;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using Valet.Server.Http;

namespace Valet.Server.Auth;

/// <summary>
/// One bearer scheme for three principals (see <see cref="BearerAuthenticator"/>). Challenges and denials are problem+json.
/// </summary>
internal sealed class ValetAuthenticationHandler(
    IOptionsMonitor<AuthenticationSchemeOptions> options,
    ILoggerFactory logger,
    UrlEncoder encoder,
    BearerAuthenticator bearer)
    : AuthenticationHandler<AuthenticationSchemeOptions>(options, logger, encoder)
{
    protected override async Task<AuthenticateResult> HandleAuthenticateAsync()
    {
        // The demo's authorization server and API (valet demo) check their own access tokens, which are not Valet's:
        // reading them as Valet keys logged "not authenticated: Unknown bearer token" on every demo connect and call.
        if (Demo.DemoAuthorizationServer.Owns(Request.Path))
        {
            return AuthenticateResult.NoResult();
        }

        var outcome = await bearer.AuthenticateAsync(Request, Context.RequestAborted);
        return outcome switch
        {
            { Principal: { } principal } => AuthenticateResult.Success(new AuthenticationTicket(principal, ValetClaims.Scheme)),
            { Failure: { } failure } => AuthenticateResult.Fail(failure),
            _ => AuthenticateResult.NoResult(),
        };
    }

    protected override async Task HandleChallengeAsync(AuthenticationProperties properties)
    {
        // RFC 6750 §3: a 401 names the scheme it wants (MCP clients look for it before anything else).
        Response.Headers.WWWAuthenticate = BearerChallenge.For(Request);
        await Problems.Unauthorized().ExecuteAsync(Context);
    }

    protected override async Task HandleForbiddenAsync(AuthenticationProperties properties) =>
        await Problems.Forbidden().ExecuteAsync(Context);
}
