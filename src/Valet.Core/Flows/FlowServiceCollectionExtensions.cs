using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Options;
using Valet.Core.Connections;
using Valet.Core.Flows;

namespace Microsoft.Extensions.DependencyInjection;

public static class FlowServiceCollectionExtensions
{
    /// <summary>Flow engine, connection registry, client resolution and disconnect. Safe to call twice.</summary>
    public static IServiceCollection AddValetConnect(this IServiceCollection services)
    {
        services.AddOptions<FlowOptions>().BindConfiguration("Flows").ValidateOnStart();
        services.TryAddEnumerable(ServiceDescriptor.Singleton<IValidateOptions<FlowOptions>, FlowOptionsValidator>());
        services.TryAddSingleton<ClientResolver>();
        services.TryAddSingleton<ConnectionRegistry>();
        services.TryAddSingleton<FlowEngine>();
        services.TryAddSingleton<Disconnector>();
        return services;
    }
}
