using System.Collections.Concurrent;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using Valet.Core.Connections;
using Valet.Core.Domain;
using Valet.Core.OAuth;
using Valet.Core.Providers;
using Valet.Core.Stores;

namespace Valet.Core.Tokens;

/// <summary>
/// Refreshes a connection exactly once however many callers race: one in-flight refresh per connection in this process,
/// and the connection lock (held across the provider call, re-read after acquiring) across processes. See docs/refresh.md.
/// </summary>
public sealed class RefreshCoordinator(
    IConnectionLocks locks,
    ClientResolver clients,
    IProviderCatalog catalog,
    IOAuthClient oauth,
    IAuditStore audit,
    IOrgStore orgs,
    IOptionsMonitor<RefreshOptions> options,
    TimeProvider time,
    ValetMetrics metrics,
    ILogger<RefreshCoordinator> logger) : IAsyncDisposable, IDisposable
{
    private readonly ConcurrentDictionary<string, Task<TokenOutcome>> _inFlight = new(StringComparer.Ordinal);

    /// <summary>
    /// Refreshes <paramref name="connectionId"/> unless someone already did. <paramref name="observed"/> is the row the caller
    /// acted on (for <see cref="RefreshReason.Forced"/>: the one whose token was rejected), so a token refreshed meanwhile is
    /// reused. Cancelling only stops this caller's wait; the shared refresh runs to completion for the others.
    /// </summary>
    public async Task<TokenOutcome> RefreshAsync(string connectionId, RefreshReason reason, Connection? observed, CancellationToken cancellationToken)
    {
        ArgumentException.ThrowIfNullOrEmpty(connectionId);

        var outcome = await Join(connectionId, reason, observed).WaitAsync(cancellationToken);

        // A forced caller that joined a refresh which merely found the (rejected) token fresh needs a real one: fly once more.
        if (reason == RefreshReason.Forced && observed is not null && outcome is TokenOutcome.Success s && s.AccessToken == observed.AccessToken)
        {
            outcome = await Join(connectionId, reason, observed).WaitAsync(cancellationToken);
        }

        return outcome;
    }

    private Task<TokenOutcome> Join(string connectionId, RefreshReason reason, Connection? observed)
    {
        while (true)
        {
            if (_inFlight.TryGetValue(connectionId, out var running))
            {
                return running;
            }

            var flight = new TaskCompletionSource<TokenOutcome>(TaskCreationOptions.RunContinuationsAsynchronously);
            if (_inFlight.TryAdd(connectionId, flight.Task))
            {
                _ = FlyAsync(connectionId, reason, observed, flight);
                return flight.Task;
            }
        }
    }

    private async Task FlyAsync(string connectionId, RefreshReason reason, Connection? observed, TaskCompletionSource<TokenOutcome> flight)
    {
        try
        {
            var outcome = await RefreshUnderLockAsync(connectionId, reason, observed);
            _inFlight.TryRemove(new KeyValuePair<string, Task<TokenOutcome>>(connectionId, flight.Task));
            flight.SetResult(outcome);
        }
        catch (Exception ex)
        {
            // A bug or an unreachable store: every waiter sees the same exception.
            _inFlight.TryRemove(new KeyValuePair<string, Task<TokenOutcome>>(connectionId, flight.Task));
            flight.SetException(ex);
        }
    }

    /// <summary>
    /// On shutdown (the container disposes this before the stores it uses), waits for the refreshes in flight: a flight
    /// runs on after its callers are gone (a background pass cancelled by the stop, an agent that hung up), and one whose
    /// provider call has returned holds the only copy of a rotated refresh token until it is stored. Without the wait a
    /// graceful stop (a rolling deploy's SIGTERM) exits mid-flight and the next node presents the spent token, which a
    /// rotating provider answers by revoking the grant. Bounded by <see cref="RefreshOptions.ProviderTimeout"/> plus
    /// <see cref="RefreshOptions.CommitRetryWindow"/>, the longest a provider call and its store can take; a flight that
    /// has not asked its provider when the stop begins does not ask it (<see cref="_stopping"/>).
    /// </summary>
    public async ValueTask DisposeAsync()
    {
        _stopping = true;
        var pending = _inFlight.Values.ToArray();
        if (pending.Length == 0)
        {
            return;
        }

        var settings = options.CurrentValue;
        var bound = settings.ProviderTimeout + settings.CommitRetryWindow;
        TokensLog.Draining(logger, pending.Length, bound);
        try
        {
            await Task.WhenAll(pending).WaitAsync(bound, time);
        }
        catch (TimeoutException)
        {
            TokensLog.DrainAbandoned(logger, pending.Count(t => !t.IsCompleted), bound);
        }
        catch (Exception)
        {
            // A flight's own failure was its waiters' to see (and is logged where it happened); it has ended.
        }
    }

    /// <summary>
    /// Set when the process stops: a flight that has not asked its provider yet (still waiting for the lock, or reading
    /// its client) does not start a call whose answer could outlive the wait above, and so the stores it would be stored
    /// with; its callers are told to try again.
    /// </summary>
    private volatile bool _stopping;

    private TokenOutcome Stopping(Connection current)
    {
        TokensLog.NotAskedWhileStopping(logger, current.Id);
        return new TokenOutcome.ProviderUnavailable(RetryAfter: null, TimedOut: false);
    }

    /// <summary>A container disposed synchronously still waits (blocking) rather than drop a flight.</summary>
    public void Dispose() => DisposeAsync().AsTask().GetAwaiter().GetResult();

    /// <summary>
    /// A client read before the lease was taken, for the credential the connection had then; for a client-credentials
    /// connection on the platform's client, also whether its org is headless (null: not read).
    /// </summary>
    private sealed record EarlyClient(string? CredentialId, ClientCredentials? Client, bool? OrgHeadless);

    private async Task<TokenOutcome> RefreshUnderLockAsync(string connectionId, RefreshReason reason, Connection? observed)
    {
        var settings = options.CurrentValue;

        // The client is read before the lease: an org's own client comes from the store, and reading it under the lease
        // would hold a second pooled connection per refresh; as many concurrent refreshes as the pool has connections
        // would then wait on each other (PostgreSQL). Read again under the lease only if the connection changed client.
        var early = observed is not null && catalog.Find(observed.Provider) is { } seen
            ? new EarlyClient(observed.CredentialId, await clients.ResolveAsync(seen, observed.CredentialId, CancellationToken.None),
                seen.AuthMode == AuthMode.OAuth2ClientCredentials && observed.CredentialId is null ? await OrgHeadlessAsync(observed.OrgId) : null)
            : null;

        IConnectionLease? lease;
        using (var lockWait = new CancellationTokenSource(settings.LockTimeout, time))
        {
            try
            {
                lease = await locks.AcquireAsync(connectionId, lockWait.Token);
            }
            catch (OperationCanceledException) when (lockWait.IsCancellationRequested)
            {
                TokensLog.LockTimedOut(logger, connectionId);
                return new TokenOutcome.ProviderUnavailable(RetryAfter: null, TimedOut: true);
            }
        }

        if (lease is null)
        {
            return TokenOutcome.NotFound.Instance;
        }

        try
        {
            return await RefreshLeasedAsync(lease, reason, observed, settings, early);
        }
        catch (ConnectionReplacedException replaced)
        {
            // SQLite: a reconnect, an import or a delete landed during the provider call. Its grant wins; this result is dropped.
            TokensLog.RefreshDropped(logger, connectionId);
            return replaced.Current switch
            {
                null => TokenOutcome.NotFound.Instance,
                { Status: ConnectionStatus.ReauthRequired } dead => new TokenOutcome.ReauthRequired(dead, dead.StatusReason ?? RefreshPolicy.InvalidGrant),
                var current => TokenOutcome.Success.Of(current),
            };
        }
    }

    private async Task<TokenOutcome> RefreshLeasedAsync(IConnectionLease lease, RefreshReason reason, Connection? observed, RefreshOptions settings,
        EarlyClient? early)
    {
        await using (lease)
        {
            metrics.Attempt(reason);
            var current = lease.Connection;
            var now = time.GetUtcNow();

            if (current.Status == ConnectionStatus.ReauthRequired)
            {
                return new TokenOutcome.ReauthRequired(current, current.StatusReason ?? RefreshPolicy.InvalidGrant);
            }

            if (await AlreadyDoneAsync(lease, current, reason, observed, now, settings) is { } done)
            {
                return done;
            }

            if (RefreshPolicy.WaitBeforeRetry(current, observed, reason, now) is { } wait)
            {
                return new TokenOutcome.ProviderUnavailable(wait, TimedOut: false);
            }

            // This node's catalog, not the connection, may be what is missing (a node not yet configured, a runtime provider
            // not loaded yet): answered, never persisted, so the catalog can be fixed — before any branch that could persist.
            if (catalog.Find(current.Provider) is not { } found)
            {
                TokensLog.NoClient(logger, current.Id, RefreshPolicy.UnknownProvider, current.Provider);
                return new TokenOutcome.ReauthRequired(current, RefreshPolicy.UnknownProvider);
            }

            // Client credentials: no refresh token, the client asks for a new token itself — under the same lock.
            if (found.AuthMode == AuthMode.OAuth2ClientCredentials)
            {
                return await ClientCredentialsAsync(lease, current, found, reason, settings, early);
            }

            if (current.RefreshToken is not { } refreshToken)
            {
                return await WithoutRefreshTokenAsync(lease, current, reason, now);
            }

            // A templated provider's URLs for this connection (its subdomain…). Not persisted, like no_client: the catalog can be fixed.
            if (ConnectionParameters.Bind(found, current.Parameters, out _) is not { } provider)
            {
                TokensLog.NoClient(logger, current.Id, RefreshPolicy.InvalidParameters, current.Provider);
                return new TokenOutcome.ReauthRequired(current, RefreshPolicy.InvalidParameters);
            }

            if (await ClientAsync(provider, current, early) is not { } client)
            {
                TokensLog.NoClient(logger, current.Id, RefreshPolicy.NoClient, current.Provider);
                return new TokenOutcome.ReauthRequired(current, RefreshPolicy.NoClient);
            }

            if (_stopping)
            {
                return Stopping(current);
            }

            var asked = time.GetUtcNow();
            var result = await CallProviderAsync(provider, client, refreshToken, settings);
            return await ApplyAsync(lease, current, provider, result, reason, settings, asked);
        }
    }

    /// <summary>The re-read after the lock: did another caller or node do the work already?</summary>
    private async Task<TokenOutcome?> AlreadyDoneAsync(IConnectionLease lease, Connection current, RefreshReason reason,
        Connection? observed, DateTimeOffset now, RefreshOptions settings)
    {
        switch (reason)
        {
            case RefreshReason.Expiring when RefreshPolicy.IsFresh(current, now, settings.Skew):
            case RefreshReason.Forced when observed is not null && current.Version != observed.Version
                && current.AccessToken != observed.AccessToken && RefreshPolicy.IsFresh(current, now, settings.Skew):
            case RefreshReason.Proactive when observed is not null && current.AccessToken != observed.AccessToken:
                TokensLog.Reused(logger, current.Id);
                return TokenOutcome.Success.Of(current);

            case RefreshReason.Proactive when current.ExpiresAt is null || current.ExpiresAt > now + settings.ProactiveLead:
                // Claimed but not due (non-expiring, or a forced refresh failed on a long-lived token): put the schedule right.
                var schedule = RefreshPolicy.NextRefresh(current.ExpiresAt, now, settings.ProactiveLead);
                var stored = await lease.CommitAsync(current with { NextRefreshAt = schedule, UpdatedAt = now }, CancellationToken.None);
                return TokenOutcome.Success.Of(stored);

            default:
                return null;
        }
    }

    private async Task<TokenOutcome> WithoutRefreshTokenAsync(IConnectionLease lease, Connection current, RefreshReason reason, DateTimeOffset now)
    {
        if (current.ExpiresAt is { } expiresAt && expiresAt <= now)
        {
            // Expired and nothing to refresh with: certainly dead.
            return await MarkDeadAsync(lease, current, RefreshPolicy.NoRefreshToken, now);
        }

        switch (reason)
        {
            case RefreshReason.Forced:
                // One upstream 401 is weaker evidence than a provider's invalid_grant: tell this caller, do not persist.
                return new TokenOutcome.ReauthRequired(current, RefreshPolicy.NoRefreshToken);
            case RefreshReason.Proactive:
                // Look again when it expires, to mark it then.
                var stored = await lease.CommitAsync(current with { NextRefreshAt = current.ExpiresAt, UpdatedAt = now }, CancellationToken.None);
                return TokenOutcome.Success.Of(stored);
            default:
                return TokenOutcome.Success.Of(current); // still valid for a little while; the best there is
        }
    }

    /// <summary>
    /// An <c>oauth2_cc</c> connection: fetch a token with the client credentials, classified and stored like a refresh
    /// (<c>invalid_client</c> is terminal, a 5xx postpones).
    /// </summary>
    private async Task<TokenOutcome> ClientCredentialsAsync(IConnectionLease lease, Connection current, ProviderDefinition provider, RefreshReason reason,
        RefreshOptions settings, EarlyClient? early)
    {
        // No client on this node (its configuration, or a credential being replaced): answered, not persisted, as for oauth2.
        // A headless org is never lent the platform's client (the operator's machine identity, shared by every org): a
        // connection made on it before the org turned headless stops here too, until it is posted again with its own
        // credential (docs/credentials.md, "Headless orgs").
        if (await ClientAsync(provider, current, early) is not { } client
            || (current.CredentialId is null && (early?.OrgHeadless ?? await OrgHeadlessAsync(current.OrgId))))
        {
            TokensLog.NoClient(logger, current.Id, RefreshPolicy.NoClient, current.Provider);
            return new TokenOutcome.ReauthRequired(current, RefreshPolicy.NoClient);
        }

        if (_stopping)
        {
            return Stopping(current);
        }

        var asked = time.GetUtcNow();
        var result = await CallProviderAsync(provider, client, timeout => oauth.ClientCredentialsAsync(provider, client, current.Scopes ?? [], timeout),
            settings);
        return await ApplyAsync(lease, current, provider, result, reason, settings, asked);
    }

    private async ValueTask<bool> OrgHeadlessAsync(string orgId) => await orgs.FindAsync(orgId, CancellationToken.None) is { Headless: true };

    /// <summary>The client read before the lease when the connection still names the same credential; else read now.</summary>
    private async ValueTask<ClientCredentials?> ClientAsync(ProviderDefinition provider, Connection current, EarlyClient? early) =>
        early is not null && early.CredentialId == current.CredentialId
            ? early.Client
            : await clients.ResolveAsync(provider, current.CredentialId, CancellationToken.None);

    private Task<TokenResult> CallProviderAsync(ProviderDefinition provider, ClientCredentials client, Secret refreshToken, RefreshOptions settings) =>
        CallProviderAsync(provider, client, timeout => oauth.RefreshAsync(provider, client, refreshToken.Reveal(), timeout), settings);

    private async Task<TokenResult> CallProviderAsync(ProviderDefinition provider, ClientCredentials client, Func<CancellationToken, Task<TokenResult>> call,
        RefreshOptions settings)
    {
        metrics.ProviderCall();
        using var timeout = new CancellationTokenSource(settings.ProviderTimeout, time);
        try
        {
            return await call(timeout.Token);
        }
        catch (OperationCanceledException) when (timeout.IsCancellationRequested)
        {
            return TokenResult.Failure(new TokenError(TokenErrorKind.Timeout, "timeout"));
        }
        catch (HttpRequestException)
        {
            return TokenResult.Failure(new TokenError(TokenErrorKind.Transient, "network"));
        }
    }

    /// <param name="asked">When the provider was asked: a token's lifetime (<c>expires_in</c>) runs from when it was issued,
    /// which is no earlier than that, so its expiry is stamped from there. Stamped from the answer's arrival, a slow
    /// provider's seconds would be counted as the token's, and a short-lived token served a little past its end.</param>
    private async Task<TokenOutcome> ApplyAsync(IConnectionLease lease, Connection current, ProviderDefinition provider,
        TokenResult result, RefreshReason reason, RefreshOptions settings, DateTimeOffset asked)
    {
        var now = time.GetUtcNow();

        if (result.Tokens is { } tokens)
        {
            // CancellationToken.None: once the provider has rotated the refresh token, the new one must be stored.
            Connection stored;
            try
            {
                stored = await lease.CommitAsync(RefreshPolicy.Refreshed(current, tokens, provider, asked, settings), CancellationToken.None);
            }
            catch (Exception commitError) when (commitError is not ConnectionReplacedException)
            {
                await lease.DisposeAsync(); // PostgreSQL: end the failed transaction (and its row lock) before taking a new one
                if (await CommitAgainAsync(current, tokens, provider, settings, commitError, asked) is not { } again)
                {
                    // Only the refresh lock stayed out of reach (someone holds it past every wait): answered as a lock timeout.
                    return new TokenOutcome.ProviderUnavailable(RetryAfter: null, TimedOut: true);
                }

                stored = again;
            }

            TokensLog.Refreshed(logger, current.Id, ValetMetrics.ReasonTag(reason));
            await AuditAsync(current, "connection.refreshed", ValetMetrics.ReasonTag(reason), now);
            return TokenOutcome.Success.Of(stored);
        }

        var error = result.Error ?? new TokenError(TokenErrorKind.Transient, "empty_result");
        var failureClass = RefreshPolicy.FailureClass(error.Kind);
        metrics.Failure(failureClass);

        if (RefreshPolicy.IsTerminal(error, provider))
        {
            return await MarkDeadAsync(lease, current, RefreshPolicy.TerminalReason(current, error), now);
        }

        var backoff = Backoff.Compute(current.RefreshFailures + 1, settings.BackoffBase, settings.BackoffMax, settings.Jitter, Random.Shared.NextDouble());
        var delay = Backoff.WithRetryAfter(backoff, error.RetryAfter);
        var postponed = await lease.CommitAsync(RefreshPolicy.Postponed(current, error.Kind, now + delay, now), CancellationToken.None);
        TokensLog.ProviderUnavailable(logger, current.Id, failureClass, error.Code, postponed.RefreshFailures, now + delay);
        await AuditAsync(current, "connection.refresh_failed", RefreshPolicy.FailureDetail(failureClass, error.Code), now);

        // Retry-After always: when the provider may be called again (the backoff, or a 429's own Retry-After when longer).
        return new TokenOutcome.ProviderUnavailable(RetryAfter: delay, TimedOut: error.Kind == TokenErrorKind.Timeout);
    }

    /// <summary>
    /// The provider answered with new tokens but storing them failed (the database was unreachable, busy past its timeout,
    /// or dropped the lease's connection). The answer may hold a rotated refresh token, and the stored one may already be
    /// spent: dropping it would lose the grant. So the write is tried again under a new lease, with backoff, for up to
    /// <see cref="RefreshOptions.CommitRetryWindow"/>, while this refresh's waiters keep waiting (a new refresh from this
    /// node would spend the old refresh token). The new lease re-reads the row: if the grant changed meanwhile (a
    /// reconnect, an import, a delete), that grant wins, as in <see cref="ConnectionReplacedException"/>. Past the window
    /// the last error propagates and the loss is logged (3109). See docs/refresh.md, "Storing the answer".
    /// </summary>
    private async Task<Connection?> CommitAgainAsync(Connection refreshedFrom, TokenSet tokens, ProviderDefinition provider, RefreshOptions settings,
        Exception firstError, DateTimeOffset asked)
    {
        TokensLog.CommitFailed(logger, refreshedFrom.Id, firstError.GetType().Name, settings.CommitRetryWindow);
        var deadline = time.GetUtcNow() + settings.CommitRetryWindow;
        var delay = TimeSpan.FromMilliseconds(200);
        var lastError = firstError;
        for (var attempt = 2; ; attempt++)
        {
            var wait = deadline - time.GetUtcNow();
            if (wait <= TimeSpan.Zero)
            {
                TokensLog.CommitAbandoned(logger, refreshedFrom.Id, attempt - 1, lastError.GetType().Name);
                if (lastError is OperationCanceledException)
                {
                    return null; // the lock wait, not the database: not a storage error for the caller
                }

                System.Runtime.ExceptionServices.ExceptionDispatchInfo.Throw(lastError);
            }

            await Task.Delay(delay < wait ? delay : wait, time);
            delay = TimeSpan.FromTicks(Math.Min(delay.Ticks * 2, TimeSpan.FromSeconds(5).Ticks));
            try
            {
                // The lock wait ends with the window (at least a second): waiters are not held much past it.
                var remaining = deadline - time.GetUtcNow();
                var lockTimeout = remaining < settings.LockTimeout ? (remaining > TimeSpan.FromSeconds(1) ? remaining : TimeSpan.FromSeconds(1)) : settings.LockTimeout;
                IConnectionLease? lease;
                using (var lockWait = new CancellationTokenSource(lockTimeout, time))
                {
                    lease = await locks.AcquireAsync(refreshedFrom.Id, lockWait.Token);
                }

                if (lease is null)
                {
                    throw new ConnectionReplacedException(refreshedFrom.Id, null);
                }

                await using (lease)
                {
                    // Replaced: another grant (tokens, client), or the connection was marked dead meanwhile — the row lock was
                    // free between the attempts, and a node that refreshed with the spent token and was told invalid_grant
                    // marks it reauth_required, keeping the tokens. Its verdict stands (with a rotating provider the reuse
                    // has revoked the grant, this answer's tokens included). A transient failure there (only the failure
                    // count moves) does not: this answer may be the grant's only live refresh token.
                    var latest = lease.Connection;
                    if (latest.Status == ConnectionStatus.ReauthRequired && refreshedFrom.Status != ConnectionStatus.ReauthRequired)
                    {
                        throw new ConnectionReplacedException(refreshedFrom.Id, latest);
                    }

                    if (!latest.HoldsSameGrant(refreshedFrom))
                    {
                        // A newer grant that kept the refresh token this answer replaced gets the rotated one instead.
                        var refreshed = RefreshPolicy.Refreshed(refreshedFrom, tokens, provider, asked, settings);
                        throw new ConnectionReplacedException(refreshedFrom.Id,
                            latest.WithRotatedRefreshToken(refreshedFrom, refreshed) is { } merged ? await lease.CommitAsync(merged, CancellationToken.None) : latest);
                    }

                    var stored = await lease.CommitAsync(RefreshPolicy.Refreshed(latest, tokens, provider, asked, settings),
                        CancellationToken.None);
                    TokensLog.CommitRecovered(logger, refreshedFrom.Id, attempt);
                    return stored;
                }
            }
            catch (Exception error) when (error is not ConnectionReplacedException)
            {
                lastError = error;
            }
        }
    }

    private async Task<TokenOutcome> MarkDeadAsync(IConnectionLease lease, Connection current, string statusReason, DateTimeOffset now)
    {
        var stored = await lease.CommitAsync(RefreshPolicy.Dead(current, statusReason, now), CancellationToken.None);
        TokensLog.ReauthRequired(logger, current.Id, statusReason);

        await AuditAsync(current, "connection.reauth_required", statusReason, now);
        return new TokenOutcome.ReauthRequired(stored, statusReason);
    }

    /// <summary>
    /// The connection's refresh history (the dashboard's connection page, <c>/audit</c>): every provider call's outcome,
    /// with a short machine detail (the reason or the failure class). Written after the commit — the lock is released, and
    /// SQLite allows one writer at a time — and never fails the refresh: the tokens are already stored.
    /// </summary>
    private async Task AuditAsync(Connection current, string kind, string detail, DateTimeOffset now)
    {
        try
        {
            await audit.AppendAsync(new AuditEvent
            {
                OrgId = current.OrgId,
                Kind = kind,
                ConnectionId = current.Id,
                Detail = detail,
                At = now,
            }, CancellationToken.None);
        }
        catch (Exception ex)
        {
            TokensLog.AuditFailed(logger, ex, current.Id);
        }
    }
}
