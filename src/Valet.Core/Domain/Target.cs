namespace Valet.Core.Domain;

/// <summary>A named API surface bound to a connection. Managed ones are created on connect and die with it.</summary>
public sealed record Target
{
    public required string Id { get; init; }
    public required string OrgId { get; init; }
    public required string ConnectionId { get; init; }
    public required string Name { get; init; }
    public required string Provider { get; init; }
    public bool Managed { get; init; }

    /// <summary>Absolute base URL the target forwards to (must be one of the provider's API hosts).</summary>
    public required string BaseUrl { get; init; }

    public IReadOnlyList<string> RequiredScopes { get; init; } = [];
    public DateTimeOffset CreatedAt { get; init; }
}
