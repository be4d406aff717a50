using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Options;
using Valet.Core.Connections;
using Valet.Core.Flows;
using Valet.Core.OAuth;
using Microsoft.Extensions.Hosting;

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

        // Device authorization grant (RFC 8628): the real OAuth client answers it; a host that swapped IOAuthClient keeps one too.
        services.TryAddSingleton<IDeviceAuthorizationClient>(sp =>
            sp.GetRequiredService<IOAuthClient>() as IDeviceAuthorizationClient ?? ActivatorUtilities.CreateInstance<OAuthClient>(sp));
        services.TryAddSingleton<DeviceFlowEngine>();
        services.TryAddEnumerable(ServiceDescriptor.Singleton<IHostedService, DevicePoller>());
        return services;
    }
}
