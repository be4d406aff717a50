using Microsoft.Extensions.Logging;
using Valet.Core.Domain;
using Valet.Core.OAuth;
using Valet.Core.Providers;
using Valet.Core.Stores;

namespace Valet.Core.Connections;

public sealed record DisconnectResult(bool Deleted, bool Revoked);

/// <summary>
/// Disconnect: revoke at the provider (RFC 7009) when it can — refresh token first, since revoking it ends the grant —
/// then delete the tokens and managed targets whatever the provider answered.
/// </summary>
public sealed partial class Disconnector(IConnectionStore connections, IAuditStore audit, IProviderCatalog catalog, IOAuthClient oauth,
    ClientResolver clients, TimeProvider time, ILogger<Disconnector> logger)
{
    public async Task<DisconnectResult> DisconnectAsync(Connection connection, CancellationToken cancellationToken)
    {
        var revoked = false;
        var provider = catalog.Find(connection.Provider) is { } found ? ConnectionParameters.Bind(found, connection.Parameters, out _) : null;
        // A static secret is the operator's to revoke where it was issued; a placeholder was never a token.
        if (provider?.RevocationEndpoint is not null && !StaticSecrets.IsStatic(connection)
            && connection.AccessToken != StaticSecrets.PendingClientCredentialsToken &&
            await clients.ResolveAsync(provider, connection.CredentialId, cancellationToken) is { } client)
        {
            try
            {
                // Revoking the refresh token ends the grant, and the provider SHOULD invalidate its access tokens with it
                // (RFC 7009 §2.1): that is what "revoked" reports. The access token is then revoked too, for providers that
                // do not cascade, but its answer does not count: Google and Salesforce answer 400 for a token the first
                // call already revoked, which made a successful disconnect read "not_revoked".
                if (connection.RefreshToken is { } refresh)
                {
                    revoked = await oauth.RevokeAsync(provider, client, refresh.Reveal(), "refresh_token", cancellationToken);
                    _ = await oauth.RevokeAsync(provider, client, connection.AccessToken.Reveal(), "access_token", cancellationToken);
                }
                else
                {
                    revoked = await oauth.RevokeAsync(provider, client, connection.AccessToken.Reveal(), "access_token", cancellationToken);
                }
            }
            catch (Exception error) when (error is HttpRequestException or TaskCanceledException)
            {
                LogRevocationFailed(logger, connection.Id, error.GetType().Name);
            }
        }

        var deleted = await connections.DeleteAsync(connection.Id, cancellationToken);
        await audit.AppendAsync(new AuditEvent
        {
            OrgId = connection.OrgId,
            Kind = "connection.deleted",
            ConnectionId = connection.Id,
            Detail = revoked ? "revoked" : "not_revoked",
            At = time.GetUtcNow(),
        }, cancellationToken);
        return new DisconnectResult(deleted, revoked);
    }

    [LoggerMessage(EventId = 3200, Level = LogLevel.Warning, Message = "Revocation for connection {ConnectionId} failed ({Error}); deleting anyway")]
    private static partial void LogRevocationFailed(ILogger logger, string connectionId, string error);
}
