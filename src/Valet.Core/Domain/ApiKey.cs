namespace Valet.Core.Domain;

public enum PermissionKind
{
    Connection,
    Provider,
    Target,
}

/// <summary><c>{"connection": ID}</c>, <c>{"provider": PROVIDER}</c> or <c>{"target": ID}</c>.</summary>
public sealed record Permission(PermissionKind Kind, string Value)
{
    /// <summary>
    /// <c>"reveal": true</c>: the token route may hand out a static secret (API key, basic password) of the connections this
    /// permission covers. Without it such connections are proxy-only (SPEC §13).
    /// </summary>
    public bool Reveal { get; init; }
}

/// <summary>What an agent holds. Only the SHA-256 of the secret is stored.</summary>
public sealed record ApiKey
{
    public required string Id { get; init; }
    public required string OrgId { get; init; }
    public required string Name { get; init; }

    /// <summary>The visible, non-secret beginning of the key (<c>vk_ab12cd34</c>) used to find the row.</summary>
    public required string Prefix { get; init; }

    public required byte[] Hash { get; init; }
    public required IReadOnlyList<Permission> Permissions { get; init; }
    public DateTimeOffset CreatedAt { get; init; }
    public DateTimeOffset? LastUsedAt { get; init; }
}
