using System.Text.Json.Nodes;
using Valet.Core.Domain;
using Valet.Core.Providers;

namespace Valet.Core.OAuth;

/// <summary>The grants beyond authorization code and refresh: client credentials (RFC 6749 §4.4) and device authorization (RFC 8628).</summary>
public sealed partial class OAuthClient : IDeviceAuthorizationClient
{
    public const string DeviceCodeGrantType = "urn:ietf:params:oauth:grant-type:device_code";

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

    public Task<TokenResult> PollDeviceTokenAsync(ProviderDefinition provider, ClientCredentials client, string deviceCode,
        CancellationToken cancellationToken) =>
        SendTokenRequestAsync(provider, client, [new("grant_type", DeviceCodeGrantType), new("device_code", deviceCode)], cancellationToken);

    public async Task<(DeviceAuthorization? Authorization, TokenError? Error)> StartDeviceAuthorizationAsync(ProviderDefinition provider,
        ClientCredentials client, IReadOnlyList<string> scopes, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(provider);
        ArgumentNullException.ThrowIfNull(scopes);
        var endpoint = provider.DeviceAuthorizationEndpoint
            ?? throw new InvalidOperationException($"Provider '{provider.Id}' has no device authorization endpoint.");
        var form = new List<KeyValuePair<string, string>>();
        if (scopes.Count > 0)
        {
            form.Add(new("scope", string.Join(provider.ScopeSeparator, scopes)));
        }

        try
        {
            // The device authorization endpoint authenticates the client as the token endpoint does (RFC 8628 §3.1).
            using var request = CreateTokenEndpointRequest(provider, endpoint, client, form);
            using var response = await Http().SendAsync(request, cancellationToken);
            if (OAuthHttp.IsRedirect(response, endpoint))
            {
                return (null, new TokenError(TokenErrorKind.Transient, TokenResponseReader.ProviderRedirect, null, (int)response.StatusCode));
            }

            var body = await ReadBodyAsync(response, cancellationToken);
            if (!response.IsSuccessStatusCode)
            {
                // Errors are token-endpoint shaped (RFC 8628 §3.2 refers to RFC 6749 §5.2).
                var failed = TokenResponseReader.Read(provider, response, body, time);
                return (null, failed.Error ?? new TokenError(TokenErrorKind.Transient, "invalid_response", null, (int)response.StatusCode));
            }

            var json = body is null ? null : JsonNode.Parse(body) as JsonObject;
            var deviceCode = json is null ? null : TokenResponseReader.Str(json, "device_code");
            var userCode = json is null ? null : TokenResponseReader.Str(json, "user_code");

            // Google says verification_url; the RFC says verification_uri.
            var verification = json is null ? null : TokenResponseReader.Str(json, "verification_uri") ?? TokenResponseReader.Str(json, "verification_url");
            if (json is null || string.IsNullOrEmpty(deviceCode) || string.IsNullOrEmpty(userCode)
                || !Uri.TryCreate(verification, UriKind.Absolute, out var verificationUri) || verificationUri.Scheme is not ("https" or "http"))
            {
                return (null, new TokenError(TokenErrorKind.Transient, "invalid_response", null, (int)response.StatusCode));
            }

            var complete = TokenResponseReader.Str(json, "verification_uri_complete");
            return (new DeviceAuthorization
            {
                DeviceCode = new Secret(deviceCode),
                UserCode = userCode,
                VerificationUri = verificationUri.AbsoluteUri,
                VerificationUriComplete = Uri.TryCreate(complete, UriKind.Absolute, out var completeUri) && completeUri.Host == verificationUri.Host
                    ? completeUri.AbsoluteUri : null,
                ExpiresIn = long.TryParse(TokenResponseReader.Str(json, "expires_in"), out var expiresIn) && expiresIn > 0 ? Math.Min(expiresIn, 3600) : 600,
                // RFC 8628 §3.5: the client must wait at least `interval` seconds between polls, so a long one is kept (capped
                // only by the code's own lifetime); absent, 5 s (§3.2).
                Interval = int.TryParse(TokenResponseReader.Str(json, "interval"), out var interval) && interval > 0 ? Math.Min(interval, 3600) : 5,
            }, null);
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
        {
            throw;
        }
        catch (Exception e) when (e is HttpRequestException or OperationCanceledException or System.Text.Json.JsonException)
        {
            return (null, new TokenError(TokenErrorKind.Transient, "connection_failed"));
        }
    }
}
