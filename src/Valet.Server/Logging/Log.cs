using Microsoft.Extensions.Logging;

namespace Valet.Server.Logging;

/// <summary>Server log messages. Event ids: 1xxx hosting, 2xxx admin, 3xxx flows, 4xxx tokens, 5xxx proxy.</summary>
internal static partial class Log
{
    [LoggerMessage(EventId = 1000, Level = LogLevel.Information, Message = "Valet {Version} started: {Mode} mode, data in {DataDirectory}")]
    public static partial void Started(ILogger logger, string version, string mode, string dataDirectory);

    [LoggerMessage(EventId = 1001, Level = LogLevel.Warning, Message = "Generated a new encryption key at {Path} (mode 0600). Back it up: stored tokens cannot be read without it")]
    public static partial void GeneratedKey(ILogger logger, string path);

    [LoggerMessage(EventId = 1002, Level = LogLevel.Information, Message = "Service token for the CLI is in {Path}")]
    public static partial void ServiceTokenFile(ILogger logger, string path);

    [LoggerMessage(EventId = 1097, Level = LogLevel.Error, Message = "Cannot open a stored secret on {Method} {Path}: {Reason}; answered 503")]
    public static partial void VaultUnavailable(ILogger logger, string method, string path, string reason);

    [LoggerMessage(EventId = 1098, Level = LogLevel.Warning, Message = "Storage unavailable ({Failure}) on {Method} {Path}: answered 503")]
    public static partial void StorageUnavailable(ILogger logger, string method, string path, string failure);

    [LoggerMessage(EventId = 1099, Level = LogLevel.Error, Message = "Unhandled {ExceptionType} on {Method} {Path}")]
    public static partial void UnhandledError(ILogger logger, string method, string path, string exceptionType);

    [LoggerMessage(EventId = 2000, Level = LogLevel.Information, Message = "Org {OrgId} created (headless: {Headless})")]
    public static partial void OrgCreated(ILogger logger, string orgId, bool headless);

    [LoggerMessage(EventId = 2001, Level = LogLevel.Information, Message = "Org {OrgId} headless set to {Headless}")]
    public static partial void OrgHeadlessChanged(ILogger logger, string orgId, bool headless);

    [LoggerMessage(EventId = 2010, Level = LogLevel.Information, Message = "Credential {CredentialId} registered for {Provider} in org {OrgId}")]
    public static partial void CredentialCreated(ILogger logger, string credentialId, string provider, string orgId);

    [LoggerMessage(EventId = 2020, Level = LogLevel.Information, Message = "API key {KeyId} ({Prefix}) created in org {OrgId}")]
    public static partial void KeyCreated(ILogger logger, string keyId, string prefix, string orgId);

    [LoggerMessage(EventId = 2021, Level = LogLevel.Information, Message = "API key {KeyId} revoked")]
    public static partial void KeyRevoked(ILogger logger, string keyId);

    [LoggerMessage(EventId = 2022, Level = LogLevel.Information, Message = "API key {KeyId} permissions replaced ({Count})")]
    public static partial void KeyPermissionsChanged(ILogger logger, string keyId, int count);
}
