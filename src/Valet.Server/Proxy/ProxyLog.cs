using Microsoft.Extensions.Logging;

namespace Valet.Server.Proxy;

/// <summary>Proxy log messages (event ids 50xx). Never a token, a header value, a body or a query value.</summary>
internal static partial class ProxyLog
{
    [LoggerMessage(EventId = 5000, Level = LogLevel.Debug, Message = "Proxied {Method} for connection {ConnectionId}: {Status} in {DurationMs} ms")]
    public static partial void Forwarded(ILogger logger, string method, string connectionId, int status, long durationMs);

    [LoggerMessage(EventId = 5001, Level = LogLevel.Information, Message = "Upstream rejected the token of connection {ConnectionId}; refreshed and retrying once")]
    public static partial void RetryingAfterRefresh(ILogger logger, string connectionId);

    [LoggerMessage(EventId = 5002, Level = LogLevel.Information, Message = "Upstream rejected the token of connection {ConnectionId}; the 401 goes back ({Reason})")]
    public static partial void UnauthorizedPassedOn(ILogger logger, string connectionId, string reason);

    [LoggerMessage(EventId = 5003, Level = LogLevel.Warning, Message = "Upstream of connection {ConnectionId} failed: {Error} ({ExceptionType})")]
    public static partial void UpstreamFailed(ILogger logger, string connectionId, string error, string exceptionType);

    [LoggerMessage(EventId = 5004, Level = LogLevel.Warning, Message = "Refused to connect to {Host} for connection {ConnectionId}: it resolved to a {AddressClass} address")]
    public static partial void AddressRefused(ILogger logger, string host, string connectionId, string addressClass);

    [LoggerMessage(EventId = 5005, Level = LogLevel.Warning, Message = "Connection {ConnectionId} has an API base outside its provider's API hosts; using the provider's")]
    public static partial void ConnectionBaseIgnored(ILogger logger, string connectionId);

    [LoggerMessage(EventId = 5006, Level = LogLevel.Warning, Message = "Upstream rejected the token of connection {ConnectionId}; the refresh met a provider outage, answering {Status} provider_unavailable")]
    public static partial void RefreshUnavailableAfter401(ILogger logger, string connectionId, int status);
}
