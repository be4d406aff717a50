using Valet.Core.Connections;
using Valet.Core.Domain;
using Valet.Core.OAuth;
using Valet.Core.Providers;
using Valet.Core.Stores;
using Valet.Server.Http;

namespace Valet.Server.Connections;

/// <summary>
/// <c>POST /v1/orgs/{org}/connections</c> (SPEC §13): an operator creates a non-OAuth connection — an API key, a
/// username and password, or a client-credentials connection whose token Valet fetches on first use. Secrets are
/// write-only. <paramref name="Account"/> is optional: without it the connection's account id is <c>default</c>
/// (client credentials: the client id), so posting again for the same provider replaces the secret in place.
/// </summary>
internal sealed record CreateConnectionRequest([property: System.ComponentModel.DataAnnotations.Required] string? Provider, ImportAccount? Account, string? ApiKey, string? Username, string? Password,
    string? CredentialId, string[]? Scopes, string? ApiBaseUrl = null);

/// <summary><c>PUT /v1/connections/{id}/secret</c>: a new secret for the same connection (same id, same permissions).</summary>
internal sealed record RotateSecretRequest(string? ApiKey, string? Username, string? Password);

/// <summary>The one rule for creating and rotating operator-made connections: the API and the dashboard's form.</summary>
internal static class OperatorConnections
{
    public const string DefaultAccountId = "default";

    /// <summary>The stored connection (and whether it was created), or null with every problem in <paramref name="validation"/>.</summary>
    public static async Task<(Connection Connection, bool Created)?> CreateAsync(string orgId, CreateConnectionRequest? request, Validation validation,
        IProviderCatalog catalog, ICredentialStore credentials, IConnectionStore connections, ConnectionRegistry registry, ClientResolver clients,
        TimeProvider time, bool headless, CancellationToken cancellationToken)
    {
        var providerId = validation.Required("provider", request?.Provider, 64);
        var provider = providerId is null ? null : catalog.Find(providerId);
        if (providerId is not null && provider is null)
        {
            validation.UnknownProvider("provider", providerId);
        }

        var accountId = request?.Account?.Id;
        if (accountId is not null && (string.IsNullOrWhiteSpace(accountId) || accountId.Length > 256))
        {
            validation.Add("account.id", "must be a non-empty string of at most 256 characters");
        }
        else if (accountId is not null && Validation.HasControl(accountId))
        {
            validation.Add("account.id", Validation.NoControlCharacters);
        }

        validation.OptionalText("account.login", request?.Account?.Login, 256);

        if (provider is null || request is null)
        {
            return null;
        }

        var grant = provider.AuthMode switch
        {
            AuthMode.ApiKey or AuthMode.Basic => StaticGrant(orgId, provider, request.ApiKey, request.Username, request.Password, validation),
            AuthMode.OAuth2ClientCredentials => await ClientCredentialsGrantAsync(orgId, provider, request, validation, credentials, clients, time,
                headless, cancellationToken),
            _ => Refuse(validation, provider),
        };
        if (grant is null || !validation.IsValid)
        {
            return null;
        }

        var apiBase = ConnectionApiBase(provider, request.ApiBaseUrl, validation);
        if (!validation.IsValid)
        {
            return null;
        }

        // Posting again for an account replaces its secret in place; a login or email left out keeps the stored one, as an
        // import does, and so do a client-credentials connection's scopes (re-posting is how it recovers from invalid_client:
        // it must not come back with only the provider's defaults).
        var account = request.Account;
        var id = accountId?.Trim() ?? grant.Account.Id;
        var existing = await connections.FindByAccountAsync(orgId, provider.Id, id, cancellationToken);
        grant = grant with
        {
            Account = new AccountIdentity(id, account?.Login ?? existing?.AccountLogin ?? grant.Account.Login, account?.Email ?? existing?.AccountEmail),
            ApiBaseUrl = apiBase,
            Scopes = request.Scopes is null && provider.AuthMode == AuthMode.OAuth2ClientCredentials && existing?.Scopes is { Count: > 0 } kept
                ? kept
                : grant.Scopes,
        };
        return await registry.SaveAsync(grant, cancellationToken);
    }

    /// <summary>A new secret for <paramref name="connection"/>, stored in place (same row and id). Null with problems in <paramref name="validation"/>.</summary>
    public static async Task<Connection?> RotateAsync(Connection connection, RotateSecretRequest? request, Validation validation, IProviderCatalog catalog,
        ConnectionRegistry registry, CancellationToken cancellationToken)
    {
        var provider = catalog.Find(connection.Provider);
        if (provider is null || !StaticSecrets.IsStatic(connection) || !AuthModes.IsStatic(provider.AuthMode))
        {
            validation.Add("connection", "only api_key and basic connections hold a secret an operator can replace");
            return null;
        }

        var grant = StaticGrant(connection.OrgId, provider, request?.ApiKey, request?.Username, request?.Password, validation);
        if (grant is null || !validation.IsValid)
        {
            return null;
        }

        var (stored, _) = await registry.SaveAsync(grant with
        {
            Account = new AccountIdentity(connection.AccountId, connection.AccountLogin, connection.AccountEmail),
            ApiBaseUrl = connection.ApiBaseUrl,
            Source = "rotate",
        }, cancellationToken);
        return stored;
    }

