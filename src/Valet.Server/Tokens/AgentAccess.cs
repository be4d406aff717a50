using System.Security.Claims;
using Microsoft.AspNetCore.Http;
using Valet.Core.Domain;
using Valet.Server.Auth;

namespace Valet.Server.Tokens;

/// <summary>
/// What the caller of an agent route may use. An API key sees only its own org and only what its permissions grant;
/// the local service principal (the CLI, e.g. <c>valet token</c>) may use every connection of the org it names.
/// </summary>
internal sealed class AgentAccess
{
    private AgentAccess(ApiKey? key, bool service)
    {
        Key = key;
        IsService = service;
    }

    public ApiKey? Key { get; }

    public bool IsService { get; }

    public string? OrgId => Key?.OrgId;

    public static AgentAccess? From(HttpContext context)
    {
        if (context.User is ApiKeyPrincipal agent)
        {
            return new AgentAccess(agent.Key, service: false);
        }

        return context.User.IsService() ? new AgentAccess(null, service: true) : null;
    }

    /// <summary>Org isolation first: a connection of another org is not visible at all.</summary>
    public bool Sees(Connection connection) => IsService || connection.OrgId == Key!.OrgId;

    public bool MayUse(Connection connection) =>
        IsService || (connection.OrgId == Key!.OrgId && Key.Permissions.Any(p =>
            (p.Kind == PermissionKind.Connection && p.Value == connection.Id) ||
            (p.Kind == PermissionKind.Provider && p.Value == connection.Provider)));

    public bool MayUse(Target target) =>
        IsService || (target.OrgId == Key!.OrgId && Key.Permissions.Any(p => p.Kind == PermissionKind.Target && p.Value == target.Id));

    /// <summary>Providers this key names (for envelopes when it has no connection there yet).</summary>
    public IEnumerable<string> Providers => Key?.Permissions.Where(p => p.Kind == PermissionKind.Provider).Select(p => p.Value) ?? [];
}
