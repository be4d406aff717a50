using System.Security.Claims;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.AspNetCore.Routing;
using Microsoft.Extensions.Logging;
using Valet.Core.Domain;
using Valet.Core.Stores;
using Valet.Server.Auth;
using Valet.Server.Http;
using Valet.Server.Logging;

namespace Valet.Server.Orgs;

internal sealed record CreateOrgRequest([property: System.ComponentModel.DataAnnotations.Required] string? Id, string? Name, bool? Headless);

internal sealed record PatchOrgRequest([property: System.ComponentModel.DataAnnotations.Required] bool? Headless);

internal sealed record OrgResponse(string Id, string Name, bool Headless, DateTimeOffset CreatedAt)
{
    public static OrgResponse From(Org org) => new(org.Id, org.Name, org.Headless, org.CreatedAt);
}

internal static class OrgEndpoints
{
    public static RouteGroupBuilder MapOrgs(this IEndpointRouteBuilder routes)
    {
        var group = routes.MapGroup("/v1/orgs").RequireAuthorization(ValetClaims.OperatorPolicy).WithTags("Orgs");
        group.MapPost("/", CreateAsync).WithName("CreateOrg").WithSummary("Create an org (admin token only)")
            .ProducesValidationProblem()
            .ProducesProblemCodes(StatusCodes.Status409Conflict, "org_exists");
        group.MapGet("/", ListAsync).WithName("ListOrgs").WithSummary("List the orgs this operator may act on");

        var org = routes.MapOrgGroup("Orgs");
        org.MapGet("", Get).WithName("GetOrg").WithSummary("Read an org");
        org.MapPatch("", PatchAsync).WithName("UpdateOrg").WithSummary("Set whether an org is headless")
            .ProducesValidationProblem();
        return group;
    }

    private static async Task<Results<Created<OrgResponse>, ProblemResult>> CreateAsync(CreateOrgRequest? request, ClaimsPrincipal user,
        IOrgStore orgs, TimeProvider time, ILoggerFactory loggers, CancellationToken cancellationToken)
    {
        if (user.OrgId() is not null)
        {
            return Problems.Forbidden("Only the admin token can create orgs.");
        }

        var validation = new Validation();
        var id = validation.Slug("id", request?.Id);
        var name = request?.Name is null ? id : validation.Text("name", request.Name);
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

    private static async Task<Ok<List<OrgResponse>>> ListAsync(ClaimsPrincipal user, IOrgStore orgs, CancellationToken cancellationToken)
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

    private static Ok<OrgResponse> Get(HttpContext context) => TypedResults.Ok(OrgResponse.From(context.CurrentOrg()));

    private static async Task<Results<Ok<OrgResponse>, ProblemResult>> PatchAsync(string org, PatchOrgRequest? request, IOrgStore orgs,
        ILoggerFactory loggers, CancellationToken cancellationToken)
    {
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
