using System.Security.Claims;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.AspNetCore.Routing;
using Valet.Core.Domain;
using Valet.Core.Providers;
using Valet.Core.Stores;
using Valet.Core.Tokens;
using Valet.Server.Auth;
using Valet.Server.Dashboard;
using Valet.Server.Flows;
using Valet.Server.Http;

namespace Valet.Server.Internal;

internal sealed record InternalConnectRequest(string? Org, string? Provider, string[]? Scopes, string? CallbackTransport, string? ClientId,
    string? ClientSecret, bool? Force, Dictionary<string, string>? Parameters = null);

internal sealed record AlreadyConnectedResponse(string Status, string ConnectionId, string Provider, AccountResponse Account,
    IReadOnlyList<string>? GrantedScopes);

internal sealed record InternalStartResponse(string State, string AuthUrl, string FlowId, DateTimeOffset ExpiresAt, string RedirectUri);

internal sealed record InternalSignInLinkRequest(string? Org, string? Return);

internal sealed record InternalSignInLinkResponse(string Url, DateTimeOffset ExpiresAt);

internal sealed record AccountResponse(string Id, string? Login, string? Email);

internal sealed record InternalStatusResponse(string Status, string FlowId, string Provider, string? ConnectionId, AccountResponse? Account,
    IReadOnlyList<string>? GrantedScopes, string? Error, DateTimeOffset ExpiresAt);

/// <summary>
/// Routes for the local CLI, which holds the service token. Every other principal is refused (403), on every path:
/// the policy is on the group, and <see cref="UseInternalGuard"/> refuses any request whose normalised path reaches
/// <c>/internal</c> before routing.
/// </summary>
internal static class InternalEndpoints
{
    public static RouteGroupBuilder MapInternal(this IEndpointRouteBuilder routes)
    {
        var group = routes.MapGroup("/internal/oauth/connect").RequireAuthorization(ValetClaims.ServicePolicy).ExcludeFromDescription();
        group.MapPost("/start", StartAsync);
        group.MapGet("/status/{state}", StatusAsync);
        group.MapPost("/cancel/{state}", CancelAsync);
        routes.MapPost("/internal/dashboard/signin-link", SignInLinkAsync).RequireAuthorization(ValetClaims.ServicePolicy).ExcludeFromDescription();
        return group;
    }

    public static IApplicationBuilder UseInternalGuard(this IApplicationBuilder app) => app.Use(async (context, next) =>
    {
        var path = context.Request.PathBase.Add(context.Request.Path).Value ?? string.Empty;

        // Fast path for every other route: a path holding neither "internal" nor an escape cannot normalise to /internal.
        if (!path.Contains('%') && !path.Contains("internal", StringComparison.OrdinalIgnoreCase))
        {
            await next(context);
            return;
        }

        var normalised = Uri.UnescapeDataString(path).Replace('\\', '/');
        while (normalised.Contains("//", StringComparison.Ordinal))
        {
            normalised = normalised.Replace("//", "/", StringComparison.Ordinal);
        }

        if (normalised.Contains("/internal", StringComparison.OrdinalIgnoreCase) &&
            normalised.TrimStart('/').StartsWith("internal", StringComparison.OrdinalIgnoreCase) && !context.User.IsService())
        {
            await (context.User.Identity?.IsAuthenticated == true ? Problems.Forbidden("Only the service principal may use /internal routes: the CLI sends it from the data directory's service-token file, or from VALET_SERVICE_TOKEN against a hosted server that sets it.") : Problems.Unauthorized())
                .ExecuteAsync(context);
            return;
        }

        await next(context);
    });

    private static async Task<IResult> StartAsync(InternalConnectRequest? request, ConnectStarter starter, IConnectionStore connections,
        ICredentialStore credentials, IProviderCatalog catalog, TimeProvider time, CancellationToken cancellationToken)
    {
        var validation = new Validation();
        var org = request?.Org ?? Org.DefaultId;
        var providerId = validation.Required("provider", request?.Provider, 64);
        var transport = request?.CallbackTransport switch
        {
            null or "loopback" => CallbackTransport.Loopback,
            "gateway" => CallbackTransport.Gateway,
            _ => (CallbackTransport?)null,
        };
        if (transport is null)
        {
            validation.Add("callback_transport", "must be loopback or gateway");
        }

        if ((request?.ClientId is null) != (request?.ClientSecret is null))
        {
            validation.Add("client_id", "client_id and client_secret go together");
        }

        validation.Scopes("scopes", request?.Scopes, 100);
        if (!validation.IsValid)
        {
            return validation.Problem();
        }

        var provider = catalog.Find(providerId!);
        if (provider is null)
        {
            return Problems.Unprocessable("unknown_provider", $"Unknown provider '{providerId}'.");
        }

        var scopes = provider.AuthorizationScopes(request!.Scopes).ToArray();
        var parameters = ConnectionParameters.Normalize(provider, request.Parameters, out var parameterProblem);
        if (parameterProblem is not null)
        {
            return Problems.Unprocessable("invalid_parameters", parameterProblem);
        }

        if (request.Force != true)
        {
            // Protocol scopes and the provider's required ones (Valet's own: refresh, identity) are not API permissions the
            // caller asked for, and providers often leave them out of the granted list or spell them differently.
            var needed = scopes.Where(s => s is not ("openid" or "offline_access") && !provider.RequiredScopes.Contains(s, StringComparer.Ordinal)).ToList();
            await foreach (var existing in connections.ListAsync(org, cancellationToken))
            {
                if (existing.Provider == provider.Id && existing.Status == ConnectionStatus.Active && ScopeCheck.Missing(existing.Scopes, needed).Count == 0
                    && SameParameters(existing.Parameters, parameters))
                {
                    return TypedResults.Ok(new AlreadyConnectedResponse("already_connected", existing.Id, provider.Id,
                        new AccountResponse(existing.AccountId, existing.AccountLogin, existing.AccountEmail), existing.Scopes));
                }
            }
        }

        string? credentialId = null;
        if (request.ClientId is not null)
        {
            credentialId = await FindOrCreateCredentialAsync(org, provider.Id, request.ClientId, request.ClientSecret!, credentials, time, cancellationToken);
        }

        var (started, problem) = await starter.StartAsync(org, provider.Id, scopes, credentialId, transport!.Value, null, parameters, cancellationToken);
        return problem ?? TypedResults.Ok(new InternalStartResponse(started!.State, started.AuthorizationUrl.AbsoluteUri, started.Flow.Id,
            started.Flow.ExpiresAt, started.Flow.RedirectUri));
    }

