using Microsoft.AspNetCore.Http;
using Microsoft.Net.Http.Headers;

namespace Valet.Server.Auth;

/// <summary>
/// The <c>WWW-Authenticate</c> of a 401 (RFC 6750 §3): <c>Bearer</c> when the request carried no bearer token, and
/// <c>Bearer error="invalid_token"</c> when it carried one that is not valid (§3.1: "The access token provided is expired,
/// revoked, malformed, or invalid"), so a client can tell "send a key" from "this key is no good". No description: the
/// problem body says it, and the challenge never echoes anything of the token.
/// </summary>
internal static class BearerChallenge
{
    public const string Missing = "Bearer";
    public const string Invalid = "Bearer error=\"invalid_token\"";

    public static string For(HttpRequest request) =>
        request.Headers[HeaderNames.Authorization].ToString().StartsWith("Bearer ", StringComparison.OrdinalIgnoreCase) ? Invalid : Missing;
}
