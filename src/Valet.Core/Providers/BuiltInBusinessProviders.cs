namespace Valet.Core.Providers;

/// <summary>
/// Catalog OAuth providers: business, commerce, finance and social platforms. Plain data like <see cref="BuiltInProviders"/>; each entry
/// cites the provider's own OAuth documentation beside the behaviour it takes from it.
/// </summary>
internal static class BuiltInBusinessProviders
{
    public static IReadOnlyList<ProviderDefinition> All { get; } =
    [
    ];
}
