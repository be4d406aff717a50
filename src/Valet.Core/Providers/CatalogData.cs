namespace Valet.Core.Providers;

/// <summary>Shorthands the catalog files write their entries with (<c>using static</c>).</summary>
internal static class CatalogData
{
    /// <summary>An absolute URL.</summary>
    public static Uri U(string url) => new(url, UriKind.Absolute);

    /// <summary>Headers or parameters, ordinal keys.</summary>
    public static Dictionary<string, string> P(params (string Key, string Value)[] pairs) =>
        pairs.ToDictionary(p => p.Key, p => p.Value, StringComparer.Ordinal);
}