    /// <summary>
    /// A connection's own API base (a Jira site): only on the provider's API hosts or an https host ending in one of its
    /// instance suffixes; required when the provider has no API base of its own.
    /// </summary>
    private static string? ConnectionApiBase(ProviderDefinition provider, string? requested, Validation validation)
    {
        if (requested is null)
        {
            if (provider.ApiBaseUrls.Count == 0)
            {
                validation.Add("api_base_url", $"is required for '{provider.Id}': the site to call, on " +
                    string.Join(" or ", provider.InstanceUrlHostSuffixes.Select(s => "https://…" + s)));
            }

            return null;
        }

        if (ApiBases.Parse(requested.Trim()) is not { } uri || !ApiBases.IsAllowedConnectionBase(provider, uri))
        {
            validation.Add("api_base_url", "must be an https URL on one of the provider's API hosts" +
                (provider.InstanceUrlHostSuffixes.Count > 0 ? " or ending in " + string.Join(", ", provider.InstanceUrlHostSuffixes) : string.Empty) +
                ", without query or credentials");
            return null;
        }

        return uri.AbsoluteUri.TrimEnd('/');
    }

    private static GrantToStore? StaticGrant(string orgId, ProviderDefinition provider, string? apiKey, string? username, string? password,
        Validation validation)
    {
        Secret secret;
        string type;
        if (provider.AuthMode == AuthMode.ApiKey)
        {
            if (username is not null || password is not null)
            {
                validation.Add("username", $"provider '{provider.Id}' takes an api_key, not a username and password");
            }

            var key = validation.Required("api_key", apiKey, StaticSecrets.MaxLength);
            if (key is not null && StaticSecrets.CheckValue(key, allowSpaces: false) is { } problem)
            {
                validation.Add("api_key", problem);
            }

            if (!validation.IsValid)
            {
                return null;
            }

            (secret, type) = (new Secret(key!), StaticSecrets.ApiKeyType);
        }
        else
        {
            if (apiKey is not null)
            {
                validation.Add("api_key", $"provider '{provider.Id}' takes a username and password (HTTP Basic), not an api_key (valet: --username NAME, and the password on stdin with --secret -)");
            }

            var user = validation.Required("username", username, 512);
            if (user is not null && (user.Contains(':', StringComparison.Ordinal) || StaticSecrets.CheckValue(user, allowSpaces: true) is not null))
            {
                validation.Add("username", "must not contain ':' or control characters (RFC 7617)");
            }

            // Not trimmed: a password is taken exactly as given.
            if (string.IsNullOrEmpty(password))
            {
                validation.Add("password", "is required");
            }
            else if (StaticSecrets.CheckValue(password, allowSpaces: true) is { } problem)
            {
                validation.Add("password", problem);
            }

            if (!validation.IsValid)
            {
                return null;
            }

            (secret, type) = (StaticSecrets.Basic(user!, password!), StaticSecrets.BasicType);
        }

        return new GrantToStore
        {
            OrgId = orgId,
            Provider = provider,
            Account = new AccountIdentity(DefaultAccountId, null, null),
            AccessToken = secret,
            TokenType = type,
            Source = "operator",
        };
    }

    private static async Task<GrantToStore?> ClientCredentialsGrantAsync(string orgId, ProviderDefinition provider, CreateConnectionRequest request,
        Validation validation, ICredentialStore credentials, ClientResolver clients, TimeProvider time, bool headless, CancellationToken cancellationToken)
    {
        if (request.ApiKey is not null || request.Username is not null || request.Password is not null)
        {
            validation.Add("api_key", $"provider '{provider.Id}' uses client credentials: no api_key, username or password (register the client with POST /v1/orgs/{{org}}/credentials or valet credentials add, or configure the platform client)");
        }

        validation.Scopes("scopes", request.Scopes, 200);

        string? credentialId = null;
        if (request.CredentialId is { } requested)
        {
            var credential = requested.Length <= 64 ? await credentials.FindAsync(requested, cancellationToken) : null;
            if (credential is null || credential.OrgId != orgId || credential.Provider != provider.Id)
            {
                validation.Add("credential_id", $"no credential '{(requested.Length <= 64 ? requested : requested[..64] + "…")}' for provider '{provider.Id}' in this org");
            }
            else
            {
                credentialId = credential.Id;
            }
        }

        if (request.CredentialId is null && validation.IsValid)
        {
            credentialId = await clients.OrgCredentialIdAsync(orgId, provider.Id, cancellationToken);
        }

        // A client-credentials token is the client's own identity, not a person's grant: the platform's client would hand a
        // headless (white-label) org the operator's machine identity, shared with every other org. Its own client only.
        if (headless && validation.IsValid && credentialId is null)
        {
            validation.Add("credential_id", $"a headless org uses its own client for '{provider.Id}': register one (POST /v1/orgs/{orgId}/credentials, valet credentials add) and give its credential_id; the platform's client is not lent to headless orgs");
        }

        var client = validation.IsValid ? await clients.ResolveAsync(provider, credentialId, cancellationToken) : null;
        if (validation.IsValid && client is null)
        {
            validation.Add("credential_id", $"provider '{provider.Id}' has no platform client: give the credential_id of a registered client");
        }

        if (!validation.IsValid)
        {
            return null;
        }

        // Scopes are what the token request asks for (the provider's defaults when none are given).
        IReadOnlyList<string> wanted = request.Scopes is { Length: > 0 } s ? [.. s.Distinct(StringComparer.Ordinal)] : provider.DefaultScopes;
        return new GrantToStore
        {
            OrgId = orgId,
            Provider = provider,
            CredentialId = credentialId,
            Account = new AccountIdentity(client!.ClientId, client.ClientId, null),
            AccessToken = StaticSecrets.PendingClientCredentialsToken,
            TokenType = "Bearer",
            ExpiresAt = time.GetUtcNow(),
            Scopes = wanted,
            Source = "operator",
        };
    }

    private static GrantToStore? Refuse(Validation validation, ProviderDefinition provider)
    {
        validation.Add("provider", $"'{provider.Id}' is an oauth2 provider: a person connects it (POST /v1/orgs/{{org}}/connect, valet connect) or tokens are imported");
        return null;
    }
}
