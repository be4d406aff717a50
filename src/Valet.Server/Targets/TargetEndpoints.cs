using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.AspNetCore.Routing;
using Microsoft.Extensions.DependencyInjection;
using Valet.Core.Domain;
using Valet.Core.Stores;
using Valet.Server.Auth;
using Valet.Server.Http;
using Valet.Server.Orgs;

namespace Valet.Server.Targets;

internal sealed record TargetResponse(string Id, string Org, string ConnectionId, string Name, string Provider, bool Managed, string BaseUrl,
    IReadOnlyList<string> RequiredScopes, DateTimeOffset CreatedAt)
{
    public static TargetResponse From(Target t) => new(t.Id, t.OrgId, t.ConnectionId, t.Name, t.Provider, t.Managed, t.BaseUrl, t.RequiredScopes, t.CreatedAt);
}

internal sealed record TargetDeletedResponse(string Id, bool Deleted);

/// <summary>
/// Operator view of targets. Managed targets (made from the catalog on connect) are read-only: changing or deleting one is
/// 409 <c>managed_target</c>; they go with their connection. Who may use a target is edited on the API key
/// (<c>PUT /v1/keys/{id}/permissions</c> with <c>{"target": ID}</c>).
/// </summary>
internal static class TargetEndpoints
{
    public static RouteGroupBuilder MapTargets(this IEndpointRouteBuilder routes)
    {
        var org = routes.MapOrgGroup("Targets");
        org.MapGet("/targets", ListAsync).WithName("ListTargets").WithSummary("List an org's targets");
        return org;
    }

    private static async Task<Ok<List<TargetResponse>>> ListAsync(string org, ITargetStore targets, CancellationToken cancellationToken)
    {
        var list = new List<TargetResponse>();
        await foreach (var target in targets.ListAsync(org, cancellationToken))
        {
            list.Add(TargetResponse.From(target));
        }

        return TypedResults.Ok(list);
    }

    /// <summary><c>GET|PUT|PATCH|DELETE /v1/targets/{id}</c> for an operator (dispatched from the proxy route, which shares the path).</summary>
    public static async Task HandleOperatorAsync(HttpContext context, string id)
    {
        var targets = context.RequestServices.GetRequiredService<ITargetStore>();
        var cancellationToken = context.RequestAborted;
        var target = id.Length <= 64 ? await targets.FindAsync(id, cancellationToken) : null;
        IResult result;
        if (target is null || !context.User.CanOperate(target.OrgId))
        {
            result = Problems.NotFound("target_not_found", "No such target.");
        }
        else if (HttpMethods.IsGet(context.Request.Method) || HttpMethods.IsHead(context.Request.Method))
        {
            result = TypedResults.Ok(TargetResponse.From(target));
        }
        else if (HttpMethods.IsPut(context.Request.Method) || HttpMethods.IsPatch(context.Request.Method) || HttpMethods.IsDelete(context.Request.Method))
        {
            result = target.Managed
                ? Problems.Conflict("managed_target",
                    "This target is managed: it was made from the provider catalog, is read-only and is deleted with its connection. " +
                    "Who may use it is set on API keys: PUT /v1/keys/{id}/permissions with {\"target\": \"" + target.Id + "\"}.")
                : await UnmanagedAsync(context, target, targets, cancellationToken);
        }
        else
        {
            context.Response.Headers.Allow = "GET, HEAD, PUT, PATCH, DELETE";
            result = Problems.Create(StatusCodes.Status405MethodNotAllowed, "method_not_allowed", "Method not allowed");
        }

        await result.ExecuteAsync(context);
    }

    private static async Task<IResult> UnmanagedAsync(HttpContext context, Target target, ITargetStore targets, CancellationToken cancellationToken)
    {
        if (!HttpMethods.IsDelete(context.Request.Method))
        {
            return Problems.Create(StatusCodes.Status405MethodNotAllowed, "method_not_allowed", "Method not allowed",
                "Targets are not edited in place; delete it and bind a new one.");
        }

        var deleted = await targets.DeleteAsync(target.Id, cancellationToken);
        return TypedResults.Ok(new TargetDeletedResponse(target.Id, deleted));
    }
}
