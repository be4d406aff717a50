using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using Valet.Core.Connections;
using Valet.Core.Domain;
using Valet.Core.OAuth;
using Valet.Core.Providers;
using Valet.Core.Stores;

namespace Valet.Core.Flows;

/// <summary>
/// Server-owned authorization-code + PKCE flows. Flows live in the database, so any process or node can finish one.
/// The state (256 bits) is stored only as a hash, is single use, and is bound to its flow and org.
/// </summary>
public sealed partial class FlowEngine(
    IOrgStore orgs,
    ICredentialStore credentials,
    IFlowStore flows,
    IProviderCatalog catalog,
    IOAuthClient oauth,
    ClientResolver clients,
    ConnectionRegistry registry,
    IOptions<FlowOptions> options,
    TimeProvider time,
    ILogger<FlowEngine> logger,
    IHostApplicationLifetime? host = null,
    ISignInGate? signInGate = null)
{
    public TimeSpan Lifetime => options.Value.Lifetime;

    /// <summary>
    /// Checks a <c>return_url</c>: absolute http(s) on an allow-listed origin, or on <paramref name="ownOrigin"/> (Valet's own
    /// public origin, where the dashboard lives). Null means acceptable.
    /// </summary>
    public string? CheckReturnUrl(string? returnUrl, string? ownOrigin = null)
    {
        if (returnUrl is null)
        {
            return null;
        }

        if (returnUrl.Length > 2048 || !Uri.TryCreate(returnUrl, UriKind.Absolute, out var uri) ||
            (uri.Scheme != Uri.UriSchemeHttps && uri.Scheme != Uri.UriSchemeHttp) || !string.IsNullOrEmpty(uri.UserInfo))
        {
            return "return_url must be an absolute http(s) URL";
        }

        var origin = uri.GetLeftPart(UriPartial.Authority);
        return string.Equals(ownOrigin, origin, StringComparison.OrdinalIgnoreCase)
            || options.Value.ReturnUrlOrigins.Any(o => string.Equals(o.TrimEnd('/'), origin, StringComparison.OrdinalIgnoreCase))
            ? null
            : $"return_url origin {origin} is not allowed (Flows:ReturnUrlOrigins)";
    }

    public async Task<FlowStart> StartAsync(StartFlowRequest request, CancellationToken cancellationToken)
    {
        if (await orgs.FindAsync(request.OrgId, cancellationToken) is null)
        {
            return FlowStart.Failed(FlowStartError.OrgNotFound, $"No org '{request.OrgId}'.");
        }

        var provider = catalog.Find(request.Provider);
        if (provider is null)
        {
            return FlowStart.Failed(FlowStartError.UnknownProvider, $"Unknown provider '{request.Provider}'.");
        }

        // Only authorization-code providers have a person to send anywhere; the others are created by an operator.
        if (provider.AuthMode != AuthMode.OAuth2)
        {
            return FlowStart.Failed(FlowStartError.NotConnectable,
                $"Provider '{provider.Id}' uses {AuthModes.Name(provider.AuthMode)}: an operator creates its connections (POST /v1/orgs/{{org}}/connections, valet connections add).");
        }

        if (CheckReturnUrl(request.ReturnUrl, request.OwnOrigin) is { } returnUrlProblem)
        {
            return FlowStart.Failed(FlowStartError.InvalidReturnUrl, returnUrlProblem);
        }

        // A templated provider (a Zendesk subdomain…): the values are checked, and the URLs they give, before any row exists.
        var parameters = ConnectionParameters.Normalize(provider, request.Parameters, out var parameterProblem);
        var bound = parameterProblem is null ? ConnectionParameters.Bind(provider, parameters, out parameterProblem) : null;
        if (bound is null)
        {
            return FlowStart.Failed(FlowStartError.InvalidParameters, parameterProblem ?? "Invalid connection parameters.");
        }

        if (request.CredentialId is not null)
        {
            var credential = await credentials.FindAsync(request.CredentialId, cancellationToken);
            if (credential is null)
            {
                return FlowStart.Failed(FlowStartError.CredentialNotFound, $"No credential '{request.CredentialId}'.");
            }

            if (credential.OrgId != request.OrgId || credential.Provider != provider.Id)
            {
                return FlowStart.Failed(FlowStartError.CredentialMismatch, "The credential belongs to another org or provider.");
            }
        }

        // No client named: the org's own for this provider, else the platform's; the flow (and so the connection) pins it.
        request = request with { CredentialId = request.CredentialId ?? await clients.OrgCredentialIdAsync(request.OrgId, provider.Id, cancellationToken) };
        var client = await clients.ResolveAsync(provider, request.CredentialId, cancellationToken);
        if (client is null)
        {
            return FlowStart.Failed(FlowStartError.NoClient,
                $"Provider '{provider.Id}' has no OAuth client: set VALET_PROVIDERS__{provider.Id.ToUpperInvariant()}__CLIENTID and __CLIENTSECRET, or register one with POST /v1/orgs/{{org}}/credentials (valet credentials add).");
        }

        var scopes = provider.AuthorizationScopes(request.Scopes);
        var now = time.GetUtcNow();
        if (request.ForEnvelope)
        {
            return await EnvelopeFlowAsync(request, provider.Id, scopes, parameters, now, cancellationToken);
        }

        var cap = request.SignIn ? options.Value.MaxPendingSignInsPerOrg : options.Value.MaxPendingPerOrg;
        if (await flows.CountPendingAsync(request.OrgId, request.SignIn, now, cancellationToken) >= cap)
        {
            return request.SignIn
                ? FlowStart.Failed(FlowStartError.TooManyPending,
                    $"The org has {cap} unfinished provider sign-ins (Flows:MaxPendingSignInsPerOrg); try again when some have ended or expired.")
                : TooManyPending();
        }

        var state = Ids.RandomToken(32);
        var verifier = Pkce.CreateVerifier();
        var flow = new Flow
        {
            Id = Ids.New("flow"),
            OrgId = request.OrgId,
            Provider = provider.Id,
            CredentialId = request.CredentialId,
            Scopes = scopes,
            StateHash = Ids.Sha256Hex(state),
            CodeVerifier = new Secret(verifier),
            RedirectUri = request.RedirectUri,
            Transport = request.Transport,
            ReturnUrl = request.ReturnUrl,
            SignIn = request.SignIn,
            Parameters = parameters,
            CreatedAt = now,
            ExpiresAt = now + Lifetime,
        };
        await flows.CreateAsync(flow, cancellationToken);

        var url = oauth.BuildAuthorizationUrl(bound, new AuthorizationRequest
        {
            ClientId = client.ClientId,
            RedirectUri = request.RedirectUri,
            Scopes = scopes,
            State = state,
            CodeChallenge = Pkce.ComputeChallenge(verifier),
        });
        LogFlowStarted(logger, flow.Id, flow.OrgId, provider.Id, flow.Transport);
        return new FlowStart { Flow = flow, State = state, AuthorizationUrl = url };
    }

    private FlowStart TooManyPending() => FlowStart.Failed(FlowStartError.TooManyPending,
        $"The org has {options.Value.MaxPendingPerOrg} unfinished flows (Flows:MaxPendingPerOrg); try again when some have ended or expired.");

    /// <summary>
    /// The flow an envelope points at: the one reusable flow for (org, provider, credential, scopes), else a new one. Its
    /// state is never revealed (no authorization URL is returned): the connect link re-arms it for the person who opens it.
    /// </summary>
    private async Task<FlowStart> EnvelopeFlowAsync(StartFlowRequest request, string providerId, List<string> scopes,
        IReadOnlyDictionary<string, string>? parameters, DateTimeOffset now, CancellationToken cancellationToken)
    {
        var key = Ids.Sha256Hex(string.Join('\n', request.OrgId, providerId, request.CredentialId ?? string.Empty,
            string.Join(' ', scopes.Order(StringComparer.Ordinal)),
            string.Join('&', (parameters ?? new Dictionary<string, string>()).OrderBy(p => p.Key, StringComparer.Ordinal).Select(p => p.Key + "=" + p.Value))));
        var candidate = new Flow
        {
            Id = Ids.New("flow"),
            OrgId = request.OrgId,
            Provider = providerId,
            CredentialId = request.CredentialId,
            Scopes = scopes,
            StateHash = Ids.Sha256Hex(Ids.RandomToken(32)),
            CodeVerifier = new Secret(Pkce.CreateVerifier()),
            RedirectUri = request.RedirectUri,
            Transport = CallbackTransport.Gateway,
            EnvelopeKey = key,
            Parameters = parameters,
            CreatedAt = now,
            ExpiresAt = now + Lifetime,
        };

        var (flow, created) = await flows.FindOrCreateEnvelopeFlowAsync(candidate, options.Value.MaxPendingPerOrg, now, cancellationToken);
        if (flow is null)
        {
            return TooManyPending();
        }

        if (created)
        {
            LogFlowStarted(logger, flow.Id, flow.OrgId, providerId, flow.Transport);
        }

        return new FlowStart { Flow = flow };
    }

    /// <summary>
    /// Arms an existing flow (minted by an envelope) with a fresh state and verifier; returns the authorization URL, or
    /// null when the flow is finished, gone, or its client is no longer configured.
    /// </summary>
    public async Task<Uri?> RearmAsync(string flowId, string redirectUri, CancellationToken cancellationToken)
    {
        var now = time.GetUtcNow();
        var flow = await flows.FindAsync(flowId, now, cancellationToken);
        // Only an envelope's flow is re-armed (a connect link): a CLI's or API caller's flow keeps the state its owner polls
        // with, and a sign-in flow belongs to the browser that started it.
        if (flow is null || flow.EnvelopeKey is null || flow.SignIn || flow.Status is not (FlowStatus.Pending or FlowStatus.Expired) ||
            catalog.Find(flow.Provider) is not { } found ||
            ConnectionParameters.Bind(found, flow.Parameters, out _) is not { } provider ||
            await clients.ResolveAsync(provider, flow.CredentialId, cancellationToken) is not { } client)
        {
            return null;
        }

        var state = Ids.RandomToken(32);
        var verifier = Pkce.CreateVerifier();
        if (!await flows.RearmAsync(flow.Id, Ids.Sha256Hex(state), new Secret(verifier), redirectUri, now + Lifetime, cancellationToken))
        {
            return null;
        }

        return oauth.BuildAuthorizationUrl(provider, new AuthorizationRequest
        {
            ClientId = client.ClientId,
            RedirectUri = redirectUri,
            Scopes = flow.Scopes,
            State = state,
            CodeChallenge = Pkce.ComputeChallenge(verifier),
        });
    }

    [LoggerMessage(EventId = 3000, Level = LogLevel.Information, Message = "Flow {FlowId} started for org {OrgId} at {Provider} ({Transport})")]
    private static partial void LogFlowStarted(ILogger logger, string flowId, string orgId, string provider, CallbackTransport transport);

    [LoggerMessage(EventId = 3001, Level = LogLevel.Information, Message = "Flow {FlowId} completed: connection {ConnectionId} (created: {Created})")]
    private static partial void LogFlowCompleted(ILogger logger, string flowId, string connectionId, bool created);

    [LoggerMessage(EventId = 3002, Level = LogLevel.Warning, Message = "Flow {FlowId} failed: {Error}")]
    private static partial void LogFlowFailed(ILogger logger, string flowId, string error);

    [LoggerMessage(EventId = 3003, Level = LogLevel.Warning, Message = "Callback rejected for flow {FlowId}: {Error}")]
    private static partial void LogCallbackRejected(ILogger logger, string flowId, string error);

    [LoggerMessage(EventId = 3005, Level = LogLevel.Warning, Message = "Flow {FlowId} could not be finished ({Error}): {ExceptionType}")]
    private static partial void LogFinishFailed(ILogger logger, string flowId, string error, string exceptionType);

    [LoggerMessage(EventId = 3006, Level = LogLevel.Warning,
        Message = "Sign-in refused for flow {FlowId}: the {Provider} account {AccountId} is not on VALET_DASHBOARD__OPERATORS (the entry {Provider}:{AccountId} would admit it)")]
    private static partial void LogSignInRefused(ILogger logger, string flowId, string provider, string accountId);

    [LoggerMessage(EventId = 3004, Level = LogLevel.Warning, Message = "Code exchange for flow {FlowId} failed: {Kind} ({Code})")]
    private static partial void LogExchangeFailed(ILogger logger, string flowId, TokenErrorKind kind, string code);
}
