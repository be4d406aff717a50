using System.Security.Claims;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
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

internal sealed record CreateCredentialRequest(string? Provider, string? ClientId, string? ClientSecret);

/// <summary>The secret is write-only: responses only say whether one is set.</summary>
internal sealed record CredentialResponse(string Id, string Org, string Provider, string ClientId, bool HasSecret, DateTimeOffset CreatedAt)
{
    public static CredentialResponse From(Credential c) => new(c.Id, c.OrgId, c.Provider, c.ClientId, c.ClientSecret is not null, c.CreatedAt);
}

internal static class CredentialEndpoints
{
    public static RouteGroupBuilder MapCredentials(this IEndpointRouteBuilder routes)
    {
        var group = routes.MapGroup("/v1").RequireAuthorization(ValetClaims.OperatorPolicy).WithTags("Credentials");
        group.MapPost("/orgs/{org}/credentials", CreateAsync);
        group.MapGet("/orgs/{org}/credentials", ListAsync);
        group.MapGet("/credentials/{id}", GetAsync);
        return group;
    }

    private static async Task<IResult> CreateAsync(string org, CreateCredentialRequest? request, ClaimsPrincipal user, IOrgStore orgs,
        ICredentialStore credentials, IProviderCatalog catalog, TimeProvider time, ILoggerFactory loggers, CancellationToken cancellationToken)
    {
        var found = await OrgAccess.FindAsync(org, user, orgs, cancellationToken);
        if (found.Problem is not null)
        {
            return found.Problem;
        }

        var validation = new Validation();
        var credential = await CredentialIssuer.CreateAsync(org, request?.Provider, request?.ClientId, request?.ClientSecret, validation, credentials,
            catalog, time, loggers, cancellationToken);
        if (credential is null)
        {
            return validation.Problem();
        }

        return TypedResults.Created($"/v1/credentials/{credential.Id}", CredentialResponse.From(credential));
    }

    private static async Task<IResult> ListAsync(string org, ClaimsPrincipal user, IOrgStore orgs, ICredentialStore credentials,
        CancellationToken cancellationToken)
    {
        var found = await OrgAccess.FindAsync(org, user, orgs, cancellationToken);
        if (found.Problem is not null)
        {
            return found.Problem;
        }

        var list = new List<CredentialResponse>();
        await foreach (var credential in credentials.ListAsync(org, cancellationToken))
        {
            list.Add(CredentialResponse.From(credential));
        }

        return TypedResults.Ok(list);
    }

    private static async Task<IResult> GetAsync(string id, ClaimsPrincipal user, ICredentialStore credentials, CancellationToken cancellationToken)
    {
        var credential = id.Length <= 64 ? await credentials.FindAsync(id, cancellationToken) : null;
        return credential is null || !user.CanOperate(credential.OrgId)
            ? Problems.NotFound("credential_not_found", "No such credential.")
            : TypedResults.Ok(CredentialResponse.From(credential));
    }
}
