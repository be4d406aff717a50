using System.Diagnostics.Metrics;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Options;
using Valet.Core.Tokens;

namespace Microsoft.Extensions.DependencyInjection;

public static class TokensServiceCollectionExtensions
{
    /// <summary>
    /// Agent access (key → connection → token), token service, refresh coordinator, background refresher and <c>Refresh</c> options (validated at start).
    /// Needs the stores, <c>IProviderCatalog</c> and <c>IOAuthClient</c> registered by their own libraries. Safe to call twice.
    /// </summary>
    public static IServiceCollection AddValetTokens(this IServiceCollection services)
    {
        ArgumentNullException.ThrowIfNull(services);

        if (services.Any(d => d.ServiceType == typeof(RefreshCoordinator)))
        {
            return services;
        }

        services.AddOptions<RefreshOptions>().BindConfiguration(RefreshOptions.SectionName).ValidateOnStart();
        services.TryAddEnumerable(ServiceDescriptor.Singleton<IValidateOptions<RefreshOptions>, RefreshOptionsValidator>());

        services.TryAddSingleton(TimeProvider.System);
        services.TryAddSingleton(sp => new ValetMetrics(sp.GetService<IMeterFactory>()));
        services.TryAddSingleton<Valet.Core.Connections.ClientResolver>();
        services.TryAddSingleton<RefreshCoordinator>();
        services.TryAddSingleton<ITokenService, TokenService>();
        services.TryAddSingleton<Valet.Core.Access.AgentAccess>();
        services.TryAddEnumerable(ServiceDescriptor.Singleton<IHostedService, ProactiveRefresher>());
        return services;
    }
}
