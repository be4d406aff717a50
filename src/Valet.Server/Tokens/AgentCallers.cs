using Microsoft.AspNetCore.Http;
using Valet.Core.Access;
using Valet.Server.Auth;

namespace Valet.Server.Tokens;

internal static class AgentCallers
{
    /// <summary>
    /// The caller of an agent route: an API key, or the local service principal (the CLI); null for anyone else (the
    /// admin token, a dashboard session), who gets 403. No allocation: the key's principal is cached per key.
    /// </summary>
    public static AgentCaller? From(HttpContext context)
    {
        if (context.User is ApiKeyPrincipal agent)
        {
            return AgentCaller.For(agent.Key);
        }

        return context.User.IsService() ? AgentCaller.Service : null;
    }
}
