using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Valet.Core.Connections;
using Valet.Core.Domain;
using Valet.Core.OAuth;
using Valet.Core.Providers;

namespace Valet.Core.Flows;

/// <summary>Why a device flow could not start.</summary>
public enum DeviceStartError
{
    UnknownProvider,

    /// <summary>The provider advertises no device authorization endpoint.</summary>
    NotSupported,
    NoClient,

    /// <summary>The provider refused the device authorization request with an OAuth error (<see cref="DeviceStart.Detail"/> says which).</summary>
    ProviderRefused,

    /// <summary>The provider could not be reached, failed (5xx) or did not answer in time: try again later.</summary>
    ProviderUnavailable,
}

public sealed record DeviceStart(DeviceFlow? Flow, string? Handle, DeviceStartError? Error, string? Detail);

/// <summary>
/// The device authorization grant (RFC 8628) for <c>valet connect PROVIDER --device</c>. Start: ask the provider for the
/// codes and store the flow. Poll (<see cref="DevicePoller"/>, on every node): claim each due flow by compare-and-set so
/// one node polls it at a time, honour <c>interval</c>, <c>slow_down</c> (+5 s), <c>authorization_pending</c>,
/// <c>access_denied</c> and <c>expired_token</c>, and on success store the connection exactly as a browser connect does.
/// </summary>
public sealed partial class DeviceFlowEngine(
    IDeviceFlowStore flows,
    IProviderCatalog catalog,
    ClientResolver clients,
    IDeviceAuthorizationClient device,
    IOAuthClient oauth,
    ConnectionRegistry registry,
    TimeProvider time,
    ILogger<DeviceFlowEngine> logger)
{
    /// <summary>
    /// How long one poll may hold a flow before another node may take it: longer than everything a poll may do — the
    /// token request and the identity request (up to <see cref="OAuthHttp.Timeout"/> each) and the save — so a slow poll
    /// is never joined by a second node polling the same device code (the provider would give the tokens to one and
    /// answer <c>invalid_grant</c> to the other, ending the flow in error beside a stored connection).
    /// </summary>
    internal static readonly TimeSpan PollLease = OAuthHttp.Timeout * 2 + TimeSpan.FromSeconds(30);

    /// <summary>Why <paramref name="provider"/> cannot run the device grant; null when it can.</summary>
    public static string? Unsupported(ProviderDefinition provider) => provider.AuthMode != AuthMode.OAuth2 || provider.DeviceAuthorizationEndpoint is null
        ? $"Provider '{provider.Id}' does not offer the device authorization grant (no device_authorization_endpoint)."
        : null;

    public async Task<DeviceStart> StartAsync(string orgId, string providerId, IReadOnlyList<string>? scopes, string? credentialId,
        CancellationToken cancellationToken)
    {
        if (catalog.Find(providerId) is not { } provider)
        {
            return new(null, null, DeviceStartError.UnknownProvider, $"Unknown provider '{providerId}'.");
        }

        if (Unsupported(provider) is { } unsupported)
        {
            return new(null, null, DeviceStartError.NotSupported, unsupported);
        }

        credentialId ??= await clients.OrgCredentialIdAsync(orgId, provider.Id, cancellationToken);
        if (await clients.ResolveAsync(provider, credentialId, cancellationToken) is not { } client)
        {
            return new(null, null, DeviceStartError.NoClient, $"No OAuth client for '{provider.Id}': configure one or pass --client-id.");
        }

        IReadOnlyList<string> wanted = provider.AuthorizationScopes(scopes);
        var (authorization, error) = await device.StartDeviceAuthorizationAsync(provider, client, wanted, cancellationToken);
        if (authorization is null)
        {
            return error?.Kind is TokenErrorKind.Transient or TokenErrorKind.RateLimited or TokenErrorKind.Timeout or null
                ? new(null, null, DeviceStartError.ProviderUnavailable, $"The provider could not answer the device authorization request ({error?.Code ?? "unknown"}).")
                : new(null, null, DeviceStartError.ProviderRefused, $"The provider refused the device authorization request ({error.Code}).");
        }

        var now = time.GetUtcNow();
        var handle = Ids.RandomToken();
        var flow = new DeviceFlow
        {
            Id = Ids.New("dflow"),
            HandleHash = Ids.Sha256Hex(handle),
            OrgId = orgId,
            Provider = provider.Id,
            CredentialId = credentialId,
            Scopes = wanted,
            DeviceCode = authorization.DeviceCode,
            UserCode = authorization.UserCode,
            VerificationUri = authorization.VerificationUri,
            VerificationUriComplete = authorization.VerificationUriComplete,
            IntervalSeconds = authorization.Interval,
            NextPollAt = now + TimeSpan.FromSeconds(authorization.Interval),
            ExpiresAt = now + TimeSpan.FromSeconds(authorization.ExpiresIn),
            Status = DeviceFlowStatus.Pending,
            CreatedAt = now,
            UpdatedAt = now,
        };
        await flows.CreateAsync(flow, cancellationToken);
        LogStarted(logger, flow.Id, orgId, provider.Id);
        return new(flow, handle, null, null);
    }

    /// <summary>One pass over the due flows. Returns how many this node polled.</summary>
    public async Task<int> PollDueAsync(CancellationToken cancellationToken)
    {
        var now = time.GetUtcNow();
        var polled = 0;
        foreach (var flow in await flows.ListDueAsync(now, 20, cancellationToken))
        {
            // The lease runs from the claim, not from the start of the pass: polls before this one took time.
            if (await flows.TryClaimAsync(flow, time.GetUtcNow() + PollLease, cancellationToken))
            {
                polled++;
                await PollAsync(flow, cancellationToken);
            }
        }

        return polled;
    }

    private async Task PollAsync(DeviceFlow flow, CancellationToken cancellationToken)
    {
        var now = time.GetUtcNow();
        if (now >= flow.ExpiresAt)
        {
            await FinishAsync(flow, DeviceFlowStatus.Expired, null, "expired_token", cancellationToken);
            return;
        }

        var provider = catalog.Find(flow.Provider);
        var client = provider is null ? null : await clients.ResolveAsync(provider, flow.CredentialId, cancellationToken);
        if (provider is null || client is null)
        {
            await FinishAsync(flow, DeviceFlowStatus.Error, null, provider is null ? "unknown_provider" : "no_client", cancellationToken);
            return;
        }

        // A token's lifetime runs from no earlier than this request (see RefreshCoordinator.ApplyAsync).
        var asked = time.GetUtcNow();
        var result = await device.PollDeviceTokenAsync(provider, client, flow.DeviceCode.Reveal(), cancellationToken);
        if (result.Tokens is { } tokens)
        {
            await CompleteAsync(flow, provider, tokens, asked, cancellationToken);
            return;
        }

        // The next poll counts from this answer, not from before the call (which can take up to the HTTP timeout).
        now = time.GetUtcNow();

        var error = result.Error ?? new TokenError(TokenErrorKind.Transient, "empty_result");
        switch (error.Code)
        {
            case "authorization_pending":
                await flows.ScheduleAsync(flow.Id, flow.IntervalSeconds, now + TimeSpan.FromSeconds(flow.IntervalSeconds), cancellationToken);
                break;
            case "slow_down":
                // RFC 8628 §3.5: this and every later poll waits five seconds longer (never less than the provider asked: no cap
                // that could bring a long interval down; the code's lifetime bounds how often this can happen).
                var slower = flow.IntervalSeconds + 5;
                LogSlowDown(logger, flow.Id, slower);
                await flows.ScheduleAsync(flow.Id, slower, now + TimeSpan.FromSeconds(slower), cancellationToken);
                break;
            case "access_denied":
                await FinishAsync(flow, DeviceFlowStatus.Error, null, "access_denied", cancellationToken);
                break;
            case "expired_token":
                await FinishAsync(flow, DeviceFlowStatus.Expired, null, "expired_token", cancellationToken);
                break;
            default:
                if (error.Kind is TokenErrorKind.Transient or TokenErrorKind.Timeout or TokenErrorKind.RateLimited)
                {
                    // The provider is away: try again after the interval (or what it asked), until the flow expires.
                    var wait = error.RetryAfter is { } retry && retry > TimeSpan.FromSeconds(flow.IntervalSeconds) ? retry : TimeSpan.FromSeconds(flow.IntervalSeconds);
                    await flows.ScheduleAsync(flow.Id, flow.IntervalSeconds, now + wait, cancellationToken);
                }
                else
                {
                    await FinishAsync(flow, DeviceFlowStatus.Error, null, error.Code, cancellationToken);
                }

                break;
        }
    }

    private async Task CompleteAsync(DeviceFlow flow, ProviderDefinition provider, TokenSet tokens, DateTimeOffset asked, CancellationToken cancellationToken)
    {
        var account = await oauth.GetIdentityAsync(provider, tokens, cancellationToken);
        if (account is null)
        {
            await FinishAsync(flow, DeviceFlowStatus.Error, null, "identity_unavailable", cancellationToken);
            return;
        }

        // Cancelled (the CLI gave up) while this poll was at the provider, or at its identity call: nobody waits for this
        // grant, so it is not stored. The claim is atomic (pending → completing): a cancel either lands before it and
        // nothing is stored, or after it and is refused (the CLI then reports the connection).
        if (!await flows.TryStartCompletingAsync(flow.Id, cancellationToken))
        {
            LogEnded(logger, flow.Id, "cancelled");
            return;
        }

        var now = time.GetUtcNow();
        var grant = new GrantToStore
        {
            OrgId = flow.OrgId,
            Provider = provider,
            CredentialId = flow.CredentialId,
            Account = account,
            AccessToken = tokens.AccessToken,
            RefreshToken = tokens.RefreshToken,
            TokenType = string.IsNullOrEmpty(tokens.TokenType) ? "Bearer" : tokens.TokenType,
            ExpiresAt = TokenRules.ExpiresAt(asked, tokens),
            Scopes = tokens.Scopes ?? flow.Scopes,
            Source = "device",
        };
        Connection connection;
        bool created;
        try
        {
            // The grant exists at the provider: store it and end the flow even when stopping.
            (connection, created) = await registry.SaveAsync(grant, CancellationToken.None);
        }
        catch
        {
            // Not left "completing" for ever (the CLI would wait until the flow's expiry).
            await flows.FinishAsync(flow.Id, DeviceFlowStatus.Error, null, "store_failed", CancellationToken.None);
            throw;
        }

        await flows.FinishAsync(flow.Id, DeviceFlowStatus.Complete, connection.Id, null, CancellationToken.None);
        LogCompleted(logger, flow.Id, connection.Id, created);
    }

    private async Task FinishAsync(DeviceFlow flow, DeviceFlowStatus status, string? connectionId, string error, CancellationToken cancellationToken)
    {
        await flows.FinishAsync(flow.Id, status, connectionId, error, cancellationToken);
        LogEnded(logger, flow.Id, error);
    }

    [LoggerMessage(EventId = 3020, Level = LogLevel.Information, Message = "Device flow {FlowId} started for org {OrgId} at {Provider}")]
    private static partial void LogStarted(ILogger logger, string flowId, string orgId, string provider);

    [LoggerMessage(EventId = 3021, Level = LogLevel.Information, Message = "Device flow {FlowId} completed: connection {ConnectionId} (created: {Created})")]
    private static partial void LogCompleted(ILogger logger, string flowId, string connectionId, bool created);

    [LoggerMessage(EventId = 3022, Level = LogLevel.Warning, Message = "Device flow {FlowId} ended: {Error}")]
    private static partial void LogEnded(ILogger logger, string flowId, string error);

    [LoggerMessage(EventId = 3023, Level = LogLevel.Information, Message = "Device flow {FlowId}: the provider asked to slow down; polling every {IntervalSeconds} s")]
    private static partial void LogSlowDown(ILogger logger, string flowId, int intervalSeconds);
}

/// <summary>Polls due device flows on every node, twice a second (each flow only at its own interval).</summary>
public sealed partial class DevicePoller(DeviceFlowEngine engine, ILogger<DevicePoller> logger) : BackgroundService
{
    private static readonly TimeSpan Tick = TimeSpan.FromMilliseconds(500);

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        using var timer = new PeriodicTimer(Tick);
        while (await timer.WaitForNextTickAsync(stoppingToken))
        {
            try
            {
                await engine.PollDueAsync(stoppingToken);
            }
            catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
            {
                break;
            }
            catch (Exception e)
            {
                // The database or the provider is away: the next tick tries again.
                LogPassFailed(logger, e.GetType().Name);
            }
        }
    }

    [LoggerMessage(EventId = 3024, Level = LogLevel.Warning, Message = "Device flow polling pass failed ({Error}); retrying")]
    private static partial void LogPassFailed(ILogger logger, string error);
}
