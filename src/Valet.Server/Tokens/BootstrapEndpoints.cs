using System.Security.Claims;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;
using Valet.Core.Domain;
using Valet.Core.Stores;
using Valet.Server.Auth;
using Valet.Server.Connections;
using Valet.Server.Http;
using Valet.Server.Orgs;

namespace Valet.Server.Tokens;

internal sealed record BootstrapConnection(string Id, string Provider, ConnectionAccount Account, string Status, IReadOnlyList<string>? Scopes,
    DateTimeOffset? ExpiresAt, Dictionary<string, object?>? Envelope);

internal sealed record BootstrapTarget(string Id, string Name, string Provider, string ConnectionId, IReadOnlyList<string> RequiredScopes, bool Managed);

internal sealed record DefaultRequest(string? ConnectionId);

internal static class BootstrapEndpoints
{
    public static void MapBootstrap(this IEndpointRouteBuilder routes)
    {
        routes.MapGet("/v1/bootstrap", BootstrapAsync).RequireAuthorization(ValetClaims.AgentPolicy).WithTags("Agent");
        routes.MapPut("/v1/orgs/{org}/defaults/{provider}", SetDefaultAsync).RequireAuthorization(ValetClaims.OperatorPolicy).WithTags("Connections");
    }

    /// <summary>What this key may use, and for each thing that needs a person, its envelope. An agent calls this first.</summary>
    private static async Task<IResult> BootstrapAsync(HttpContext context, IConnectionStore connections, ITargetStore targets, Envelopes envelopes,
        CancellationToken cancellationToken)
    {
        var access = AgentAccess.From(context)!;
        var key = access.Key!;
        var visible = new List<BootstrapConnection>();
        var providersCovered = new HashSet<string>(StringComparer.Ordinal);
        await foreach (var connection in connections.ListAsync(key.OrgId, cancellationToken))
        {
            if (!access.MayUse(connection))
            {
                continue;
            }

            providersCovered.Add(connection.Provider);
            var envelope = connection.Status == ConnectionStatus.ReauthRequired
                ? await envelopes.BuildAsync(EnvelopeCodes.ReauthRequired, key.OrgId, connection.Provider, connection, [], [], context.Request, cancellationToken)
                : null;
            visible.Add(new BootstrapConnection(connection.Id, connection.Provider,
                new ConnectionAccount(connection.AccountId, connection.AccountLogin, connection.AccountEmail),
                connection.Status == ConnectionStatus.Active ? "active" : "reauth_required", connection.Scopes, connection.ExpiresAt, envelope));
        }

        var needs = new List<Dictionary<string, object?>>();
        foreach (var provider in access.Providers.Where(p => !providersCovered.Contains(p)).Distinct(StringComparer.Ordinal))
        {
            needs.Add(await envelopes.BuildAsync(EnvelopeCodes.NeedsAuthentication, key.OrgId, provider, null, [], [], context.Request, cancellationToken));
        }

        var visibleTargets = new List<BootstrapTarget>();
        var connectionIds = visible.Select(c => c.Id).ToHashSet(StringComparer.Ordinal);
        await foreach (var target in targets.ListAsync(key.OrgId, cancellationToken))
        {
            if (access.MayUse(target) || connectionIds.Contains(target.ConnectionId))
            {
                visibleTargets.Add(new BootstrapTarget(target.Id, target.Name, target.Provider, target.ConnectionId, target.RequiredScopes, target.Managed));
            }
        }

        return TypedResults.Ok(new
        {
            org = key.OrgId,
            key = new { id = key.Id, name = key.Name, prefix = key.Prefix },
            connections = visible,
            targets = visibleTargets,
            needs,
        });
    }

    /// <summary>The connection <c>POST /v1/providers/{provider}/token</c> uses when several could serve. Others are kept.</summary>
    private static async Task<IResult> SetDefaultAsync(string org, string provider, DefaultRequest? request, ClaimsPrincipal user, IOrgStore orgs,
        IConnectionStore connections, CancellationToken cancellationToken)
    {
        var found = await OrgAccess.FindAsync(org, user, orgs, cancellationToken);
        if (found.Problem is not null)
        {
            return found.Problem;
        }

        var validation = new Validation();
        var connectionId = validation.Required("connection_id", request?.ConnectionId, 64);
        if (!validation.IsValid)
        {
            return validation.Problem();
        }

        return await DefaultConnections.SetAsync(org, provider, connectionId!, orgs, connections, cancellationToken) switch
        {
            SetDefaultOutcome.ConnectionNotFound => Problems.NotFound("connection_not_found", $"No connection '{connectionId}' in org '{org}'."),
            SetDefaultOutcome.ProviderMismatch => Problems.Unprocessable("provider_mismatch", $"Connection '{connectionId}' is not a {provider} connection."),
            _ => TypedResults.Ok(new { org, provider, connection_id = connectionId }),
        };
    }
}
