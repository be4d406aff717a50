using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Http.HttpResults;
using Valet.Core.Connections;
using Valet.Core.Domain;
using Valet.Core.OAuth;
using Valet.Core.Providers;
using Valet.Core.Stores;
using Valet.Server.Http;

namespace Valet.Server.Connections;

internal sealed record ImportAccount(string? Id, string? Login, string? Email);

internal sealed record ImportRequest([property: System.ComponentModel.DataAnnotations.Required] string? Provider, [property: System.ComponentModel.DataAnnotations.Required] string? CredentialId, [property: System.ComponentModel.DataAnnotations.Required] string? AccessToken, string? RefreshToken, DateTimeOffset? ExpiresAt,
    long? ExpiresIn, string[]? Scopes, ImportAccount? Account, string? TokenType, Dictionary<string, string>? Parameters = null);

/// <summary>
/// Tokens a white-label integrator obtained itself. Rules (SPEC §4): the credential pin is required; upsert on
/// (org, provider, account); omitted fields of a re-import keep their stored values; omitted scopes on a new
/// connection are stored as unknown; widening scopes without a new refresh token is refused.
/// </summary>
internal static class ImportEndpoint
{
    public static async Task<Results<Created<ConnectionResponse>, Ok<ConnectionResponse>, ProblemResult>> ImportAsync(string org,
        ImportRequest? request, ICredentialStore credentials, IConnectionStore connections, IProviderCatalog catalog, ConnectionRegistry registry,
        TimeProvider time, CancellationToken cancellationToken)
    {
        if (string.IsNullOrWhiteSpace(request?.CredentialId))
        {
            return Problems.BadRequest("credential_required",
                "credential_id is required: register the OAuth client that obtained these tokens with POST /v1/orgs/{org}/credentials (valet credentials add).");
        }

        var credential = request.CredentialId.Length <= 64 ? await credentials.FindAsync(request.CredentialId, cancellationToken) : null;
        if (credential is null)
        {
            return Problems.NotFound("credential_not_found", $"No credential '{request.CredentialId}'.");
        }

        var validation = new Validation();
        var providerId = validation.Required("provider", request.Provider, 64);
        var provider = providerId is null ? null : catalog.Find(providerId);
        if (providerId is not null && provider is null)
        {
            validation.UnknownProvider("provider", providerId);
        }
        else if (provider is not null && provider.AuthMode != AuthMode.OAuth2)
        {
            // An import would overwrite a stored API key or password with a bearer token (and reveal it without "reveal");
            // client-credentials tokens are Valet's own to fetch.
            validation.Add("provider", $"'{provider.Id}' is {AuthModes.WithArticle(provider.AuthMode)} provider: tokens are imported only for oauth2 " +
                "providers; an operator creates its connection with POST /v1/orgs/{org}/connections (valet connections add)");
        }

        var accessToken = validation.Required("access_token", request.AccessToken, 16 * 1024);
        if (request.RefreshToken is { Length: 0 or > 16 * 1024 })
        {
            validation.Add("refresh_token", "must be a non-empty string of at most 16384 characters");
        }

        var accountId = validation.Text("account.id", request.Account?.Id, 256);
        validation.OptionalText("account.login", request.Account?.Login, 256);
        validation.OptionalText("account.email", request.Account?.Email, 320);
        if (request.ExpiresAt is not null && request.ExpiresIn is not null)
        {
            validation.Add("expires_in", "give expires_at or expires_in, not both");
        }

        // The lifetime rule of provider answers (TokenRules.MaxLifetime); a caller can correct its input, so it is refused, not clamped.
        var now = time.GetUtcNow();
        if (request.ExpiresIn is < 0 || request.ExpiresIn > TokenRules.MaxLifetimeSeconds)
        {
            validation.Add("expires_in", "must be between 0 and ten years in seconds");
        }

        if (request.ExpiresAt is { } at && !TokenRules.IsPlausibleExpiry(now, at))
        {
            validation.Add("expires_at", "must be within ten years of now");
        }

        validation.Scopes("scopes", request.Scopes, 200);

        if (!validation.IsValid)
        {
            return validation.Problem();
        }

        // Tokens go verbatim into outbound Authorization headers: refused, never stored, when they could not be sent.
        if (!TokenRules.IsValidTokenValue(accessToken) || (request.RefreshToken is { } refreshValue && !TokenRules.IsValidTokenValue(refreshValue)))
        {
            return Problems.Unprocessable("invalid_token_value",
                "access_token and refresh_token must be printable ASCII without spaces or control characters.");
        }

        if (TokenRules.BearerTokenType(request.TokenType, provider) is not { } tokenType)
        {
            return Problems.Unprocessable("unsupported_token_type", "token_type must be Bearer (or omitted): Valet sends tokens as bearer tokens only.");
        }

        if (credential.OrgId != org || credential.Provider != provider!.Id)
        {
            return Problems.Unprocessable("credential_mismatch", "The credential belongs to another org or provider.");
        }

        // A templated provider's connection parameters (a Zendesk subdomain…): a re-import without them keeps the stored ones.
        var existing = await connections.FindByAccountAsync(org, provider.Id, accountId!, cancellationToken);
        var parameters = ConnectionParameters.Normalize(provider, request.Parameters ?? existing?.Parameters?.ToDictionary(), out var parameterProblem);
        if (parameterProblem is not null || ConnectionParameters.Bind(provider, parameters, out parameterProblem) is null)
        {
            return Problems.Unprocessable("invalid_parameters", parameterProblem ?? "Invalid connection parameters.");
        }

        var newScopes = request.Scopes?.Distinct(StringComparer.Ordinal).ToList();
        if (existing is { Scopes: { } stored } && newScopes is not null && request.RefreshToken is null &&
            newScopes.Except(stored, StringComparer.Ordinal).Any())
        {
            return Problems.BadRequest("scopes_widened_without_refresh_token",
                "These scopes are wider than the stored grant, but no new refresh_token came with them: the old refresh token cannot carry them. Import the refresh token of the new grant.");
        }

        // A refresh token is bound to the client it was issued to (RFC 6749 §6): a re-import under another client without a
        // refresh token of its own would have Valet present the old client's token with the new client's credentials.
        if (existing is { RefreshToken: not null } && existing.CredentialId != credential.Id && request.RefreshToken is null)
        {
            return Problems.BadRequest("refresh_token_required",
                "The stored refresh token was issued to the connection's other OAuth client; import the refresh token of the grant made with this credential.");
        }

        // No expiry given: a JWT access token's own exp, as for a provider's answer without expires_in (TokenRules.ExpiresAt).
        DateTimeOffset? expiresAt = request.ExpiresAt ?? (request.ExpiresIn is { } seconds ? now.AddSeconds(seconds) : (DateTimeOffset?)null)
            ?? TokenRules.UsableExp(now, TokenRules.JwtExp(accessToken!)) ?? existing?.ExpiresAt;
        var (connection, created) = await registry.SaveAsync(new GrantToStore
        {
            OrgId = org,
            Provider = provider,
            CredentialId = credential.Id,
            Account = new AccountIdentity(accountId!, request.Account!.Login ?? existing?.AccountLogin, request.Account.Email ?? existing?.AccountEmail),
            AccessToken = new Secret(accessToken!),
            // Omitted: null, and the write keeps the stored one in the same statement. Passing the one read above instead
            // would write it back over a refresh that rotated it since (the read is not under the refresh lock).
            RefreshToken = request.RefreshToken is { } refresh ? new Secret(refresh) : null,
            KeepsStoredRefreshToken = request.RefreshToken is null && existing?.RefreshToken is not null,
            TokenType = tokenType,
            ExpiresAt = expiresAt,
            Scopes = newScopes ?? existing?.Scopes,
            ApiBaseUrl = existing?.ApiBaseUrl,
            Parameters = parameters,
            Source = "import",
        }, cancellationToken);

        var body = ConnectionResponse.From(connection);
        return created ? TypedResults.Created($"/v1/connections/{connection.Id}", body) : TypedResults.Ok(body);
    }
}
