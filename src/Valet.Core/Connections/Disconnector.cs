using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using Valet.Core.Domain;
using Valet.Core.OAuth;
using Valet.Core.Providers;
using Valet.Core.Stores;
using Valet.Core.Tokens;

namespace Valet.Core.Connections;

public sealed record DisconnectResult(bool Deleted, bool Revoked);

/// <summary>
/// Disconnect: revoke at the provider (RFC 7009) when it can — refresh token first, since revoking it ends the grant —
/// then delete the tokens and managed targets whatever the provider answered.
/// </summary>
public sealed partial class Disconnector(IConnectionStore connections, IConnectionLocks locks, IAuditStore audit, IProviderCatalog catalog,
    IOAuthClient oauth, ClientResolver clients, IOptionsMonitor<RefreshOptions> options, TimeProvider time, ILogger<Disconnector> logger)
{
    public async Task<DisconnectResult> DisconnectAsync(Connection connection, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(connection);
        var settings = options.CurrentValue;

        // The client is read before the lease, as a refresh reads it (RefreshCoordinator): read under it, it would hold
        // a second pooled connection while the lease holds one.
        var client = Revocable(connection) is { } early ? await clients.ResolveAsync(early, connection.CredentialId, cancellationToken) : null;

        // The tokens to revoke are read under the refresh lock, and the lock is held while they are revoked: a refresh in
        // flight elsewhere (another node, or this one) would otherwise rotate the refresh token after it was read here,
        // and the revocation would reach the spent one (a provider may answer 200 for that, RFC 7009 §2.2) while the new
        // grant stays live at the provider after Valet deleted its only copy. Once revoked, a refresh that slips in before
        // the delete presents a revoked token and changes nothing. If the lock stays out of reach, the row as read is used.
        IConnectionLease? lease = null;
        using (var wait = new CancellationTokenSource(settings.LockTimeout, time))
        using (var linked = CancellationTokenSource.CreateLinkedTokenSource(wait.Token, cancellationToken))
        {
            try
            {
                lease = await locks.AcquireAsync(connection.Id, linked.Token);
            }
            catch (OperationCanceledException) when (wait.IsCancellationRequested && !cancellationToken.IsCancellationRequested)
            {
                LogLockUnavailable(logger, connection.Id);
            }
        }

        var revoked = false;
        await using (lease)
        {
            // The row under the lock decides; its client is read again only if the connection changed client meanwhile.
            var current = lease?.Connection ?? connection;
            if (Revocable(current) is { } provider
                && (current.CredentialId == connection.CredentialId ? client : await clients.ResolveAsync(provider, current.CredentialId, cancellationToken))
                    is { } revoker)
            {
                // Both revocations within ProviderTimeout, well inside the lease's idle limit (ProviderTimeout + 30 s on
                // PostgreSQL): a slow revocation endpoint must not outlast the lock it is held under.
                using var bounded = new CancellationTokenSource(settings.ProviderTimeout, time);
                using var linked = CancellationTokenSource.CreateLinkedTokenSource(bounded.Token, cancellationToken);
                revoked = await RevokeAsync(current, provider, revoker, linked.Token);
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

    /// <summary>
    /// The connection's provider (bound to its parameters) when it has tokens Valet revokes: an OAuth grant at a provider
    /// with a revocation endpoint. A static secret is the operator's to revoke where it was issued; a placeholder was
    /// never a token.
    /// </summary>
    private ProviderDefinition? Revocable(Connection connection) =>
        catalog.Find(connection.Provider) is { } found && ConnectionParameters.Bind(found, connection.Parameters, out _) is { RevocationEndpoint: not null } provider
        && !StaticSecrets.IsStatic(connection) && connection.AccessToken != StaticSecrets.PendingClientCredentialsToken
            ? provider
            : null;

    private async Task<bool> RevokeAsync(Connection connection, ProviderDefinition provider, ClientCredentials client, CancellationToken cancellationToken)
    {
        var revoked = false;
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
        catch (Exception error) when (error is HttpRequestException or OperationCanceledException)
        {
            LogRevocationFailed(logger, connection.Id, error.GetType().Name);
        }

        return revoked;
    }

    [LoggerMessage(EventId = 3200, Level = LogLevel.Warning, Message = "Revocation for connection {ConnectionId} failed ({Error}); deleting anyway")]
    private static partial void LogRevocationFailed(ILogger logger, string connectionId, string error);

    [LoggerMessage(EventId = 3201, Level = LogLevel.Warning, Message = "Disconnect of {ConnectionId}: the refresh lock stayed held; revoking the tokens as last read")]
    private static partial void LogLockUnavailable(ILogger logger, string connectionId);
}
