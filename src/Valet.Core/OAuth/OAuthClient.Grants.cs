using Valet.Core.Providers;

namespace Valet.Core.OAuth;

/// <summary>The grants beyond authorization code and refresh: client credentials (RFC 6749 §4.4).</summary>
public sealed partial class OAuthClient
{
    public Task<TokenResult> ClientCredentialsAsync(ProviderDefinition provider, ClientCredentials client, IReadOnlyList<string> scopes,
        CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(provider);
        ArgumentNullException.ThrowIfNull(scopes);
        var form = new List<KeyValuePair<string, string>> { new("grant_type", "client_credentials") };
        if (scopes.Count > 0)
        {
            form.Add(new("scope", string.Join(provider.ScopeSeparator, scopes)));
        }

        return SendTokenRequestAsync(provider, client, form, cancellationToken);
    }
}
