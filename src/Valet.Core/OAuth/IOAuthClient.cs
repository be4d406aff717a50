namespace Valet.Core.OAuth;

/// <summary>The OAuth 2.0 protocol against one catalog provider, with its quirks applied.</summary>
public interface IOAuthClient
{
    /// <summary>Authorization URL with PKCE S256, state, scopes (with the provider's separator) and extra parameters.</summary>
    Uri BuildAuthorizationUrl(Providers.ProviderDefinition provider, AuthorizationRequest request);

    Task<TokenResult> ExchangeCodeAsync(Providers.ProviderDefinition provider, ClientCredentials client, string code,
        string redirectUri, string codeVerifier, CancellationToken cancellationToken);

    Task<TokenResult> RefreshAsync(Providers.ProviderDefinition provider, ClientCredentials client, string refreshToken,
        CancellationToken cancellationToken);

    /// <summary>RFC 6749 §4.4 client credentials grant: a token for the client itself, with <paramref name="scopes"/> (none: the provider's default).</summary>
    Task<TokenResult> ClientCredentialsAsync(Providers.ProviderDefinition provider, ClientCredentials client, IReadOnlyList<string> scopes,
        CancellationToken cancellationToken);

    /// <summary>RFC 7009. True when the provider accepted (or has no revocation endpoint: false).</summary>
    Task<bool> RevokeAsync(Providers.ProviderDefinition provider, ClientCredentials client, string token, string tokenTypeHint,
        CancellationToken cancellationToken);

    /// <summary>Reads the account identity (user-info endpoint, or the token response's hint). Null when it cannot.</summary>
    Task<AccountIdentity?> GetIdentityAsync(Providers.ProviderDefinition provider, TokenSet tokens, CancellationToken cancellationToken);
}
