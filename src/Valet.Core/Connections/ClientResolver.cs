using Valet.Core.OAuth;
using Valet.Core.Providers;
using Valet.Core.Stores;

namespace Valet.Core.Connections;

/// <summary>Which OAuth client speaks for a grant: its pinned BYOC credential, else the provider's platform client.</summary>
public sealed class ClientResolver(ICredentialStore credentials)
{
    public async ValueTask<ClientCredentials?> ResolveAsync(ProviderDefinition provider, string? credentialId, CancellationToken cancellationToken)
    {
        if (credentialId is not null)
        {
            var credential = await credentials.FindAsync(credentialId, cancellationToken);
            return credential is null || credential.Provider != provider.Id ? null : new ClientCredentials(credential.ClientId, credential.ClientSecret);
        }

        return provider.HasPlatformClient ? new ClientCredentials(provider.ClientId!, provider.ClientSecret) : null;
    }

    /// <summary>
    /// The client an org uses for a provider when a caller names none: the org's own (BYOC) credential for that provider,
    /// the one it registered last; null when it has none, and the platform client speaks. An org that registered its
    /// own client gets it on every new grant, whichever way the grant starts (docs/decisions.md, "Which client").
    /// </summary>
    public async ValueTask<string?> OrgCredentialIdAsync(string orgId, string providerId, CancellationToken cancellationToken)
    {
        Domain.Credential? newest = null;
        await foreach (var credential in credentials.ListAsync(orgId, cancellationToken))
        {
            if (credential.Provider == providerId && (newest is null || credential.CreatedAt >= newest.CreatedAt))
            {
                newest = credential;
            }
        }

        return newest?.Id;
    }
}
