using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Hosting;
using Valet.Core.OAuth;
using Valet.Core.Providers;

namespace Microsoft.Extensions.DependencyInjection;

public static class ProvidersServiceCollectionExtensions
{
    /// <summary>
    /// Registers <see cref="IProviderCatalog"/> (built from <see cref="IConfiguration"/> at host start, failing the
    /// boot with <see cref="CatalogValidationException"/>) and, through <c>AddValetOAuthClient()</c>, the hardened
    /// <see cref="IOAuthClient"/> whose named client also serves discovery. Safe to call twice. A host that already
    /// registered an <see cref="IProviderCatalog"/> (e.g. from <see cref="ProviderCatalogBuilder.BuildAsync(IConfiguration, CancellationToken)"/>) keeps it.
    /// </summary>
    public static IServiceCollection AddValetProviders(this IServiceCollection services)
    {
        ArgumentNullException.ThrowIfNull(services);

        services.AddValetOAuthClient();
        services.TryAddSingleton<IProviderCatalog>(sp => new DeferredProviderCatalog(
            sp.GetRequiredService<IConfiguration>(), sp.GetRequiredService<IHttpClientFactory>()));
        services.TryAddEnumerable(ServiceDescriptor.Singleton<IHostedService, ProviderCatalogStartup>());
        return services;
    }
}

/// <summary>Loads the catalog once; normally awaited by <see cref="ProviderCatalogStartup"/> before any request.</summary>
internal sealed class DeferredProviderCatalog : IProviderCatalog
{
    private readonly Lazy<Task<ProviderCatalog>> _catalog;

    public DeferredProviderCatalog(IConfiguration configuration, IHttpClientFactory httpClientFactory) =>
        _catalog = new(() => ProviderCatalogBuilder.BuildAsync(configuration,
            httpClientFactory.CreateClient(OAuthHttp.ClientName), CancellationToken.None));

    public Task LoadAsync(CancellationToken cancellationToken) => _catalog.Value.WaitAsync(cancellationToken);

    // Blocks only if used before host start (e.g. a tool resolving it directly); after start the task is complete.
    private ProviderCatalog Catalog => _catalog.Value.GetAwaiter().GetResult();

    public IReadOnlyCollection<ProviderDefinition> All => Catalog.All;

    public ProviderDefinition? Find(string id) => Catalog.Find(id);
}

/// <summary>Builds the catalog at start so that a bad configuration fails the boot with every problem listed.</summary>
internal sealed class ProviderCatalogStartup(IProviderCatalog catalog) : IHostedService
{
    public Task StartAsync(CancellationToken cancellationToken) =>
        catalog is DeferredProviderCatalog deferred ? deferred.LoadAsync(cancellationToken) : Task.CompletedTask;

    public Task StopAsync(CancellationToken cancellationToken) => Task.CompletedTask;
}
