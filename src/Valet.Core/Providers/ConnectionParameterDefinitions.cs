namespace Valet.Core.Providers;

/// <summary>What a connection parameter may hold. Never a free URL: the template fixes everything else.</summary>
public enum ConnectionParameterKind
{
    /// <summary>One DNS label (RFC 1123: a-z, 0-9, '-', 1–63 characters, no leading or trailing '-'); stored lower case.</summary>
    HostLabel,

    /// <summary>One path segment of unreserved characters (a-z, A-Z, 0-9, '-', '.', '_', '~'; 1–128; not '.' or '..').</summary>
    PathToken,
}

/// <summary>A named value each connection of a templated provider gives at connect time (a Zendesk subdomain, a Shopify shop).</summary>
public sealed record ConnectionParameterDefinition
{
    public required string Name { get; init; }
    public ConnectionParameterKind Kind { get; init; } = ConnectionParameterKind.HostLabel;
}

/// <summary>
/// URLs of a provider that depend on the connection, with <c>{name}</c> placeholders for its
/// <see cref="ProviderDefinition.ConnectionParameters"/>. A template replaces the matching concrete member once bound.
/// </summary>
public sealed record ProviderUrlTemplates
{
    public string? AuthorizationEndpoint { get; init; }
    public string? TokenEndpoint { get; init; }
    public string? RevocationEndpoint { get; init; }
    public string? UserInfoEndpoint { get; init; }
    public IReadOnlyList<string>? ApiBaseUrls { get; init; }

    internal IEnumerable<(string Key, string Template)> All()
    {
        if (AuthorizationEndpoint is not null)
        {
            yield return ("AuthorizationEndpoint", AuthorizationEndpoint);
        }

        if (TokenEndpoint is not null)
        {
            yield return ("TokenEndpoint", TokenEndpoint);
        }

        if (RevocationEndpoint is not null)
        {
            yield return ("RevocationEndpoint", RevocationEndpoint);
        }

        if (UserInfoEndpoint is not null)
        {
            yield return ("UserInfoEndpoint", UserInfoEndpoint);
        }

        foreach (var api in ApiBaseUrls ?? [])
        {
            yield return ("ApiBaseUrl", api);
        }
    }
}
