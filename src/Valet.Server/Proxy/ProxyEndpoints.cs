using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Options;
using Valet.Server.Audit;
using Valet.Server.Auth;
using Valet.Server.Targets;

namespace Valet.Server.Proxy;

internal static class ProxyEndpoints
{
    /// <summary>
    /// <c>ANY /v1/proxy/{connection_id}/{**path}</c> and <c>ANY /v1/targets/{target}/{**path}</c>. Plain request delegates
    /// (no parameter binding) on the hot path. <c>/v1/targets/{id}</c> with nothing after the id is also the operator's
    /// read/refuse-to-edit route: an operator principal gets <see cref="TargetEndpoints"/>, an API key the proxy.
    /// <para>
    /// No authorization policy on these two: the handler itself answers 401 to an unauthenticated caller (the same
    /// problem the challenge writes) and decides everything else per connection or target. Skipping the policy
    /// evaluation is measurable on the hottest route Valet has (docs/proxy.md, Benchmark); the operator branch requires
    /// an authenticated operator explicitly.
    /// </para>
    /// </summary>
    public static IEndpointRouteBuilder MapProxy(this IEndpointRouteBuilder routes)
    {
        routes.Map(ProxyHandler.ProxyPrefix + "{connection_id}/{**path}",
                context => context.RequestServices.GetRequiredService<ProxyHandler>().HandleAsync(context, viaTarget: false))
            .WithTags("Proxy").WithName("Proxy");

        routes.Map(ProxyHandler.TargetsPrefix + "{target}/{**path}", context =>
            {
                var bare = context.Request.RouteValues["path"] is null or "" && !(context.Request.Path.Value?.EndsWith('/') ?? false);
                if (bare && context.User is not ApiKeyPrincipal && context.User.IsOperator())
                {
                    return TargetEndpoints.HandleOperatorAsync(context, (string)context.Request.RouteValues["target"]!);
                }

                return context.RequestServices.GetRequiredService<ProxyHandler>().HandleAsync(context, viaTarget: true);
            })
            .WithTags("Proxy").WithName("TargetProxy");
        return routes;
    }

    /// <summary>Forwarder, its client, options (validated at start), the audit writer. Safe to call twice.</summary>
    public static IServiceCollection AddValetProxy(this IServiceCollection services)
    {
        if (services.Any(d => d.ServiceType == typeof(ProxyHandler)))
        {
            return services;
        }

        services.AddHttpForwarder();
        services.AddOptions<ProxyOptions>().BindConfiguration(ProxyOptions.SectionName).ValidateOnStart();
        services.TryAddEnumerable(ServiceDescriptor.Singleton<IValidateOptions<ProxyOptions>, ProxyOptionsValidator>());
        services.TryAddSingleton(TimeProvider.System);
        services.TryAddSingleton<IUpstreamResolver, DnsUpstreamResolver>();
        services.TryAddSingleton<ProxyInvoker>();
        services.TryAddSingleton<AuditWriter>();
        services.AddSingleton<IHostedService>(sp => sp.GetRequiredService<AuditWriter>());
        services.TryAddSingleton<ProxyHandler>();
        return services;
    }
}
