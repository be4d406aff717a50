using System.Security.Claims;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.AspNetCore.Routing;
using Microsoft.Extensions.Logging;
using Valet.Core.Domain;
using Valet.Core.Providers;
using Valet.Core.Stores;
using Valet.Server.Auth;
using Valet.Server.Http;
using Valet.Server.Logging;
using Valet.Server.Orgs;

namespace Valet.Server.Credentials;

internal sealed record CreateCredentialRequest([property: System.ComponentModel.DataAnnotations.Required] string? Provider, [property: System.ComponentModel.DataAnnotations.Required] string? ClientId, string? ClientSecret);

/// <summary>The secret is write-only: responses only say whether one is set.</summary>
internal sealed record CredentialResponse(string Id, string Org, string Provider, string ClientId, bool HasSecret, DateTimeOffset CreatedAt)
{
    public static CredentialResponse From(Credential c) => new(c.Id, c.OrgId, c.Provider, c.ClientId, c.ClientSecret is not null, c.CreatedAt);
}

internal static class CredentialEndpoints
{
    public static RouteGroupBuilder MapCredentials(this IEndpointRouteBuilder routes)
    {
        var org = routes.MapOrgGroup("Credentials");
        org.MapPost("/credentials", CreateAsync).WithName("CreateCredential")
            .WithSummary("Register an org's own OAuth client (BYOC); the secret is never returned")
            .ProducesValidationProblem();
        org.MapGet("/credentials", ListAsync).WithName("ListCredentials").WithSummary("List an org's OAuth clients");

        var group = routes.MapGroup("/v1/credentials").RequireAuthorization(ValetClaims.OperatorPolicy).WithTags("Credentials");
        group.MapGet("/{id}", GetAsync).WithName("GetCredential").WithSummary("Read an OAuth client (never its secret)")
            .ProducesProblemCodes(StatusCodes.Status404NotFound, "credential_not_found");
        return group;
    }

    private static async Task<Results<Created<CredentialResponse>, ProblemResult>> CreateAsync(string org, CreateCredentialRequest? request,
        ICredentialStore credentials, IProviderCatalog catalog, TimeProvider time, ILoggerFactory loggers, CancellationToken cancellationToken)
    {
        var validation = new Validation();
        var credential = await CredentialIssuer.CreateAsync(org, request?.Provider, request?.ClientId, request?.ClientSecret, validation, credentials,
            catalog, time, loggers, cancellationToken);
        if (credential is null)
        {
            return validation.Problem();
        }

        return TypedResults.Created($"/v1/credentials/{credential.Id}", CredentialResponse.From(credential));
    }

    private static async Task<Ok<List<CredentialResponse>>> ListAsync(string org, ICredentialStore credentials, CancellationToken cancellationToken)
    {
        var list = new List<CredentialResponse>();
        await foreach (var credential in credentials.ListAsync(org, cancellationToken))
        {
            list.Add(CredentialResponse.From(credential));
        }

        return TypedResults.Ok(list);
    }

    private static async Task<Results<Ok<CredentialResponse>, ProblemResult>> GetAsync(string id, ClaimsPrincipal user, ICredentialStore credentials, CancellationToken cancellationToken)
    {
        var credential = id.Length <= 64 ? await credentials.FindAsync(id, cancellationToken) : null;
        return credential is null || !user.CanOperate(credential.OrgId)
            ? Problems.NotFound("credential_not_found", "No such credential.")
            : TypedResults.Ok(CredentialResponse.From(credential));
    }
}
