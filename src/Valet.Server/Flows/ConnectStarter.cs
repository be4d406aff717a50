using Microsoft.AspNetCore.Http;
using Valet.Core.Domain;
using Valet.Core.Flows;
using Valet.Server.Hosting;
using Valet.Server.Http;

namespace Valet.Server.Flows;

/// <summary>Starts a flow for either entry point (operator API, service principal), choosing the redirect URI.</summary>
internal sealed class ConnectStarter(FlowEngine engine, LoopbackCallbacks loopback, PublicBaseUrl publicBase)
{
    public sealed record Started(Flow Flow, string State, Uri AuthorizationUrl);

    /// <summary>The gateway callback: <c>{VALET_PUBLIC_URL}/oauth/callback</c>, else under this server's own first address.</summary>
    public string GatewayRedirectUri => publicBase.For("/oauth/callback");

    /// <summary>Valet's own origin: the dashboard sends its Connect buttons' flows back to itself.</summary>
    public string OwnOrigin => new Uri(publicBase.Value).GetLeftPart(UriPartial.Authority);

    public Task<(Started? Started, IResult? Problem)> StartAsync(string orgId, string provider, IReadOnlyList<string>? scopes,
        string? credentialId, CallbackTransport transport, string? returnUrl, CancellationToken cancellationToken) =>
        StartAsync(orgId, provider, scopes, credentialId, transport, returnUrl, signIn: false, parameters: null, cancellationToken);

    /// <summary>The same, with the connection parameters of a templated provider (a Zendesk <c>subdomain</c>…).</summary>
    public Task<(Started? Started, IResult? Problem)> StartAsync(string orgId, string provider, IReadOnlyList<string>? scopes,
        string? credentialId, CallbackTransport transport, string? returnUrl, IReadOnlyDictionary<string, string>? parameters,
        CancellationToken cancellationToken) =>
        StartAsync(orgId, provider, scopes, credentialId, transport, returnUrl, signIn: false, parameters, cancellationToken);

    /// <summary>A dashboard "Sign in with" flow (gateway, the provider's default scopes), landing on <paramref name="returnUrl"/>.</summary>
    public Task<(Started? Started, IResult? Problem)> StartSignInAsync(string orgId, string provider, string returnUrl, CancellationToken cancellationToken) =>
        StartAsync(orgId, provider, null, null, CallbackTransport.Gateway, returnUrl, signIn: true, parameters: null, cancellationToken);

    private async Task<(Started? Started, IResult? Problem)> StartAsync(string orgId, string provider, IReadOnlyList<string>? scopes,
        string? credentialId, CallbackTransport transport, string? returnUrl, bool signIn, IReadOnlyDictionary<string, string>? parameters,
        CancellationToken cancellationToken)
    {
        // Refuse a bad return_url before anything exists (no flow row, no listener). It later becomes a Location header,
        // which can carry only visible ASCII: anything else (control characters, spaces, raw non-ASCII) is refused here
        // rather than failing the callback after the connection is saved.
        if ((ReturnUrls.HasUnsafeCharacter(returnUrl) ? "return_url must be visible ASCII (percent-encode anything else)" : engine.CheckReturnUrl(returnUrl, OwnOrigin))
            is { } returnUrlProblem)
        {
            return (null, Problems.BadRequest("invalid_return_url", returnUrlProblem));
        }

        var listener = transport == CallbackTransport.Loopback ? await loopback.OpenAsync(engine.Lifetime, cancellationToken) : null;
        FlowStart start;
        try
        {
            start = await engine.StartAsync(new StartFlowRequest
            {
                OrgId = orgId,
                Provider = provider,
                Scopes = scopes,
                CredentialId = credentialId,
                ReturnUrl = returnUrl,
                OwnOrigin = OwnOrigin,
                Transport = transport,
                RedirectUri = listener?.RedirectUri ?? GatewayRedirectUri,
                SignIn = signIn,
                Parameters = parameters,
            }, cancellationToken);
        }
        catch when (listener is not null)
        {
            await listener.CloseAsync();
            throw;
        }

        if (start.Error is { } error)
        {
            // No flow will ever arrive at the listener: release its port now, not when the flow lifetime is over.
            if (listener is not null)
            {
                await listener.CloseAsync();
            }

            IResult problem = error switch
            {
                FlowStartError.OrgNotFound => Problems.NotFound("org_not_found", start.Detail!),
                FlowStartError.CredentialNotFound => Problems.NotFound("credential_not_found", start.Detail!),
                FlowStartError.UnknownProvider => Problems.Unprocessable("unknown_provider", start.Detail!),
                FlowStartError.CredentialMismatch => Problems.Unprocessable("credential_mismatch", start.Detail!),
                FlowStartError.NoClient => Problems.Unprocessable("no_client", start.Detail!),
                FlowStartError.InvalidParameters => Problems.Unprocessable("invalid_parameters", start.Detail!),
                FlowStartError.NotConnectable => Problems.Unprocessable("not_connectable", start.Detail!),
                FlowStartError.TooManyPending => new RetryAfterResult(
                    Problems.Create(StatusCodes.Status429TooManyRequests, "too_many_pending_flows", "Too many pending flows", start.Detail),
                    engine.Lifetime),
                _ => Problems.BadRequest("invalid_return_url", start.Detail!),
            };
            return (null, problem);
        }

        return (new Started(start.Flow!, start.State!, start.AuthorizationUrl!), null);
    }

    /// <summary>
    /// The flow an auth-recovery envelope points at (gateway transport; its state is never revealed — the connect link
    /// re-arms it). Without a flow (<see cref="FlowStart.Flow"/> null) its error says why none can exist: no client for
    /// the provider, or the org's pending-flow cap is reached.
    /// </summary>
    public async Task<FlowStart> EnvelopeFlowAsync(string orgId, string provider, IReadOnlyList<string>? scopes, string? credentialId,
        CancellationToken cancellationToken, IReadOnlyDictionary<string, string>? parameters = null)
    {
        var start = await engine.StartAsync(new StartFlowRequest
        {
            OrgId = orgId,
            Provider = provider,
            Scopes = scopes,
            CredentialId = credentialId,
            Transport = CallbackTransport.Gateway,
            RedirectUri = GatewayRedirectUri,
            ForEnvelope = true,
            Parameters = parameters,
        }, cancellationToken);
        return start;
    }
}
