using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using Valet.Core.Connections;
using Valet.Core.Domain;
using Valet.Core.OAuth;
using Valet.Core.Providers;
using Valet.Core.Stores;

namespace Valet.Core.Flows;

/// <summary>The callback half of <see cref="FlowEngine"/>: checking the state, exchanging the code, storing the connection.</summary>
public sealed partial class FlowEngine
{
    /// <summary>Finishes a flow from its callback. Every failure is a value with a coarse code; nothing is stored on failure.</summary>
    public async Task<CallbackOutcome> CompleteAsync(CallbackParameters callback, CancellationToken cancellationToken)
    {
        if (string.IsNullOrEmpty(callback.State) || callback.State.Length > 512)
        {
            return new CallbackOutcome { Success = false, Error = FlowErrors.UnknownState, BadState = true };
        }

        var now = time.GetUtcNow();
        var stateHash = Ids.Sha256Hex(callback.State);
        var exchangeDeadline = now + options.Value.ExchangeTimeout;
        var flow = await flows.TryConsumeAsync(stateHash, now, exchangeDeadline, cancellationToken);
        if (flow is null)
        {
            var known = await flows.FindByStateAsync(stateHash, now, cancellationToken);
            var error = known switch
            {
                null => FlowErrors.UnknownState,
                { Status: FlowStatus.Expired } => FlowErrors.Expired,
                _ => FlowErrors.StateReplayed,
            };
            LogCallbackRejected(logger, known?.Id ?? "-", error);
            return new CallbackOutcome { Success = false, Error = error, BadState = true, Flow = known };
        }

        // The state is spent: from here the flow must end (complete or error) whatever happens to the browser request,
        // within its own bounded time (the deadline its stored expiry now covers), and the provider calls still stop when the
        // server shuts down; once the provider has issued the grant, storing it runs to the end (below).
        var remaining = exchangeDeadline - time.GetUtcNow();
        using var exchange = new CancellationTokenSource(remaining > TimeSpan.Zero ? remaining : TimeSpan.Zero, time);
        using var link = CancellationTokenSource.CreateLinkedTokenSource(exchange.Token, host?.ApplicationStopping ?? CancellationToken.None);
        try
        {
            return await FinishAsync(flow, callback, link.Token);
        }
        catch (Exception error) when (error is not OutOfMemoryException)
        {
            // Only our own token can cancel here (exchange timeout or shutdown): the provider did not answer in time.
            var code = error is OperationCanceledException ? FlowErrors.ProviderUnavailable : FlowErrors.ExchangeFailed;
            LogFinishFailed(logger, flow.Id, code, error.GetType().Name);

            // Not the linked token: on shutdown the flow is still recorded as failed rather than left exchanging
            // (if even this write fails, the sweep expires the row at its expiry).
            return await FailAsync(flow, code, CancellationToken.None);
        }
    }

    private async Task<CallbackOutcome> FinishAsync(Flow flow, CallbackParameters callback, CancellationToken cancellationToken)
    {
        var provider = catalog.Find(flow.Provider) is { } found ? ConnectionParameters.Bind(found, flow.Parameters, out _) : null;
        if (provider is null)
        {
            return await FailAsync(flow, FlowErrors.AuthorizationFailed, cancellationToken);
        }

        // RFC 9207: when the provider advertises iss, it must be there and be the provider's issuer.
        if (provider.IssParameterSupported && string.IsNullOrEmpty(callback.Iss))
        {
            return await FailAsync(flow, FlowErrors.IssMissing, cancellationToken);
        }

        if (!string.IsNullOrEmpty(callback.Iss) && provider.Issuer is not null && !string.Equals(callback.Iss, provider.Issuer, StringComparison.Ordinal))
        {
            return await FailAsync(flow, FlowErrors.IssMismatch, cancellationToken);
        }

        if (!string.IsNullOrEmpty(callback.Error))
        {
            return await FailAsync(flow, callback.Error == "access_denied" ? FlowErrors.AccessDenied : FlowErrors.AuthorizationFailed, cancellationToken);
        }

        if (string.IsNullOrEmpty(callback.Code) || callback.Code.Length > 4096)
        {
            return await FailAsync(flow, FlowErrors.MissingCode, cancellationToken);
        }

        var client = await clients.ResolveAsync(provider, flow.CredentialId, cancellationToken);
        if (client is null)
        {
            return await FailAsync(flow, FlowErrors.NoClient, cancellationToken);
        }

        // A token's lifetime runs from no earlier than this request: its expiry is stamped from here, not after the
        // exchange and the identity call (see RefreshCoordinator.ApplyAsync).
        var asked = time.GetUtcNow();
        var exchange = await oauth.ExchangeCodeAsync(provider, client, callback.Code, flow.RedirectUri, flow.CodeVerifier.Reveal(), cancellationToken);
        if (!exchange.IsSuccess)
        {
            var error = exchange.Error!.Kind is TokenErrorKind.Transient or TokenErrorKind.Timeout or TokenErrorKind.RateLimited
                ? FlowErrors.ProviderUnavailable
                : FlowErrors.TokenExchangeFailed;
            LogExchangeFailed(logger, flow.Id, exchange.Error.Kind, exchange.Error.Code);
            return await FailAsync(flow, error, cancellationToken);
        }

        var tokens = exchange.Tokens!;
        var identity = await oauth.GetIdentityAsync(provider, tokens, cancellationToken);
        if (identity is null)
        {
            return await FailAsync(flow, FlowErrors.IdentityUnavailable, cancellationToken);
        }

        // Checked before anything is stored: an account that may not operate leaves no connection behind.
        if (flow.SignIn && (signInGate is null || !signInGate.Allows(provider, identity)))
        {
            // The account's immutable id, so an operator who means to let this account in can write the exact entry.
            LogSignInRefused(logger, flow.Id, provider.Id, identity.Id);
            return await FailAsync(flow, FlowErrors.NotAnOperator, cancellationToken);
        }

        // From here the grant exists at the provider: storing it, its targets and audit event, and ending the flow run to
        // the end whatever the exchange deadline or a shutdown says (a few writes), so a flow never ends in error beside a
        // connection it stored.
        var (connection, created) = await registry.SaveAsync(new GrantToStore
        {
            OrgId = flow.OrgId,
            Provider = provider,
            CredentialId = flow.CredentialId,
            Account = identity,
            AccessToken = tokens.AccessToken,
            RefreshToken = tokens.RefreshToken,
            TokenType = tokens.TokenType,
            ExpiresAt = TokenRules.ExpiresAt(asked, tokens),
            Scopes = tokens.Scopes ?? flow.Scopes,
            ApiBaseUrl = tokens.InstanceUrl,
            Parameters = flow.Parameters,
            Source = flow.SignIn ? "signin" : "connect",
            MakeDefault = flow.SignIn,
        }, CancellationToken.None);

        await flows.CompleteAsync(flow.Id, connection.Id, connection.Scopes ?? flow.Scopes, time.GetUtcNow(), CancellationToken.None);
        LogFlowCompleted(logger, flow.Id, connection.Id, created);
        return new CallbackOutcome
        {
            Success = true,
            Flow = flow with { Status = FlowStatus.Complete, ConnectionId = connection.Id },
            Connection = connection,
        };
    }

    private async Task<CallbackOutcome> FailAsync(Flow flow, string error, CancellationToken cancellationToken)
    {
        await flows.FailAsync(flow.Id, error, time.GetUtcNow(), cancellationToken);
        LogFlowFailed(logger, flow.Id, error);
        return new CallbackOutcome { Success = false, Error = error, Flow = flow with { Status = FlowStatus.Error, Error = error } };
    }
}
