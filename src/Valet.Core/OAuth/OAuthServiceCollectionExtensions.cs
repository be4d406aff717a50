using Microsoft.Extensions.DependencyInjection.Extensions;
using Valet.Core.OAuth;

namespace Microsoft.Extensions.DependencyInjection;

public static class OAuthServiceCollectionExtensions
{
    /// <summary>
    /// Registers <see cref="IOAuthClient"/> (a singleton that takes a fresh client from <see cref="IHttpClientFactory"/>
    /// per call, so handlers rotate) over the named client <see cref="OAuthHttp.ClientName"/>, whose primary handler is
    /// <see cref="OAuthHttp.CreateHandler"/>: no redirects followed, timeouts. The only registration of the OAuth client;
    /// safe to call twice. A host that registered its own <see cref="IOAuthClient"/> first keeps it.
    /// </summary>
    public static IServiceCollection AddValetOAuthClient(this IServiceCollection services)
    {
        ArgumentNullException.ThrowIfNull(services);
        if (services.Any(d => d.ServiceType == typeof(OAuthClientRegistered)))
        {
            return services;
        }

        services.AddSingleton(new OAuthClientRegistered());
        services.TryAddSingleton(TimeProvider.System);
        services.AddHttpClient(OAuthHttp.ClientName, client => client.Timeout = OAuthHttp.Timeout)
            .ConfigurePrimaryHttpMessageHandler(() => OAuthHttp.CreateHandler())
            .SetHandlerLifetime(OAuthHttp.HandlerLifetime);
        services.TryAddSingleton<IOAuthClient, OAuthClient>();
        return services;
    }

    /// <summary>Marks the registration as done (idempotence), whatever else registered an <see cref="IOAuthClient"/>.</summary>
    private sealed class OAuthClientRegistered;
}
