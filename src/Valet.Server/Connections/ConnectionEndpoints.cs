using System.Security.Claims;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.AspNetCore.Routing;
using Valet.Core.Connections;
using Valet.Core.Domain;
using Valet.Core.Providers;
using Valet.Core.Stores;
using Valet.Server.Auth;
using Valet.Server.Http;
using Valet.Server.Orgs;

namespace Valet.Server.Connections;

/// <summary><c>DELETE /v1/connections/{id}</c>: <c>revoked</c> says whether the provider confirmed the revocation (RFC 7009).</summary>
internal sealed record DisconnectResponse(string Id, bool Deleted, bool Revoked);

internal static class ConnectionEndpoints
{
    public static RouteGroupBuilder MapConnections(this IEndpointRouteBuilder routes)
    {
        var org = routes.MapOrgGroup("Connections");
        org.MapGet("/connections", ListAsync).WithName("ListConnections").WithSummary("List an org's connections (never a token)");
        org.MapPost("/connections/import", ImportEndpoint.ImportAsync).WithName("ImportConnection")
            .WithSummary("Import tokens obtained elsewhere (upsert on org, provider and account)")
            .WithDescription("`credential_id` is required: the OAuth client that obtained the tokens, registered with `POST /v1/orgs/{org}/credentials`. " +
                "201 when a connection was created, 200 when an existing one was updated.")
            .ProducesProblemCodes(StatusCodes.Status400BadRequest, "credential_required", "scopes_widened_without_refresh_token", "refresh_token_required")
            .ProducesProblemCodes(StatusCodes.Status404NotFound, "credential_not_found")
            .ProducesProblemCodes(StatusCodes.Status422UnprocessableEntity, "validation_failed", "invalid_token_value", "unsupported_token_type",
                "credential_mismatch", "invalid_parameters");

        org.MapPost("/connections", CreateAsync).WithName("CreateConnection")
            .WithSummary("Create an api_key, basic or client-credentials connection (secrets are write-only)")
            .WithDescription("Body: `provider`, optional `account` (`id`, `login`; the id defaults to `default`, or the client id for " +
                "oauth2_cc), and per the provider's auth_mode: `api_key`; or `username` and `password`; or (oauth2_cc) optional " +
                "`credential_id` and `scopes`. Posting again for the same account replaces the secret in place (same id). " +
                "201 when created, 200 when replaced.")
            .ProducesValidationProblem();

        var group = routes.MapGroup("/v1/connections").RequireAuthorization(ValetClaims.OperatorPolicy).WithTags("Connections")
            .ProducesProblemCodes(StatusCodes.Status404NotFound, "connection_not_found");
        group.MapGet("/{id}", GetAsync).WithName("GetConnection").WithSummary("Read a connection (never a token)");
        group.MapDelete("/{id}", DeleteAsync).WithName("DeleteConnection")
            .WithSummary("Disconnect: revoke at the provider where it can, delete the tokens and managed targets");
        group.MapPut("/{id}/secret", RotateAsync).WithName("RotateConnectionSecret")
            .WithSummary("Replace the static secret of an api_key or basic connection in place (same id)")
            .ProducesValidationProblem();
        return group;
    }

    private static async Task<Results<Created<ConnectionResponse>, Ok<ConnectionResponse>, ProblemResult>> CreateAsync(string org,
        CreateConnectionRequest? request, IProviderCatalog catalog, ICredentialStore credentials, IConnectionStore connections, ConnectionRegistry registry,
        ClientResolver clients, IOrgStore orgs, TimeProvider time, CancellationToken cancellationToken)
    {
        var validation = new Validation();
        var headless = (await orgs.FindAsync(org, cancellationToken))?.Headless ?? false;
        var saved = await OperatorConnections.CreateAsync(org, request, validation, catalog, credentials, connections, registry, clients, time, headless,
            cancellationToken);
        if (saved is not var (connection, created))
        {
            return validation.Problem();
        }

        var body = ConnectionResponse.From(connection);
        return created ? TypedResults.Created($"/v1/connections/{connection.Id}", body) : TypedResults.Ok(body);
    }

    private static async Task<Results<Ok<ConnectionResponse>, ProblemResult>> RotateAsync(string id, RotateSecretRequest? request, ClaimsPrincipal user,
        IConnectionStore connections, IProviderCatalog catalog, ConnectionRegistry registry, CancellationToken cancellationToken)
    {
        var connection = await FindAsync(id, user, connections, cancellationToken);
        if (connection is null)
        {
            return NotFound();
        }

        var validation = new Validation();
        var stored = await OperatorConnections.RotateAsync(connection, request, validation, catalog, registry, cancellationToken);
        return stored is null ? validation.Problem() : TypedResults.Ok(ConnectionResponse.From(stored));
    }

    private static async Task<Ok<List<ConnectionResponse>>> ListAsync(string org, IConnectionStore connections, CancellationToken cancellationToken)
    {
        var list = new List<ConnectionResponse>();
        await foreach (var connection in connections.ListAsync(org, cancellationToken))
        {
            list.Add(ConnectionResponse.From(connection));
        }

        return TypedResults.Ok(list);
    }

    private static async Task<Results<Ok<ConnectionResponse>, ProblemResult>> GetAsync(string id, ClaimsPrincipal user, IConnectionStore connections, CancellationToken cancellationToken)
    {
        var connection = await FindAsync(id, user, connections, cancellationToken);
        return connection is null ? NotFound() : TypedResults.Ok(ConnectionResponse.From(connection));
    }

    private static async Task<Results<Ok<DisconnectResponse>, ProblemResult>> DeleteAsync(string id, ClaimsPrincipal user, IConnectionStore connections, Disconnector disconnector,
        CancellationToken cancellationToken)
    {
        var connection = await FindAsync(id, user, connections, cancellationToken);
        if (connection is null)
        {
            return NotFound();
        }

        var result = await disconnector.DisconnectAsync(connection, cancellationToken);
        return TypedResults.Ok(new DisconnectResponse(id, result.Deleted, result.Revoked));
    }

    private static async Task<Connection?> FindAsync(string id, ClaimsPrincipal user, IConnectionStore connections, CancellationToken cancellationToken)
    {
        var connection = id.Length <= 64 ? await connections.FindAsync(id, cancellationToken) : null;
        return connection is not null && user.CanOperate(connection.OrgId) ? connection : null;
    }

    private static ProblemResult NotFound() => Problems.NotFound("connection_not_found", "No such connection.");
}
