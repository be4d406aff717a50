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
}
