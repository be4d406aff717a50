using System.Security.Claims;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;
using Microsoft.Extensions.DependencyInjection;
using Valet.Core.Domain;
using Valet.Core.Stores;
using Valet.Server.Auth;
using Valet.Server.Http;

namespace Valet.Server.Orgs;

/// <summary>
/// The <c>/v1/orgs/{org}</c> route group every feature maps its org routes on: operator policy, and one endpoint filter
/// that looks the org up before any handler runs (404 <c>org_not_found</c> for unknown and not-yours alike). A handler
/// that needs the org itself reads <see cref="CurrentOrg"/>.
/// </summary>
internal static class OrgScope
{
    public const string Prefix = "/v1/orgs/{org}";

    public static RouteGroupBuilder MapOrgGroup(this IEndpointRouteBuilder routes, string tag)
    {
        var group = routes.MapGroup(Prefix).RequireAuthorization(ValetClaims.OperatorPolicy).WithTags(tag);
        group.AddEndpointFilter(FindOrgAsync);
        group.ProducesProblemCodes(StatusCodes.Status404NotFound, "org_not_found");
        return group;
    }

    /// <summary>The org the filter found; only on routes of <see cref="MapOrgGroup"/>.</summary>
    public static Org CurrentOrg(this HttpContext context) =>
        context.Features.Get<OrgFeature>()?.Org ?? throw new InvalidOperationException("Not an org route: map it with MapOrgGroup.");

    private static async ValueTask<object?> FindOrgAsync(EndpointFilterInvocationContext invocation, EndpointFilterDelegate next)
    {
        var context = invocation.HttpContext;
        var id = context.GetRouteValue("org") as string ?? string.Empty;
        var found = await OrgAccess.FindAsync(id, context.User, context.RequestServices.GetRequiredService<IOrgStore>(), context.RequestAborted);
        if (found.Problem is not null)
        {
            return found.Problem;
        }

        context.Features.Set(new OrgFeature(found.Org!));
        return await next(invocation);
    }

    private sealed record OrgFeature(Org Org);
}

/// <summary>Looks an org up for an operator: unknown and not-yours both read as 404, so org ids do not leak.</summary>
internal static class OrgAccess
{
    public readonly record struct Found(Org? Org, ProblemResult? Problem);

    public static async Task<Found> FindAsync(string orgId, ClaimsPrincipal user, IOrgStore orgs, CancellationToken cancellationToken)
    {
        var org = orgId.Length <= 64 && user.CanOperate(orgId) ? await orgs.FindAsync(orgId, cancellationToken) : null;
        return org is null ? new Found(null, Problems.NotFound("org_not_found", $"No org '{Truncate(orgId)}'.")) : new Found(org, null);
    }

    private static string Truncate(string value) => value.Length <= 64 ? value : value[..64] + "…";
}
