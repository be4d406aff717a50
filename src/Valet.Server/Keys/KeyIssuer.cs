using Microsoft.Extensions.Logging;
using Valet.Core.Domain;
using Valet.Core.Keys;
using Valet.Core.Stores;
using Valet.Server.Logging;

namespace Valet.Server.Keys;

/// <summary>Mints and stores an API key: one place for the API (<c>POST /v1/orgs/{org}/keys</c>) and the dashboard.</summary>
internal static class KeyIssuer
{
    /// <summary>The stored key and its secret, which exists nowhere else: the caller shows it once.</summary>
    public static async Task<(ApiKey Key, Secret Secret)> CreateAsync(string orgId, string name, IReadOnlyList<Permission> permissions,
        IApiKeyStore keys, TimeProvider time, ILoggerFactory loggers, CancellationToken cancellationToken)
    {
        var minted = ApiKeySecrets.Mint();
        var key = new ApiKey
        {
            Id = Ids.New("key"),
            OrgId = orgId,
            Name = name,
            Prefix = minted.Prefix,
            Hash = minted.Hash,
            Permissions = permissions,
            CreatedAt = time.GetUtcNow(),
        };
        await keys.CreateAsync(key, cancellationToken);
        Log.KeyCreated(loggers.CreateLogger("Valet.Keys"), key.Id, key.Prefix, orgId);
        return (key, minted.Key);
    }
}
