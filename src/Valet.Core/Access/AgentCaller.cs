using Valet.Core.Domain;

namespace Valet.Core.Access;

/// <summary>
/// Who asks on an agent route: an API key (its org only, and only what its permissions grant) or the local service
/// principal (every connection of every org: the CLI's <c>valet token</c>). A value, so asking costs no allocation;
/// <c>default</c> is nobody and may use nothing.
/// </summary>
public readonly struct AgentCaller
{
    private AgentCaller(ApiKey? key, bool isService)
    {
        Key = key;
        IsService = isService;
    }

    /// <summary>The local service principal.</summary>
    public static AgentCaller Service => new(null, isService: true);

    /// <summary>The key, or null for the service principal.</summary>
    public ApiKey? Key { get; }

    public bool IsService { get; }

    /// <summary>The key's org; null for the service principal (every org).</summary>
    public string? OrgId => Key?.OrgId;

    public static AgentCaller For(ApiKey key)
    {
        ArgumentNullException.ThrowIfNull(key);
        return new AgentCaller(key, isService: false);
    }

    /// <summary>Org isolation first: a connection of another org is not visible at all (404, not 403).</summary>
    public bool Sees(Connection connection)
    {
        ArgumentNullException.ThrowIfNull(connection);
        return IsService || (Key is { } key && connection.OrgId == key.OrgId);
    }

    /// <inheritdoc cref="Sees(Connection)"/>
    public bool Sees(Target target)
    {
        ArgumentNullException.ThrowIfNull(target);
        return IsService || (Key is { } key && target.OrgId == key.OrgId);
    }

    /// <summary>A <c>{"connection": ID}</c> or <c>{"provider": PROVIDER}</c> permission covers it (the service principal may use all).</summary>
    public bool MayUse(Connection connection)
    {
        if (!Sees(connection))
        {
            return false;
        }

        if (IsService)
        {
            return true;
        }

        // A loop, not LINQ: this runs on every token and proxy call.
        var permissions = Key!.Permissions;
        for (var i = 0; i < permissions.Count; i++)
        {
            var permission = permissions[i];
            if ((permission.Kind == PermissionKind.Connection && permission.Value == connection.Id)
                || (permission.Kind == PermissionKind.Provider && permission.Value == connection.Provider))
            {
                return true;
            }
        }

        return false;
    }

    /// <summary>
    /// A permission that covers <paramref name="connection"/> says <c>"reveal": true</c>: the token route may hand out its
    /// static secret. Only API keys: the service principal and operators never see a static secret.
    /// </summary>
    public bool MayReveal(Connection connection)
    {
        if (Key is not { } key || !Sees(connection))
        {
            return false;
        }

        var permissions = key.Permissions;
        for (var i = 0; i < permissions.Count; i++)
        {
            var permission = permissions[i];
            if (permission.Reveal && ((permission.Kind == PermissionKind.Connection && permission.Value == connection.Id)
                || (permission.Kind == PermissionKind.Provider && permission.Value == connection.Provider)))
            {
                return true;
            }
        }

        return false;
    }

    /// <summary>A <c>{"target": ID}</c> permission covers it. (A key holding the target's whole connection may use it too: see <see cref="AgentAccess"/>.)</summary>
    public bool MayUse(Target target)
    {
        if (!Sees(target))
        {
            return false;
        }

        return IsService || Holds(PermissionKind.Target, target.Id);
    }

    /// <summary>The key holds <c>{"provider": PROVIDER}</c>: it may use every connection of that provider in its org, present and future.</summary>
    public bool NamesProvider(string provider) => Key is not null && Holds(PermissionKind.Provider, provider);

    private bool Holds(PermissionKind kind, string value)
    {
        var permissions = Key!.Permissions;
        for (var i = 0; i < permissions.Count; i++)
        {
            if (permissions[i].Kind == kind && permissions[i].Value == value)
            {
                return true;
            }
        }

        return false;
    }
}
