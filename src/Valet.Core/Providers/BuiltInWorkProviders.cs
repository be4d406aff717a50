namespace Valet.Core.Providers;

/// <summary>
/// Catalog OAuth providers: work and developer tools (files, code hosting, tasks, meetings, support, CRM). Plain data like <see cref="BuiltInProviders"/>; each entry
/// cites the provider's own OAuth documentation beside the behaviour it takes from it.
/// </summary>
internal static class BuiltInWorkProviders
{
    public static IReadOnlyList<ProviderDefinition> All { get; } =
    [
    ];
}
