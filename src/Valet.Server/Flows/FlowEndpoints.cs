using System.ComponentModel;
using System.Security.Claims;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.AspNetCore.Routing;
using Valet.Core.Domain;
using Valet.Core.Stores;
using Valet.Server.Auth;
using Valet.Server.Http;
using Valet.Server.Orgs;

namespace Valet.Server.Flows;

internal sealed record ConnectRequest([property: System.ComponentModel.DataAnnotations.Required] string? Provider, string[]? Scopes, string? CredentialId, string? ReturnUrl,
    Dictionary<string, string>? Parameters = null);

internal sealed record ConnectResponse(string FlowId, string AuthorizeUrl, DateTimeOffset ExpiresAt);

/// <summary>What anyone waiting on a flow sees. <c>exchanging</c> is reported as <c>pending</c>.</summary>
internal sealed record FlowResponse(string FlowId, string Status, string Provider, string Org, DateTimeOffset ExpiresAt,
    string? ConnectionId, IReadOnlyList<string>? GrantedScopes, string? Error)
{
    public static FlowResponse From(Flow flow) => new(flow.Id, StatusOf(flow.Status), flow.Provider, flow.OrgId, flow.ExpiresAt,
        flow.ConnectionId, flow.GrantedScopes, flow.Error);

    public static string StatusOf(FlowStatus status) => status switch
    {
        FlowStatus.Complete => "complete",
        FlowStatus.Error => "error",
        FlowStatus.Expired => "expired",
        _ => "pending",
    };
}

internal static class FlowEndpoints
{
    public const int MaxWaitSeconds = 120;

    public static RouteGroupBuilder MapFlows(this IEndpointRouteBuilder routes)
    {
        var org = routes.MapOrgGroup("Flows");
        org.MapPost("/connect", ConnectAsync).WithName("StartConnect")
            .WithSummary("Start a connect flow: send a person to authorize_url, then wait on the flow")
            .Produces<ConnectResponse>(StatusCodes.Status201Created)
            .ProducesProblemCodes(StatusCodes.Status400BadRequest, "invalid_return_url")
            .ProducesProblemCodes(StatusCodes.Status404NotFound, "credential_not_found")
            .ProducesProblemCodes(StatusCodes.Status422UnprocessableEntity, "validation_failed", "unknown_provider", "credential_mismatch", "no_client",
                "invalid_parameters", "not_connectable")
            .ProducesProblemCodes(StatusCodes.Status429TooManyRequests, "too_many_pending_flows");

        var group = routes.MapGroup("/v1/flows").RequireAuthorization(ValetClaims.FlowReaderPolicy).WithTags("Flows")
            .ProducesProblemCodes(StatusCodes.Status404NotFound, "flow_not_found");
        group.MapGet("/{id}", GetAsync).WithName("GetFlow").WithSummary("Read a flow's state");
        group.MapGet("/{id}/wait", WaitAsync).WithName("WaitForFlow")
            .WithSummary("Long poll: answers when the flow is decided, or with its pending state after timeout seconds")
            .ProducesProblemCodes(StatusCodes.Status400BadRequest, "invalid_timeout", "invalid_request");
        return group;
    }

    /// <summary>Not a typed union: the starter's refusals include a 429 with Retry-After (<see cref="RetryAfterResult"/>).</summary>
    private static async Task<IResult> ConnectAsync(string org, ConnectRequest? request, ConnectStarter starter, CancellationToken cancellationToken)
    {
        var validation = new Validation();
        var provider = validation.Required("provider", request?.Provider, 64);
        validation.Scopes("scopes", request?.Scopes, 100);

        if (!validation.IsValid)
        {
            return validation.Problem();
        }

        var (started, problem) = await starter.StartAsync(org, provider!, request!.Scopes, request.CredentialId, CallbackTransport.Gateway,
            request.ReturnUrl, request.Parameters, cancellationToken);
        return problem ?? TypedResults.Created($"/v1/flows/{started!.Flow.Id}",
            new ConnectResponse(started.Flow.Id, started.AuthorizationUrl.AbsoluteUri, started.Flow.ExpiresAt));
    }

    private static async Task<Results<Ok<FlowResponse>, ProblemResult>> GetAsync(string id, ClaimsPrincipal user, IFlowStore flows, TimeProvider time, CancellationToken cancellationToken)
    {
        var flow = await FindAsync(id, user, flows, time, cancellationToken);
        return flow is null ? FlowNotFound() : TypedResults.Ok(FlowResponse.From(flow));
    }

    /// <summary>
    /// Long poll: answers as soon as the flow is decided, or with its pending state after <c>timeout</c> seconds. Never
    /// later than the flow's expiry: past it the store reads the flow as expired.
    /// </summary>
    private static async Task<Results<Ok<FlowResponse>, ProblemResult>> WaitAsync(string id, [Description("Seconds to wait, 0 to 120 (default 30).")] int? timeout, ClaimsPrincipal user, IFlowStore flows, TimeProvider time,
        CancellationToken cancellationToken)
    {
        if (timeout is < 0 or > MaxWaitSeconds)
        {
            return Problems.BadRequest("invalid_timeout", $"timeout must be between 0 and {MaxWaitSeconds} seconds.");
        }

        var flow = await FindAsync(id, user, flows, time, cancellationToken);
        if (flow is null)
        {
            return FlowNotFound();
        }

        var deadline = time.GetUtcNow().AddSeconds(timeout ?? 30);
        while (flow is { Status: FlowStatus.Pending or FlowStatus.Exchanging } && time.GetUtcNow() < deadline)
        {
            var untilExpiry = flow.ExpiresAt - time.GetUtcNow();
            var pause = TimeSpan.FromMilliseconds(250);
            await Task.Delay(untilExpiry < pause ? TimeSpan.FromMilliseconds(Math.Max(untilExpiry.TotalMilliseconds, 1)) : pause, time, cancellationToken);
            flow = await flows.FindAsync(id, time.GetUtcNow(), cancellationToken);
        }

        return flow is null ? FlowNotFound() : TypedResults.Ok(FlowResponse.From(flow));
    }

    private static async Task<Flow?> FindAsync(string id, ClaimsPrincipal user, IFlowStore flows, TimeProvider time, CancellationToken cancellationToken)
    {
        var flow = id.Length <= 64 ? await flows.FindAsync(id, time.GetUtcNow(), cancellationToken) : null;
        // An agent key reads the flows of its own org only (the ones its envelopes name); another org's flow is not found.
        return flow is not null && (user.CanOperate(flow.OrgId) || (user.IsInRole(ValetClaims.RoleAgent) && user.OrgId() == flow.OrgId))
            ? flow : null;
    }

    private static ProblemResult FlowNotFound() => Problems.NotFound("flow_not_found", "No such flow.");
}
