using Microsoft.Extensions.Configuration;
using Valet.Core.OAuth;

namespace Valet.Core.Providers;

/// <summary>
/// Builds the catalog once at boot: built-in providers, the <c>Providers:&lt;id&gt;</c> configuration sections
/// (overrides, or new operator providers), OIDC/RFC 8414 discovery for those with an <c>Issuer</c>, then validation.
/// Every problem is collected and thrown at once as a <see cref="CatalogValidationException"/>.
/// </summary>
public static class ProviderCatalogBuilder
{
    public const string SectionName = "Providers";

    /// <summary>The keys a <c>Providers:&lt;id&gt;</c> section may hold (case-insensitive); anything else is a problem.</summary>
    public static IReadOnlyList<string> Keys => ProviderSettings.Keys;

    /// <summary>Builds the catalog with discovery over the hardened OAuth handler (<see cref="OAuthHttp"/>): for boot, before the container exists.</summary>
    public static async Task<ProviderCatalog> BuildAsync(IConfiguration configuration, CancellationToken cancellationToken)
    {
        using var http = OAuthHttp.CreateStandaloneClient();
        return await BuildAsync(configuration, http, cancellationToken);
    }

    /// <summary>Builds the catalog with discovery over <paramref name="http"/>, which should come from <see cref="OAuthHttp"/>.</summary>
    public static Task<ProviderCatalog> BuildAsync(IConfiguration configuration, HttpClient http, CancellationToken cancellationToken) =>
        BuildAsync(configuration, BuiltInProviders.All, http, cancellationToken);

    internal static async Task<ProviderCatalog> BuildAsync(IConfiguration configuration, IEnumerable<ProviderDefinition> builtIns,
        HttpClient http, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(configuration);
        ArgumentNullException.ThrowIfNull(http);

        var problems = new List<string>();
        var providers = builtIns.ToDictionary(p => p.Id, StringComparer.Ordinal);
        var settings = new List<ProviderSettings>();
        foreach (var section in configuration.GetSection(SectionName).GetChildren())
        {
            // Configuration keys are case-insensitive and environment variables arrive upper-case (VALET_PROVIDERS__ACME__…).
            var id = section.Key.ToLowerInvariant();
            if (!ProviderValidator.Slug().IsMatch(id))
            {
                problems.Add($"provider '{section.Key}': the id must be a slug (a-z, 0-9, '-', '_', at most 63 characters).");
                continue;
            }

            settings.Add(ProviderSettings.Read(id, section, problems));
        }

        var discoveries = await Task.WhenAll(settings.Select(s =>
            DiscoverAsync(s, providers.GetValueOrDefault(s.Id), http, cancellationToken)));

        foreach (var (setting, document, discoveryProblems) in discoveries)
        {
            problems.AddRange(discoveryProblems);
            providers[setting.Id] = setting.ApplyTo(providers.GetValueOrDefault(setting.Id), document);
        }

        foreach (var provider in providers.Values.OrderBy(p => p.Id, StringComparer.Ordinal))
        {
            ProviderValidator.Validate(provider, problems);
        }

        if (problems.Count > 0)
        {
            throw new CatalogValidationException(problems.Distinct(StringComparer.Ordinal).ToList());
        }

        return new ProviderCatalog(providers.Values);
    }

    internal static async Task<(ProviderSettings Setting, DiscoveryDocument? Document, List<string> Problems)> DiscoverAsync(
        ProviderSettings setting, ProviderDefinition? builtIn, HttpClient http, CancellationToken cancellationToken)
    {
        var problems = new List<string>();
        if (setting.Issuer is not { } issuer)
        {
            return (setting, null, problems);
        }

        if (!NetworkHosts.TryParseHttpUrl(issuer, out var issuerUri)
            || !string.IsNullOrEmpty(issuerUri.Query) || !string.IsNullOrEmpty(issuerUri.Fragment))
        {
            problems.Add($"provider '{setting.Id}': Issuer must be an absolute http(s) URL without query or fragment.");
            return (setting, null, problems);
        }

        var allowPrivate = setting.AllowPrivateNetwork ?? builtIn?.AllowPrivateNetwork ?? false;
        var before = problems.Count;
        ProviderValidator.CheckUrl(setting.Id, allowPrivate, "Issuer", issuerUri, problems);
        if (problems.Count > before)
        {
            return (setting, null, problems);
        }

        var document = await ProviderDiscovery.DiscoverAsync(setting.Id, issuer, issuerUri, allowPrivate, http, problems, cancellationToken);
        return (setting, document, problems);
    }
}
