using Valet.Core.Stores;

namespace Valet.Server.Connections;

internal enum SetDefaultOutcome
{
    Set,
    ConnectionNotFound,
    ProviderMismatch,
}

/// <summary>
/// The org's default (active) connection for a provider: the one the token route uses when several could serve. One
/// rule for the API (<c>PUT /v1/orgs/{org}/defaults/{provider}</c>) and the dashboard's settings page.
/// </summary>
internal static class DefaultConnections
{
    public static async Task<SetDefaultOutcome> SetAsync(string orgId, string provider, string connectionId, IOrgStore orgs,
        IConnectionStore connections, CancellationToken cancellationToken)
    {
        var connection = connectionId.Length <= 64 ? await connections.FindAsync(connectionId, cancellationToken) : null;
        if (connection is null || connection.OrgId != orgId)
        {
            return SetDefaultOutcome.ConnectionNotFound;
        }

        if (connection.Provider != provider)
        {
            return SetDefaultOutcome.ProviderMismatch;
        }

        await orgs.SetDefaultConnectionAsync(orgId, provider, connection.Id, cancellationToken);
        return SetDefaultOutcome.Set;
    }
}
