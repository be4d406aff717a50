using System.Security.Claims;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.AspNetCore.Routing;
using Valet.Core.Access;
using Valet.Core.Domain;
using Valet.Core.Providers;
using Valet.Core.Stores;
using Valet.Server.Auth;
using Valet.Server.Connections;
using Valet.Server.Http;
using Valet.Server.Orgs;

namespace Valet.Server.Tokens;

/// <summary>A connection this key may use; <c>envelope</c> when a person must reconnect it.</summary>
internal sealed record BootstrapConnection(string Id, string Provider, ConnectionAccount Account, string Status, IReadOnlyList<string>? Scopes,
    DateTimeOffset? ExpiresAt, AuthEnvelope? Envelope);

internal sealed record BootstrapTarget(string Id, string Name, string Provider, string ConnectionId, IReadOnlyList<string> RequiredScopes, bool Managed);

internal sealed record BootstrapKey(string Id, string Name, string Prefix);

/// <summary>What an API key may use. <c>needs</c>: a <c>needs_authentication</c> envelope per provider the key names but has no connection of.</summary>
internal sealed record BootstrapResponse(string Org, BootstrapKey Key, IReadOnlyList<BootstrapConnection> Connections, IReadOnlyList<BootstrapTarget> Targets,
    IReadOnlyList<AuthEnvelope> Needs);

internal sealed record DefaultRequest([property: System.ComponentModel.DataAnnotations.Required] string? ConnectionId);

/// <summary>The documented shape of <c>PUT /v1/orgs/{org}/defaults/{provider}</c>'s answer (the handler writes the same members).</summary>
internal sealed record DefaultResponse(string Org, string Provider, string ConnectionId);

internal static class BootstrapEndpoints
{
    public static void MapBootstrap(this IEndpointRouteBuilder routes)
    {
        routes.MapGet("/v1/bootstrap", BootstrapAsync).RequireAuthorization(ValetClaims.AgentPolicy).WithTags(AgentOpenApi.Tag)
            .WithName("Bootstrap")
            .WithSummary("What this API key may use")
            .WithDescription("Its connections (id, provider, account, status, scopes), its targets, and for each thing that needs a person " +
                "its auth-recovery envelope: on a connection to reconnect, or in needs for a provider with no connection yet. An agent calls this first.");
        routes.MapPut("/v1/orgs/{org}/defaults/{provider}", SetDefaultAsync).RequireAuthorization(ValetClaims.OperatorPolicy).WithTags("Connections")
            .WithName("SetDefaultConnection").WithSummary("Make a connection the org's default (active) one for its provider")
            .Produces<DefaultResponse>()
            .ProducesProblemCodes(StatusCodes.Status404NotFound, "org_not_found", "unknown_provider", "connection_not_found")
            .ProducesProblemCodes(StatusCodes.Status422UnprocessableEntity, "validation_failed", "provider_mismatch");
    }

    /// <summary>What this key may use, and for each thing that needs a person, its envelope. An agent calls this first.</summary>
    private static async Task<Results<Ok<BootstrapResponse>, ProblemResult>> BootstrapAsync(HttpContext context,
        AgentAccess access, Envelopes envelopes, CancellationToken cancellationToken)
    {
        if (context.User is not ApiKeyPrincipal agent)
        {
            return Problems.Forbidden("Bootstrap is for API keys.");
        }

        return TypedResults.Ok(await BuildAsync(agent.Key, access, envelopes, cancellationToken));
    }

    /// <summary>The bootstrap for <paramref name="apiKey"/> (also the MCP <c>list_connections</c> tool's answer).</summary>
    public static async Task<BootstrapResponse> BuildAsync(ApiKey apiKey, AgentAccess access, Envelopes envelopes, CancellationToken cancellationToken)
    {
        var overview = await access.OverviewAsync(apiKey, cancellationToken);
        var visible = new List<BootstrapConnection>(overview.Connections.Count);
        foreach (var (connection, envelope) in overview.Connections)
        {
            visible.Add(new BootstrapConnection(connection.Id, connection.Provider,
                new ConnectionAccount(connection.AccountId, connection.AccountLogin, connection.AccountEmail),
                connection.Status == ConnectionStatus.Active ? "active" : "reauth_required", connection.Scopes, connection.ExpiresAt,
                envelope is null ? null : await envelopes.BuildAsync(envelope, cancellationToken)));
        }

        var needs = new List<AuthEnvelope>(overview.Needs.Count);
        foreach (var envelope in overview.Needs)
        {
            needs.Add(await envelopes.BuildAsync(envelope, cancellationToken));
        }

        var targets = new List<BootstrapTarget>(overview.Targets.Count);
        foreach (var target in overview.Targets)
        {
            targets.Add(new BootstrapTarget(target.Id, target.Name, target.Provider, target.ConnectionId, target.RequiredScopes, target.Managed));
        }

        var key = overview.Key;
        return new BootstrapResponse(key.OrgId, new BootstrapKey(key.Id, key.Name, key.Prefix), visible, targets, needs);
    }

    /// <summary>The connection <c>POST /v1/providers/{provider}/token</c> uses when several could serve. Others are kept.</summary>
    private static async Task<IResult> SetDefaultAsync(string org, string provider, DefaultRequest? request, ClaimsPrincipal user, IOrgStore orgs,
        IConnectionStore connections, IProviderCatalog catalog, CancellationToken cancellationToken)
    {
        var found = await OrgAccess.FindAsync(org, user, orgs, cancellationToken);
        if (found.Problem is not null)
        {
            return found.Problem;
        }

        if (catalog.Find(provider) is null)
        {
            return Problems.NotFound("unknown_provider", $"No provider '{provider}' (GET /v1/providers lists them).");
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
