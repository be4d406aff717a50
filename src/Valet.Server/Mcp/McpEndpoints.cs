using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Logging;
using ModelContextProtocol;
using ModelContextProtocol.Protocol;
using ModelContextProtocol.Server;
using Microsoft.Extensions.Configuration;
using Valet.Server.Auth;
using Valet.Server.Hosting;

namespace Valet.Server.Mcp;

/// <summary>
/// <c>/mcp</c>: the Model Context Protocol over Streamable HTTP (SPEC §11, docs/mcp.md), stateless so any node answers
/// any request (https://modelcontextprotocol.io/specification/2025-11-25/basic/transports#streamable-http), behind the
/// agent policy: the API key as <c>Authorization: Bearer</c>, 401 with <c>WWW-Authenticate: Bearer</c> otherwise.
/// </summary>
internal static class McpEndpoints
{
    public const string Path = "/mcp";

    private static readonly Implementation ServerInfo =
        new() { Name = "valet", Version = typeof(McpEndpoints).Assembly.GetName().Version?.ToString(3) ?? "0.0.0" };

    public static IServiceCollection AddValetMcp(this IServiceCollection services)
    {
        if (services.Any(d => d.ServiceType == typeof(McpTools)))
        {
            return services;
        }

        // Not IHttpContextAccessor: registering it makes ASP.NET Core allocate a fresh HttpContext for every request of every
        // route (it stops reusing them, docs/performance.md). The SDK runs a stateless request's handlers on that request's
        // own services, so a scoped holder set in front of the SDK hands the tools their HttpContext.
        services.TryAddScoped<McpHttpRequest>();
        services.TryAddSingleton<McpSessionIds>(); // on the Data Protection key ring every node shares (AddValetSessions)
        services.TryAddSingleton<McpProxyCall>();
        services.TryAddSingleton<McpTools>();
        services.TryAddSingleton<McpDirectCalls>();
        services.AddMcpServer(options =>
            {
                // Runs on every request (the stateless transport builds a server per request): nothing computed here.
                options.ServerInfo = ServerInfo;
                options.ServerInstructions = "Valet calls APIs as accounts people connected. Call list_connections first; call_api through a " +
                    "connection; when a person must connect or reconnect an account, tell them what the result says.";
            })
            .WithHttpTransport(options => options.Stateless = true)
            .WithListToolsHandler((request, _) => request.Params?.Cursor is not null
                // One page, so no cursor was ever handed out: "Invalid cursors SHOULD result in an error with code -32602"
                // (https://modelcontextprotocol.io/specification/2025-11-25/server/utilities/pagination#error-handling).
                ? throw new McpProtocolException("Invalid cursor: tools/list has a single page and hands out no cursor.", McpErrorCode.InvalidParams)
                : ValueTask.FromResult(new ListToolsResult { Tools = request.Services!.GetRequiredService<McpTools>().Describe() }))
            .WithCallToolHandler(CallLoggedAsync);
        return services;
    }

    /// <summary>
    /// The SDK's tools/call: the SDK logs whatever a handler throws at Error with its stack trace, an unknown tool name (an
    /// agent's mistake, answered with -32602) included, so its category starts at Critical (ValetHost). A real failure is
    /// logged here instead, as the direct path logs it (event 5200), and then goes on to the SDK, which answers it.
    /// </summary>
    private static async ValueTask<CallToolResult> CallLoggedAsync(RequestContext<CallToolRequestParams> request, CancellationToken cancellationToken)
    {
        try
        {
            return await request.Services!.GetRequiredService<McpTools>()
                .CallAsync(request, request.Services!.GetRequiredService<McpHttpRequest>().Context, cancellationToken);
        }
        catch (Exception e) when (e is not McpProtocolException && !(e is OperationCanceledException && cancellationToken.IsCancellationRequested))
        {
            McpDirectCalls.Log.ToolFailed(request.Services!.GetRequiredService<ILogger<McpTools>>(), e, request.Params?.Name ?? "?", e.GetType().Name);
            throw;
        }
    }

    public static IEndpointConventionBuilder MapValetMcp(this IEndpointRouteBuilder routes)
    {
        var sessions = routes.ServiceProvider.GetRequiredService<McpSessionIds>();
        var direct = routes.ServiceProvider.GetRequiredService<McpDirectCalls>();
        var origins = new McpOrigins(routes.ServiceProvider.GetRequiredService<PublicBaseUrl>(),
            routes.ServiceProvider.GetRequiredService<IConfiguration>()[McpOrigins.ConfigurationKey]);

        // MCP (JSON-RPC over Streamable HTTP) is described by its own tools/list, not by the REST document (docs/mcp.md).
        var mcp = routes.MapMcp(Path).RequireAuthorization(ValetClaims.AgentPolicy).WithMetadata(new ExcludeFromDescriptionAttribute());

        // In front of the SDK on its own endpoints (after authorization): the declarations of initialize-handshake clients.
        mcp.Add(endpoint =>
        {
            var sdk = endpoint.RequestDelegate ?? throw new InvalidOperationException("The MCP endpoint has no request delegate.");
            RequestDelegate declared = context => direct.InvokeAsync(context, sdk); // the hot tool calls, without a per-request server
            endpoint.RequestDelegate = context =>
            {
                if (McpOrigins.Refusal(context, origins) is { } refused)
                {
                    return refused;
                }

                context.RequestServices.GetRequiredService<McpHttpRequest>().Context = context;
                return sessions.InvokeAsync(context, declared);
            };
        });
        return mcp;
    }
}

/// <summary>The HTTP request an MCP tool call arrived on (scoped to that request; set in front of the SDK).</summary>
internal sealed class McpHttpRequest
{
    public HttpContext? Context { get; set; }
}
