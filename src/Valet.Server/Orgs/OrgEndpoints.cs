using System.Security.Claims;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;
using Microsoft.Extensions.Logging;
using Valet.Core.Domain;
using Valet.Core.Stores;
using Valet.Server.Auth;
using Valet.Server.Http;
using Valet.Server.Logging;

namespace Valet.Server.Orgs;

internal sealed record CreateOrgRequest(string? Id, string? Name, bool? Headless);

internal sealed record PatchOrgRequest(bool? Headless);

internal sealed record OrgResponse(string Id, string Name, bool Headless, DateTimeOffset CreatedAt)
{
    public static OrgResponse From(Org org) => new(org.Id, org.Name, org.Headless, org.CreatedAt);
}

internal static class OrgEndpoints
{
    public static RouteGroupBuilder MapOrgs(this IEndpointRouteBuilder routes)
    {
        var group = routes.MapGroup("/v1/orgs").RequireAuthorization(ValetClaims.OperatorPolicy).WithTags("Orgs");

        group.MapPost("/", CreateAsync);
        group.MapGet("/", ListAsync);
        group.MapGet("/{org}", GetAsync);
        group.MapPatch("/{org}", PatchAsync);
        return group;
    }

    private static async Task<IResult> CreateAsync(CreateOrgRequest? request, ClaimsPrincipal user, IOrgStore orgs, TimeProvider time,
        ILoggerFactory loggers, CancellationToken cancellationToken)
    {
        if (user.OrgId() is not null)
        {
            return Problems.Forbidden("Only the admin token can create orgs.");
        }

        var validation = new Validation();
        var id = validation.Slug("id", request?.Id);
        var name = request?.Name is null ? id : validation.Required("name", request.Name);
        if (!validation.IsValid)
        {
            return validation.Problem();
        }

        var org = new Org { Id = id!, Name = name!, Headless = request!.Headless ?? false, CreatedAt = time.GetUtcNow() };
        try
        {
            await orgs.CreateAsync(org, cancellationToken);
        }
        catch (StoreConflictException)
        {
            return Problems.Conflict("org_exists", $"An org with id '{org.Id}' already exists.");
        }

        Log.OrgCreated(loggers.CreateLogger("Valet.Orgs"), org.Id, org.Headless);
        return TypedResults.Created($"/v1/orgs/{org.Id}", OrgResponse.From(org));
    }

    private static async Task<IResult> ListAsync(ClaimsPrincipal user, IOrgStore orgs, CancellationToken cancellationToken)
    {
        var list = new List<OrgResponse>();
        await foreach (var org in orgs.ListAsync(cancellationToken))
        {
            if (user.CanOperate(org.Id))
            {
                list.Add(OrgResponse.From(org));
            }
        }

        return TypedResults.Ok(list);
    }

    private static async Task<IResult> GetAsync(string org, ClaimsPrincipal user, IOrgStore orgs, CancellationToken cancellationToken)
    {
        var found = await OrgAccess.FindAsync(org, user, orgs, cancellationToken);
        return found.Problem ?? TypedResults.Ok(OrgResponse.From(found.Org!));
    }

    private static async Task<IResult> PatchAsync(string org, PatchOrgRequest? request, ClaimsPrincipal user, IOrgStore orgs,
        ILoggerFactory loggers, CancellationToken cancellationToken)
    {
        var found = await OrgAccess.FindAsync(org, user, orgs, cancellationToken);
        if (found.Problem is not null)
        {
            return found.Problem;
        }

        if (request?.Headless is not { } headless)
        {
            var validation = new Validation();
            validation.Add("headless", "is required (true or false)");
            return validation.Problem();
        }

        var updated = await orgs.SetHeadlessAsync(org, headless, cancellationToken);
        if (updated is null)
        {
            return Problems.NotFound("org_not_found", $"No org '{org}'.");
        }

        Log.OrgHeadlessChanged(loggers.CreateLogger("Valet.Orgs"), org, headless);
        return TypedResults.Ok(OrgResponse.From(updated));
    }
}

/// <summary>Looks an org up for an operator: unknown and not-yours both read as 404, so org ids do not leak.</summary>
internal static class OrgAccess
{
    public readonly record struct Found(Org? Org, IResult? Problem);

    public static async Task<Found> FindAsync(string orgId, ClaimsPrincipal user, IOrgStore orgs, CancellationToken cancellationToken)
    {
        var org = orgId.Length <= 64 && user.CanOperate(orgId) ? await orgs.FindAsync(orgId, cancellationToken) : null;
        return org is null ? new Found(null, Problems.NotFound("org_not_found", $"No org '{Truncate(orgId)}'.")) : new Found(org, null);
    }

    private static string Truncate(string value) => value.Length <= 64 ? value : value[..64] + "…";
}