    /// <summary>An existing connection serves only for the same connection parameters (another Zendesk subdomain is another account).</summary>
    private static bool SameParameters(IReadOnlyDictionary<string, string>? stored, IReadOnlyDictionary<string, string>? requested) =>
        (stored?.Count ?? 0) == (requested?.Count ?? 0)
        && (requested ?? new Dictionary<string, string>()).All(p => stored!.TryGetValue(p.Key, out var v) && string.Equals(v, p.Value, StringComparison.Ordinal));

    /// <summary><c>valet dashboard</c>: a single-use, five-minute sign-in link for the local operator.</summary>
    private static async Task<Results<Ok<InternalSignInLinkResponse>, ProblemResult>> SignInLinkAsync(InternalSignInLinkRequest? request,
        SignInLinks links, CancellationToken cancellationToken)
    {
        var org = request?.Org ?? Org.DefaultId;
        var returnPath = request?.Return ?? "/";
        if (!ReturnUrls.IsLocalPath(returnPath))
        {
            return Problems.BadRequest("invalid_return_url", "return must be a plain path on this server.");
        }

        return await links.IssueAsync(org, returnPath, cancellationToken) is { } link
            ? TypedResults.Ok(new InternalSignInLinkResponse(link.Url, link.ExpiresAt))
            : Problems.NotFound("org_not_found", $"No org '{org}'.");
    }

    private static async Task<Results<Ok<InternalStatusResponse>, ProblemResult>> StatusAsync(string state, IFlowStore flows, IConnectionStore connections, TimeProvider time,
        CancellationToken cancellationToken)
    {
        var flow = state.Length <= 512 ? await flows.FindByStateAsync(Ids.Sha256Hex(state), time.GetUtcNow(), cancellationToken) : null;
        if (flow is null)
        {
            return Problems.NotFound("flow_not_found", "No flow for this state.");
        }

        AccountResponse? account = null;
        if (flow.ConnectionId is not null && await connections.FindAsync(flow.ConnectionId, cancellationToken) is { } connection)
        {
            account = new AccountResponse(connection.AccountId, connection.AccountLogin, connection.AccountEmail);
        }

        return TypedResults.Ok(new InternalStatusResponse(FlowResponse.StatusOf(flow.Status), flow.Id, flow.Provider, flow.ConnectionId, account,
            flow.GrantedScopes, flow.Error, flow.ExpiresAt));
    }

    /// <summary>
    /// The CLI gave up on its flow (timeout, Ctrl+C): a still-pending flow ends as <c>cancelled</c> and this node's loopback
    /// listener for it closes now rather than at the flow's expiry, so a consent given later connects nothing nobody waits
    /// for. A flow already past the callback (exchanging, decided) is left to finish. 204, or 404 for an unknown state.
    /// </summary>
    private static async Task<IResult> CancelAsync(string state, IFlowStore flows, LoopbackCallbacks loopback, TimeProvider time,
        CancellationToken cancellationToken)
    {
        var now = time.GetUtcNow();
        var flow = state.Length <= 512 ? await flows.FindByStateAsync(Ids.Sha256Hex(state), now, cancellationToken) : null;
        if (flow is null)
        {
            return Problems.NotFound("flow_not_found", "No flow for this state.");
        }

        if (flow.Status == FlowStatus.Pending)
        {
            await flows.FailAsync(flow.Id, "cancelled", now, cancellationToken);
        }

        if (flow.RedirectUri is { } redirectUri)
        {
            await loopback.CloseAsync(redirectUri);
        }

        return TypedResults.NoContent();
    }

    internal static async Task<string> FindOrCreateCredentialAsync(string org, string provider, string clientId, string clientSecret,
        ICredentialStore credentials, TimeProvider time, CancellationToken cancellationToken)
    {
        await foreach (var credential in credentials.ListAsync(org, cancellationToken))
        {
            if (credential.Provider == provider && credential.ClientId == clientId && credential.ClientSecret?.Reveal() == clientSecret)
            {
                return credential.Id;
            }
        }

        var created = new Credential
        {
            Id = Ids.New("cred"),
            OrgId = org,
            Provider = provider,
            ClientId = clientId,
            ClientSecret = new Secret(clientSecret),
            CreatedAt = time.GetUtcNow(),
        };
        await credentials.CreateAsync(created, cancellationToken);
        return created.Id;
    }
}
