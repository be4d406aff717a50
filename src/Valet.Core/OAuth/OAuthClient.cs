using System.Net;
using System.Net.Http.Headers;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using Valet.Core.Providers;

namespace Valet.Core.OAuth;

/// <summary>
/// OAuth 2.0 against catalog providers, quirks applied from <see cref="ProviderDefinition"/> data. Expected failures
/// come back as <see cref="TokenError"/> values; only the caller's cancellation and programming errors throw.
/// Tokens and secrets never reach an exception message. A singleton: each call takes a client from
/// <see cref="IHttpClientFactory"/> (the hardened <see cref="OAuthHttp.ClientName"/>), so handlers rotate.
/// A redirect answer is never followed and never used (see docs/decisions.md, "Outbound OAuth calls").
/// </summary>
public sealed partial class OAuthClient(IHttpClientFactory httpClientFactory, TimeProvider time) : IOAuthClient
{
    private const int MaxResponseBytes = 1 << 20;
    private static readonly ProductInfoHeaderValue UserAgent = new("Valet", "1.0");

    public Uri BuildAuthorizationUrl(ProviderDefinition provider, AuthorizationRequest request)
    {
        ArgumentNullException.ThrowIfNull(provider);
        ArgumentNullException.ThrowIfNull(request);
        var endpoint = provider.AuthorizationEndpoint
            ?? throw new InvalidOperationException($"Provider '{provider.Id}' has no authorization endpoint.");

        var parameters = new List<KeyValuePair<string, string>>
        {
            new("response_type", "code"),
            new("client_id", request.ClientId),
            new("redirect_uri", request.RedirectUri),
        };
        if (request.Scopes.Count > 0)
        {
            var name = provider.Has(ProviderQuirks.UserScopeParameter) ? "user_scope" : "scope";
            parameters.Add(new(name, string.Join(provider.ScopeSeparator, request.Scopes)));
        }

        parameters.Add(new("state", request.State));
        parameters.Add(new("code_challenge", request.CodeChallenge));
        parameters.Add(new("code_challenge_method", Pkce.Method));
        foreach (var (key, value) in provider.ExtraAuthorizationParameters.OrderBy(p => p.Key, StringComparer.Ordinal))
        {
            // Extra parameters never replace the protocol ones (state, PKCE, redirect_uri…).
            if (!parameters.Exists(p => string.Equals(p.Key, key, StringComparison.Ordinal)))
            {
                parameters.Add(new(key, value));
            }
        }

        var query = string.Join('&', parameters.Select(p => $"{Uri.EscapeDataString(p.Key)}={Uri.EscapeDataString(p.Value)}"));
        var existing = endpoint.Query.TrimStart('?');
        var builder = new UriBuilder(endpoint) { Query = existing.Length == 0 ? query : existing + "&" + query };
        return builder.Uri;
    }

    public Task<TokenResult> ExchangeCodeAsync(ProviderDefinition provider, ClientCredentials client, string code,
        string redirectUri, string codeVerifier, CancellationToken cancellationToken) =>
        SendTokenRequestAsync(provider, client,
        [
            new("grant_type", "authorization_code"),
            new("code", code),
            new("redirect_uri", redirectUri),
            new("code_verifier", codeVerifier),
        ], cancellationToken);

    public Task<TokenResult> RefreshAsync(ProviderDefinition provider, ClientCredentials client, string refreshToken,
        CancellationToken cancellationToken) =>
        SendTokenRequestAsync(provider, client,
        [
            new("grant_type", "refresh_token"),
            new("refresh_token", refreshToken),
        ], cancellationToken);

