using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Mvc;
using Microsoft.AspNetCore.Routing;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Options;
using Valet.Core.Access;
using Valet.Server.Audit;
using Valet.Server.Auth;
using Valet.Server.Http;
using Valet.Server.Targets;
using Valet.Server.Tokens;

namespace Valet.Server.Proxy;

internal static class ProxyEndpoints
{
    /// <summary>The methods the proxy routes are documented with (any method is forwarded).</summary>
    private static readonly string[] DocumentedMethods =
        [HttpMethods.Get, HttpMethods.Post, HttpMethods.Put, HttpMethods.Patch, HttpMethods.Delete, HttpMethods.Head, HttpMethods.Options];

    /// <summary>
    /// <c>ANY /v1/proxy/{connection_id}/{**path}</c> and <c>ANY /v1/targets/{target}/{**path}</c>. Requests for them are
    /// served by the agent lane (<see cref="AgentLane"/>), whatever their method; these routed endpoints describe them
    /// in the OpenAPI document (with the common methods; a handler with parameters, which a plain request delegate would
    /// not be) and serve what the lane passes on: <c>/v1/targets/{id}</c> with nothing after the id, asked by an operator
    /// (<see cref="TargetEndpoints"/>). One endpoint per pattern, so the matcher (which runs for the lane's requests too)
    /// still finds a single candidate.
    /// <para>
    /// No authorization policy on these two: the handler itself answers 401 to an unauthenticated caller (the same
    /// problem the challenge writes) and decides everything else per connection or target. Skipping the policy
    /// evaluation is measurable on the hottest route Valet has (docs/proxy.md, Benchmark); the operator branch requires
    /// an authenticated operator explicitly.
    /// </para>
    /// </summary>
    public static IEndpointRouteBuilder MapProxy(this IEndpointRouteBuilder routes)
    {
        const string proxyPattern = ProxyHandler.ProxyPrefix + "{connection_id}/{**path}";
        routes.MapMethods(proxyPattern, DocumentedMethods,
                static (HttpContext context, [FromRoute(Name = "connection_id")] string connectionId, [FromRoute(Name = "path")] string? path) =>
                    ProxyAsync(context))
            .WithName("Proxy")
            .WithSummary("Call the provider's API through a connection")
            .WithDescription("Forwards to the provider's API base (from the catalog; never an arbitrary host) plus {path} and the query, with " +
                "the connection's token injected. On a 401 from upstream the token is refreshed once and the call retried once (when its " +
                "body is small enough to replay). Bodies stream both ways; the agent's Authorization, Cookie and hop-by-hop headers are " +
                "not forwarded. The upstream's answer comes back as it is; one that is not a 2xx is marked with the header Valet-Upstream: 1 (set " +
                "over any the upstream sent). Valet's own refusals are problem+json and never carry it, so a 409 envelope without it is Valet's.")
            .DocumentProxyRoute()
            .ProducesProblemCodes(StatusCodes.Status404NotFound, "connection_not_found", "unknown_provider")
            .ProducesProblemCodes(StatusCodes.Status409Conflict, EnvelopeCodes.ReauthRequired);

        const string targetPattern = ProxyHandler.TargetsPrefix + "{target}/{**path}";
        routes.MapMethods(targetPattern, DocumentedMethods,
                static (HttpContext context, [FromRoute(Name = "target")] string target, [FromRoute(Name = "path")] string? path) =>
                    TargetProxyAsync(context))
            .WithName("TargetProxy")
            .WithSummary("Call an API through a managed target")
            .WithDescription("The same as the connection proxy, through a target: its base URL (under one of its provider's API bases) " +
                "and its required scopes (missing ones give the missing_scopes envelope). A key holding the target, or its whole " +
                "connection, may use it.")
            .DocumentProxyRoute()
            .ProducesProblemCodes(StatusCodes.Status404NotFound, "target_not_found", "connection_not_found", "unknown_provider")
            .ProducesProblemCodes(StatusCodes.Status409Conflict, EnvelopeCodes.ReauthRequired, EnvelopeCodes.MissingScopes);
        return routes;
    }

    private static Task ProxyAsync(HttpContext context) =>
        context.RequestServices.GetRequiredService<ProxyHandler>().HandleAsync(context, viaTarget: false);

    private static Task TargetProxyAsync(HttpContext context)
    {
        var bare = context.Request.RouteValues["path"] is null or "" && !(context.Request.Path.Value?.EndsWith('/') ?? false);
        if (IsOperatorTargetRead(context, bare))
        {
            return TargetEndpoints.HandleOperatorAsync(context, (string)context.Request.RouteValues["target"]!);
        }

        return context.RequestServices.GetRequiredService<ProxyHandler>().HandleAsync(context, viaTarget: true);
    }

    /// <summary>
    /// Valet's own refusals on both proxy routes besides their 404 and 409 (401, 403 <c>forbidden</c>, 429 and 503 come with
    /// every agent route): a path that leaves the API base, a header value that is not visible ASCII or a body that breaks
    /// off (400), a body over
    /// Proxy:MaxRequestBytes (413), a connection its provider no longer fits (422), the provider failing (502/504) or
    /// resolving to an address the proxy refuses (502). Everything else is the upstream's own answer.
    /// </summary>
    private static RouteHandlerBuilder DocumentProxyRoute(this RouteHandlerBuilder builder) => builder
        .WithTags(AgentOpenApi.Tag)
        .Produces(StatusCodes.Status200OK)
        .ProducesProblemCodes(StatusCodes.Status400BadRequest, "invalid_path", "invalid_header", "request_body_failed")
        .ProducesProblemCodes(StatusCodes.Status413PayloadTooLarge, "payload_too_large")
        .ProducesProblemCodes(StatusCodes.Status422UnprocessableEntity, "invalid_parameters", "no_api_base", "auth_mode_mismatch")
        .ProducesProblemCodes(StatusCodes.Status502BadGateway, "provider_unavailable", "upstream_address_refused", "upstream_body_unreadable")
        .ProducesProblemCodes(StatusCodes.Status504GatewayTimeout, "provider_unavailable");

    /// <summary><c>/v1/targets/{id}</c> with nothing after the id, asked by an operator (not an API key): the target routes, not the proxy.</summary>
    internal static bool IsOperatorTargetRead(HttpContext context, bool bare) =>
        bare && context.User is not ApiKeyPrincipal && context.User.IsOperator();

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
