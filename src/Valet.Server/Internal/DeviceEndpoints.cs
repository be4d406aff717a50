using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;
using Valet.Core.Domain;
using Valet.Core.Flows;
using Valet.Core.Providers;
using Valet.Core.Stores;
using Valet.Server.Auth;
using Valet.Server.Http;

namespace Valet.Server.Internal;

internal sealed record InternalDeviceRequest(string? Org, string? Provider, string[]? Scopes, string? ClientId, string? ClientSecret);

/// <summary>
/// The CLI's device flow (<c>valet connect PROVIDER --device</c>). <c>state</c> is the handle to poll with (only its
/// hash is stored); the user code and verification URI are what the person needs, shown on the CLI's stderr.
/// </summary>
internal sealed record InternalDeviceStartResponse(string State, string FlowId, string UserCode, string VerificationUri, string? VerificationUriComplete,
    DateTimeOffset ExpiresAt, int Interval);

internal static class DeviceEndpoints
{
    public static RouteGroupBuilder MapDeviceConnect(this IEndpointRouteBuilder routes)
    {
        var group = routes.MapGroup("/internal/oauth/connect/device").RequireAuthorization(ValetClaims.ServicePolicy).ExcludeFromDescription();
        group.MapPost("", StartAsync);
        group.MapGet("/{state}", StatusAsync);
        group.MapPost("/{state}/cancel", CancelAsync);
        return group;
    }

    /// <summary>
    /// The CLI gave up (<c>--timeout</c>, Ctrl+C): the flow ends as <c>cancelled</c> and no node polls it again, so a code
    /// entered later (by the person, or by whoever else saw it) connects nothing. A flow already decided is left as it is
    /// (409 <c>flow_decided</c>).
    /// </summary>
    private static async Task<IResult> CancelAsync(string state, IDeviceFlowStore flows, TimeProvider time, CancellationToken cancellationToken)
    {
        var flow = state.Length <= 512 ? await flows.FindByHandleAsync(Ids.Sha256Hex(state), cancellationToken) : null;
        if (flow is null)
        {
            return Problems.NotFound("flow_not_found", "No device flow for this state.");
        }

        // Atomic: a poll that already claimed the flow to store its grant wins, and the CLI is told so (it then reports
        // the connection instead of saying nothing was connected). Cancelling twice is fine.
        if (await flows.TryCancelAsync(flow.Id, cancellationToken) || flow is { Status: DeviceFlowStatus.Error, Error: "cancelled" })
        {
            return TypedResults.NoContent();
        }

        return Problems.Conflict("flow_decided", Interrupted(flow, time)
            ? "This device flow was not cancelled: the code was approved, but the node storing its connection stopped before it did, so nothing was stored. Start again."
            : "This device flow was not cancelled: the code was already approved (its connection is stored, or being stored) or the flow had ended.");
    }

    private static async Task<IResult> StartAsync(InternalDeviceRequest? request, DeviceFlowEngine engine, IProviderCatalog catalog, IOrgStore orgs,
        ICredentialStore credentials, TimeProvider time, HttpContext http, CancellationToken cancellationToken)
    {
        var validation = new Validation();
        var org = request?.Org ?? Org.DefaultId;
        var provider = validation.Required("provider", request?.Provider, 64);
        if ((request?.ClientId is null) != (request?.ClientSecret is null))
        {
            validation.Add("client_id", "client_id and client_secret go together");
        }

        validation.Scopes("scopes", request?.Scopes, 100);

        if (!validation.IsValid)
        {
            return validation.Problem();
        }

        if (org.Length > 64 || await orgs.FindAsync(org, cancellationToken) is null)
        {
            return Problems.NotFound("org_not_found", "No such org.");
        }

        string? credentialId = null;
        if (request!.ClientId is not null)
        {
            if (catalog.Find(provider!) is not { } definition)
            {
                return Problems.Unprocessable("unknown_provider", $"Unknown provider '{provider}'.");
            }

            // Checked before the client is stored: a provider without the grant must not leave a stray credential behind.
            if (DeviceFlowEngine.Unsupported(definition) is { } unsupported)
            {
                return Problems.Unprocessable("device_flow_unsupported", unsupported);
            }

            credentialId = await InternalEndpoints.FindOrCreateCredentialAsync(org, definition.Id, request.ClientId, request.ClientSecret!, credentials, time,
                cancellationToken);
        }

        var start = await engine.StartAsync(org, provider!, request.Scopes, credentialId, cancellationToken);
        return start.Error switch
        {
            null => TypedResults.Ok(new InternalDeviceStartResponse(start.Handle!, start.Flow!.Id, start.Flow.UserCode, start.Flow.VerificationUri,
                start.Flow.VerificationUriComplete, start.Flow.ExpiresAt, start.Flow.IntervalSeconds)),
            DeviceStartError.UnknownProvider => Problems.Unprocessable("unknown_provider", start.Detail!),
            DeviceStartError.NotSupported => Problems.Unprocessable("device_flow_unsupported", start.Detail!),
            DeviceStartError.NoClient => Problems.Unprocessable("no_client", start.Detail!),
            DeviceStartError.ProviderRefused => Problems.Unprocessable("device_authorization_refused", start.Detail!),
            _ => Problems.ProviderUnavailable(http.Response, timedOut: false, start.Detail),
        };
    }

    private static async Task<IResult> StatusAsync(string state, IDeviceFlowStore flows, IConnectionStore connections, TimeProvider time,
        CancellationToken cancellationToken)
    {
        var flow = state.Length <= 512 ? await flows.FindByHandleAsync(Ids.Sha256Hex(state), cancellationToken) : null;
        if (flow is null)
        {
            return Problems.NotFound("flow_not_found", "No device flow for this state.");
        }

        var interrupted = Interrupted(flow, time);
        var status = flow.Status switch
        {
            DeviceFlowStatus.Pending when time.GetUtcNow() >= flow.ExpiresAt => "expired",
            DeviceFlowStatus.Pending => "pending",
            DeviceFlowStatus.Completing when interrupted => "error",
            DeviceFlowStatus.Completing => "pending", // approved, being stored: "complete" in a moment
            DeviceFlowStatus.Complete => "complete",
            DeviceFlowStatus.Expired => "expired",
            _ => "error",
        };
        AccountResponse? account = null;
        IReadOnlyList<string>? granted = null;
        if (flow.ConnectionId is not null && await connections.FindAsync(flow.ConnectionId, cancellationToken) is { } connection)
        {
            account = new AccountResponse(connection.AccountId, connection.AccountLogin, connection.AccountEmail);
            granted = connection.Scopes;
        }

        return TypedResults.Ok(new InternalStatusResponse(status, flow.Id, flow.Provider, flow.ConnectionId, account, granted,
            interrupted ? "interrupted" : flow.Error, flow.ExpiresAt));
    }

    /// <summary>
    /// Storing an approved grant is one database write, seconds at most: a flow still <c>completing</c> this long after it
    /// began was left by a node that stopped (killed, or its database connection lost) and will never finish. It reads as
    /// an error, as a browser flow left <c>exchanging</c> expires, instead of <c>pending</c> for ever (docs/storage.md).
    /// </summary>
    internal static readonly TimeSpan CompletingLimit = TimeSpan.FromMinutes(2);

    private static bool Interrupted(DeviceFlow flow, TimeProvider time) =>
        flow.Status == DeviceFlowStatus.Completing && time.GetUtcNow() - flow.UpdatedAt >= CompletingLimit;
}
