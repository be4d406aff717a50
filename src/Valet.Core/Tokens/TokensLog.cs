using Microsoft.Extensions.Logging;

namespace Valet.Core.Tokens;

/// <summary>Refresh logging, event ids 3100–3199. Ids, reasons and classes only: never a token, code or secret.</summary>
internal static partial class TokensLog
{
    [LoggerMessage(3100, LogLevel.Debug, "Refreshed connection {ConnectionId} ({Reason}).")]
    public static partial void Refreshed(ILogger logger, string connectionId, string reason);

    [LoggerMessage(3101, LogLevel.Debug, "Connection {ConnectionId} was refreshed meanwhile by another caller; reusing it.")]
    public static partial void Reused(ILogger logger, string connectionId);

    [LoggerMessage(3102, LogLevel.Warning, "Connection {ConnectionId} needs re-authorization: {StatusReason}.")]
    public static partial void ReauthRequired(ILogger logger, string connectionId, string statusReason);

    // Reason: the provider's error code or Valet's own (TokenResponseReader.SanitizeCode: [a-z0-9_.-], at most 64), never a value.
    [LoggerMessage(3103, LogLevel.Warning, "Refresh of connection {ConnectionId} failed ({FailureClass}: {Reason}, {Failures} in a row); next attempt at {NextRefreshAt:o}.")]
    public static partial void ProviderUnavailable(ILogger logger, string connectionId, string failureClass, string reason, int failures, DateTimeOffset nextRefreshAt);

    [LoggerMessage(3104, LogLevel.Warning, "Connection {ConnectionId} cannot be refreshed: {Problem} (provider {Provider}). Fix the configuration or credential.")]
    public static partial void NoClient(ILogger logger, string connectionId, string problem, string provider);

    [LoggerMessage(3105, LogLevel.Warning, "Waiting for the refresh lock of connection {ConnectionId} timed out.")]
    public static partial void LockTimedOut(ILogger logger, string connectionId);

    [LoggerMessage(3106, LogLevel.Error, "Could not append the audit event for connection {ConnectionId}.")]
    public static partial void AuditFailed(ILogger logger, Exception exception, string connectionId);

    [LoggerMessage(3107, LogLevel.Information, "Connection {ConnectionId} got a new grant (or was deleted) during its refresh; the refresh result was dropped.")]
    public static partial void RefreshDropped(ILogger logger, string connectionId);

    [LoggerMessage(3108, LogLevel.Warning, "Could not store the tokens of refreshed connection {ConnectionId} ({ErrorType}); trying again, for up to {Window}.")]
    public static partial void CommitFailed(ILogger logger, string connectionId, string errorType, TimeSpan window);

    [LoggerMessage(3109, LogLevel.Error, "Gave up storing the tokens of refreshed connection {ConnectionId} after {Attempts} attempt(s) ({ErrorType}). If the provider rotated its refresh token, the connection must be reconnected.")]
    public static partial void CommitAbandoned(ILogger logger, string connectionId, int attempts, string errorType);

    [LoggerMessage(3113, LogLevel.Information, "Stored the tokens of refreshed connection {ConnectionId} on attempt {Attempt}.")]
    public static partial void CommitRecovered(ILogger logger, string connectionId, int attempt);

    [LoggerMessage(3110, LogLevel.Error, "A background refresh pass failed; the refresher keeps running.")]
    public static partial void ProactivePassFailed(ILogger logger, Exception exception);

    [LoggerMessage(3111, LogLevel.Error, "Background refresh of connection {ConnectionId} failed; the refresher keeps running.")]
    public static partial void ProactiveRefreshFailed(ILogger logger, Exception exception, string connectionId);

    [LoggerMessage(3117, LogLevel.Warning, "A background refresh pass could not reach the database ({Error}); the next pass tries again.")]
    public static partial void ProactivePassStorageDown(ILogger logger, string error);

    [LoggerMessage(3118, LogLevel.Warning, "Background refresh of connection {ConnectionId} could not reach the database ({Error}); it stays due.")]
    public static partial void ProactiveRefreshStorageDown(ILogger logger, string connectionId, string error);

    [LoggerMessage(3112, LogLevel.Debug, "Background refresher claimed {Count} due connection(s).")]
    public static partial void Claimed(ILogger logger, int count);

    [LoggerMessage(3114, LogLevel.Information, "Stopping: waiting up to {Bound} for {Count} refresh(es) in flight, so a rotated refresh token is stored before the process exits.")]
    public static partial void Draining(ILogger logger, int count, TimeSpan bound);

    [LoggerMessage(3115, LogLevel.Error, "Stopped with {Count} refresh(es) still in flight after {Bound}: a provider may have rotated a refresh token that was not stored (the connection will need a reconnect).")]
    public static partial void DrainAbandoned(ILogger logger, int count, TimeSpan bound);

    [LoggerMessage(3116, LogLevel.Information, "Stopping: the refresh of connection {ConnectionId} did not ask its provider (its callers are told to try again).")]
    public static partial void NotAskedWhileStopping(ILogger logger, string connectionId);
}
