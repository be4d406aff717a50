using Microsoft.Extensions.Logging;
using Valet.Core.Domain;
using Valet.Core.Providers;
using Valet.Core.Stores;
using Valet.Server.Http;
using Valet.Server.Logging;

namespace Valet.Server.Credentials;

/// <summary>Registers an org's own OAuth client (BYOC): one rule for the API and the dashboard's settings page.</summary>
internal static class CredentialIssuer
{
    /// <summary>The stored credential, or null with every problem in <paramref name="validation"/>.</summary>
    public static async Task<Credential?> CreateAsync(string orgId, string? provider, string? clientId, string? clientSecret, Validation validation,
        ICredentialStore credentials, IProviderCatalog catalog, TimeProvider time, ILoggerFactory loggers, CancellationToken cancellationToken)
    {
        var providerId = validation.Required("provider", provider, 64);
        var definition = providerId is null ? null : catalog.Find(providerId);
        if (providerId is not null && definition is null)
        {
            validation.UnknownProvider("provider", providerId);
        }
        else if (definition is not null && AuthModes.IsStatic(definition.AuthMode))
        {
            validation.Add("provider", $"'{definition.Id}' is {AuthModes.WithArticle(definition.AuthMode)} provider: it takes no OAuth client (its connections hold their secret)");
        }

        var id = validation.Required("client_id", clientId, 512);
        var secret = validation.Required("client_secret", clientSecret, 4096);
        if (!validation.IsValid)
        {
            return null;
        }

        var credential = new Credential
        {
            Id = Ids.New("cred"),
            OrgId = orgId,
            Provider = definition!.Id,
            ClientId = id!,
            ClientSecret = new Secret(secret!),
            CreatedAt = time.GetUtcNow(),
        };
        await credentials.CreateAsync(credential, cancellationToken);
        Log.CredentialCreated(loggers.CreateLogger("Valet.Credentials"), credential.Id, credential.Provider, orgId);
        return credential;
    }
}