    public async Task<bool> RevokeAsync(ProviderDefinition provider, ClientCredentials client, string token, string tokenTypeHint,
        CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(provider);
        ArgumentNullException.ThrowIfNull(client);
        if (provider.RevocationEndpoint is not { } endpoint)
        {
            return false;
        }

        var form = new List<KeyValuePair<string, string>> { new("token", token) };
        if (!string.IsNullOrEmpty(tokenTypeHint))
        {
            form.Add(new("token_type_hint", tokenTypeHint));
        }

        try
        {
            using var request = CreateTokenEndpointRequest(provider, endpoint, client, form);
            using var response = await Http().SendAsync(request, cancellationToken);
            if (!response.IsSuccessStatusCode || OAuthHttp.IsRedirect(response, endpoint))
            {
                return false;
            }

            var body = await ReadBodyAsync(response, cancellationToken);
            var json = body is null ? null : TokenResponseReader.ParseBody(body);
            return !(provider.Has(ProviderQuirks.OkFalseErrors) && json is not null && TokenResponseReader.Str(json, "ok") == "false");
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
        {
            throw;
        }
        catch (Exception e) when (e is HttpRequestException or OperationCanceledException)
        {
            return false;
        }
    }

    public async Task<AccountIdentity?> GetIdentityAsync(ProviderDefinition provider, TokenSet tokens, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(provider);
        ArgumentNullException.ThrowIfNull(tokens);
        var fallback = tokens.AccountIdHint is { Length: > 0 } hint ? new AccountIdentity(hint, null, null) : null;
        if (provider.UserInfoEndpoint is not { } endpoint)
        {
            return fallback;
        }

        try
        {
            using var request = new HttpRequestMessage(provider.Identity.UsePost ? HttpMethod.Post : HttpMethod.Get, endpoint).For(provider.AllowPrivateNetwork);
            if (provider.Identity is { UsePost: true, PostJson: { } query })
            {
                request.Content = new StringContent(query, Encoding.UTF8, "application/json");
            }

            foreach (var (name, value) in provider.ApiHeaders)
            {
                request.Headers.TryAddWithoutValidation(name, value);
            }

            request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", tokens.AccessToken.Reveal());
            request.Headers.Accept.Clear();
            request.Headers.Accept.Add(new MediaTypeWithQualityHeaderValue("application/json"));
            request.Headers.UserAgent.Add(UserAgent);

            using var response = await Http().SendAsync(request, cancellationToken);
            if (OAuthHttp.IsRedirect(response, endpoint))
            {
                // Never another host's identity. The hint, when there is one, came from the configured token endpoint.
                return fallback;
            }

            var body = response.IsSuccessStatusCode ? await ReadBodyAsync(response, cancellationToken) : null;
            if (body is null || JsonNode.Parse(body) is not JsonObject json
                || (provider.Has(ProviderQuirks.OkFalseErrors) && TokenResponseReader.Str(json, "ok") == "false"))
            {
                return fallback;
            }

            var id = ReadPath(json, provider.Identity.IdPath);
            return id is null
                ? fallback
                : new AccountIdentity(id, ReadPath(json, provider.Identity.LoginPath), ReadPath(json, provider.Identity.EmailPath),
                    EmailVerified(json, provider.Identity.EmailPath));
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
        {
            throw;
        }
        catch (Exception e) when (e is HttpRequestException or OperationCanceledException or JsonException)
        {
            return fallback;
        }
    }

    private HttpClient Http() => httpClientFactory.CreateClient(OAuthHttp.ClientName);

    /// <summary>
    /// OIDC's <c>email_verified</c> (https://openid.net/specs/openid-connect-core-1_0.html#StandardClaims), read beside the
    /// email (<c>email_verified</c> next to <c>email</c>, or next to <c>data.email</c>): true only when it is JSON true or
    /// the text "true" (some providers send a string).
    /// </summary>
    internal static bool EmailVerified(JsonObject root, string? emailPath)
    {
        if (string.IsNullOrEmpty(emailPath))
        {
            return false;
        }

        var dot = emailPath.LastIndexOf('.');
        var path = dot < 0 ? "email_verified" : emailPath[..(dot + 1)] + "email_verified";
        return string.Equals(ReadPath(root, path), "true", StringComparison.OrdinalIgnoreCase);
    }

    /// <summary>Reads a dotted path (<c>data.viewer.id</c>); numbers and booleans come back as their JSON text.</summary>
    internal static string? ReadPath(JsonObject root, string? path)
    {
        if (string.IsNullOrEmpty(path))
        {
            return null;
        }

        var segments = path.Split('.');
        var current = root;
        for (var i = 0; i < segments.Length - 1; i++)
        {
            if (current[segments[i]] is not JsonObject next)
            {
                return null;
            }

            current = next;
        }

        return TokenResponseReader.Str(current, segments[^1]) is { Length: > 0 } value ? value : null;
    }

    private async Task<TokenResult> SendTokenRequestAsync(ProviderDefinition provider, ClientCredentials client,
        List<KeyValuePair<string, string>> form, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(provider);
        ArgumentNullException.ThrowIfNull(client);
        var endpoint = provider.TokenEndpoint
            ?? throw new InvalidOperationException($"Provider '{provider.Id}' has no token endpoint.");

        try
        {
            using var request = CreateTokenEndpointRequest(provider, endpoint, client, form);
            using var response = await Http().SendAsync(request, cancellationToken);
            if (OAuthHttp.IsRedirect(response, endpoint))
            {
                return TokenResponseReader.Fail(TokenErrorKind.Transient, TokenResponseReader.ProviderRedirect, (int)response.StatusCode);
            }

            var body = await ReadBodyAsync(response, cancellationToken);
            return TokenResponseReader.Read(provider, response, body, time);
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
        {
            throw;
        }
        catch (OperationCanceledException)
        {
            // HttpClient.Timeout: the request may have reached the provider; the outcome is unknown.
            return TokenResponseReader.Fail(TokenErrorKind.Timeout, "timeout");
        }
        catch (HttpRequestException e)
        {
            return TokenResponseReader.Fail(TokenErrorKind.Transient, "connection_failed", (int?)e.StatusCode);
        }
    }

    /// <summary>
    /// Token and revocation endpoints share client authentication (RFC 7009 §2.1) and the body format of the catalog
    /// (<see cref="TokenRequestFormat"/>): form-encoded, or a JSON object of strings for providers that take JSON.
    /// </summary>
    private static HttpRequestMessage CreateTokenEndpointRequest(ProviderDefinition provider, Uri endpoint, ClientCredentials client,
        List<KeyValuePair<string, string>> parameters)
    {
        var request = new HttpRequestMessage(HttpMethod.Post, endpoint).For(provider.AllowPrivateNetwork);
        var secret = client.ClientSecret is { IsEmpty: false } s ? s.Reveal() : null;
        if (secret is not null && provider.TokenEndpointAuth == TokenEndpointAuthMethod.ClientSecretBasic)
        {
            // RFC 6749 §2.3.1: id and secret are form-url-encoded before being joined and base64-encoded.
            var pair = $"{WebUtility.UrlEncode(client.ClientId)}:{WebUtility.UrlEncode(secret)}";
            request.Headers.Authorization = new AuthenticationHeaderValue("Basic", Convert.ToBase64String(Encoding.UTF8.GetBytes(pair)));
        }
        else
        {
            parameters = [.. parameters, new("client_id", client.ClientId)];
            if (secret is not null)
            {
                parameters.Add(new("client_secret", secret));
            }
        }

        request.Content = provider.TokenRequestFormat == TokenRequestFormat.Json ? JsonBody(parameters) : new FormUrlEncodedContent(parameters);
        if (provider.Has(ProviderQuirks.ApiHeadersOnTokenRequests))
        {
            // Notion's token and revoke endpoints require Notion-Version like every other call
            // (https://developers.notion.com/reference/create-a-token, .../refresh-a-token, .../revoke-token: "Headers: Notion-Version, required").
            foreach (var (name, value) in provider.ApiHeaders)
            {
                request.Headers.TryAddWithoutValidation(name, value);
            }
        }

        // Always: GitHub answers form-encoded without it (and the reader accepts either anyway).
        request.Headers.Accept.Add(new MediaTypeWithQualityHeaderValue("application/json"));
        request.Headers.UserAgent.Add(UserAgent);
        return request;
    }

    /// <summary>The parameters as one JSON object of string members, <c>application/json</c> (no charset parameter, as Notion documents it).</summary>
    private static ByteArrayContent JsonBody(List<KeyValuePair<string, string>> parameters)
    {
        var body = new JsonObject();
        foreach (var (name, value) in parameters)
        {
            body[name] = value;
        }

        var content = new ByteArrayContent(Encoding.UTF8.GetBytes(body.ToJsonString()));
        content.Headers.ContentType = new MediaTypeHeaderValue("application/json");
        return content;
    }

    /// <summary>The body as text, or null when it is larger than any token response should be.</summary>
    private static async Task<string?> ReadBodyAsync(HttpResponseMessage response, CancellationToken cancellationToken)
    {
        await using var stream = await response.Content.ReadAsStreamAsync(cancellationToken);
        using var buffer = new MemoryStream();
        var chunk = new byte[16 * 1024];
        int read;
        while ((read = await stream.ReadAsync(chunk, cancellationToken)) > 0)
        {
            if (buffer.Length + read > MaxResponseBytes)
            {
                return null;
            }

            buffer.Write(chunk, 0, read);
        }

        return Encoding.UTF8.GetString(buffer.GetBuffer(), 0, (int)buffer.Length);
    }
}
