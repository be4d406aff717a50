namespace Valet.Core.Domain;

/// <summary>An org's own OAuth client for one provider (BYOC). The platform's clients come from configuration.</summary>
public sealed record Credential
{
    public required string Id { get; init; }
    public required string OrgId { get; init; }
    public required string Provider { get; init; }
    public required string ClientId { get; init; }

    /// <summary>Sealed at rest; write-only through the API.</summary>
    public Secret? ClientSecret { get; init; }

    public DateTimeOffset CreatedAt { get; init; }
}
