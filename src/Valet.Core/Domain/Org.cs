namespace Valet.Core.Domain;

public sealed record Org
{
    public const string DefaultId = "default";

    public required string Id { get; init; }
    public required string Name { get; init; }

    /// <summary>White-label org: its end users never see Valet's pages, envelopes carry no URL.</summary>
    public bool Headless { get; init; }

    public DateTimeOffset CreatedAt { get; init; }
}
