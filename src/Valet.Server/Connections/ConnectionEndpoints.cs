using System.Security.Claims;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;
using Valet.Core.Connections;
using Valet.Core.Domain;
using Valet.Core.Stores;
using Valet.Server.Auth;
using Valet.Server.Http;
using Valet.Server.Orgs;

namespace Valet.Server.Connections;

internal static class ConnectionEndpoints
{
    public static RouteGroupBuilder MapConnections(this IEndpointRouteBuilder routes)
    {
        var group = routes.MapGroup("/v1").RequireAuthorization(ValetClaims.OperatorPolicy).WithTags("Connections");
        group.MapGet("/orgs/{org}/connections", ListAsync);
        group.MapPost("/orgs/{org}/connections/import", ImportEndpoint.ImportAsync);
        group.MapGet("/connections/{id}", GetAsync);
        group.MapDelete("/connections/{id}", DeleteAsync);
        return group;
    }

    private static async Task<IResult> ListAsync(string org, ClaimsPrincipal user, IOrgStore orgs, IConnectionStore connections,
        CancellationToken cancellationToken)
    {
        var found = await OrgAccess.FindAsync(org, user, orgs, cancellationToken);
        if (found.Problem is not null)
        {
            return found.Problem;
        }

        var list = new List<ConnectionResponse>();
        await foreach (var connection in connections.ListAsync(org, cancellationToken))
        {
            list.Add(ConnectionResponse.From(connection));
        }

        return TypedResults.Ok(list);
    }

    private static async Task<IResult> GetAsync(string id, ClaimsPrincipal user, IConnectionStore connections, CancellationToken cancellationToken)
    {
        var connection = await FindAsync(id, user, connections, cancellationToken);
        return connection is null ? NotFound() : TypedResults.Ok(ConnectionResponse.From(connection));
    }

    private static async Task<IResult> DeleteAsync(string id, ClaimsPrincipal user, IConnectionStore connections, Disconnector disconnector,
        CancellationToken cancellationToken)
    {
        var connection = await FindAsync(id, user, connections, cancellationToken);
        if (connection is null)
        {
            return NotFound();
        }

        var result = await disconnector.DisconnectAsync(connection, cancellationToken);
        return TypedResults.Ok(new { id, deleted = result.Deleted, revoked = result.Revoked });
    }

    private static async Task<Connection?> FindAsync(string id, ClaimsPrincipal user, IConnectionStore connections, CancellationToken cancellationToken)
    {
        var connection = id.Length <= 64 ? await connections.FindAsync(id, cancellationToken) : null;
        return connection is not null && user.CanOperate(connection.OrgId) ? connection : null;
    }

    private static IResult NotFound() => Problems.NotFound("connection_not_found", "No such connection.");
}
