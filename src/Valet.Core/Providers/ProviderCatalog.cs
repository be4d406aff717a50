namespace Valet.Core.Providers;

/// <summary>The validated, immutable catalog: built-in providers with configuration applied, plus operator providers.</summary>
public sealed class ProviderCatalog : IProviderCatalog
{
    private readonly Dictionary<string, ProviderDefinition> _byId;

    internal ProviderCatalog(IEnumerable<ProviderDefinition> providers)
    {
        _byId = providers.ToDictionary(p => p.Id, StringComparer.OrdinalIgnoreCase);
        All = [.. _byId.Values.OrderBy(p => p.Id, StringComparer.Ordinal)];
    }

    public IReadOnlyCollection<ProviderDefinition> All { get; }

    public ProviderDefinition? Find(string id) =>
        string.IsNullOrEmpty(id) ? null : _byId.GetValueOrDefault(id);
}
