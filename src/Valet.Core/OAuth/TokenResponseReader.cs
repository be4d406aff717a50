using System.Buffers.Text;
using System.Collections.Frozen;
using System.Net;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using Valet.Core.Domain;
using Valet.Core.Providers;

namespace Valet.Core.OAuth;

/// <summary>Turns a token endpoint answer (JSON or form-encoded, quirks applied) into a <see cref="TokenResult"/>.</summary>
internal static class TokenResponseReader
{
    /// <summary>The endpoint answered a redirect (3xx), which Valet never follows: a provider error, retried later.</summary>
    public const string ProviderRedirect = "provider_redirect";

    /// <summary>No usable access token in a success answer (missing, not JSON…).</summary>
    public const string InvalidResponse = "invalid_response";

    /// <summary>An access or refresh token with characters that cannot go into an HTTP header (CR/LF, controls, spaces, non-ASCII).</summary>
    public const string InvalidTokenValue = "invalid_token_value";

    /// <summary>A <c>token_type</c> that is not a bearer token (DPoP, MAC…): see <see cref="TokenRules.BearerTokenType"/>.</summary>
    public const string UnsupportedTokenType = "unsupported_token_type";

    // Non-standard spellings of the same outcomes (GitHub, Slack, …): data, not per-provider branches.
    private static readonly FrozenSet<string> InvalidGrantCodes = new[]
    {
        "invalid_grant", "bad_verification_code", "bad_refresh_token", "invalid_refresh_token", "invalid_code",
        "token_revoked", "token_expired", "code_already_used",
    }.ToFrozenSet(StringComparer.Ordinal);

    private static readonly FrozenSet<string> InvalidClientCodes = new[]
    {
        "invalid_client", "unauthorized_client", "incorrect_client_credentials", "invalid_client_id", "bad_client_secret",
        "invalid_client_secret",
    }.ToFrozenSet(StringComparer.Ordinal);

    private static readonly FrozenSet<string> TransientCodes = new[]
    {
        "temporarily_unavailable", "server_error", "internal_error", "service_unavailable", "fatal_error",
    }.ToFrozenSet(StringComparer.Ordinal);

    public static TokenResult Read(ProviderDefinition provider, HttpResponseMessage response, string? body, TimeProvider time)
    {
        var status = (int)response.StatusCode;
        var json = body is null ? null : ParseBody(body);
        var error = json is null ? null : ErrorCode(json, status);

        if (status is >= 300 and < 400)
        {
            return Fail(TokenErrorKind.Transient, ProviderRedirect, status);
        }

        if (response.StatusCode == HttpStatusCode.TooManyRequests)
        {
            return Fail(TokenErrorKind.RateLimited, error ?? "rate_limited", status, RetryAfter(response, time));
        }

        if (status >= 500)
        {
            return Fail(TokenErrorKind.Transient, error ?? "server_error", status);
        }

        var okFalse = provider.Has(ProviderQuirks.OkFalseErrors) && json?["ok"] is JsonValue ok
            && ok.TryGetValue<bool>(out var okValue) && !okValue;
        if (error is not null || okFalse)
        {
            return Classify(error ?? "unknown_error", status, json);
        }

        if (response.StatusCode == HttpStatusCode.Unauthorized)
        {
            // A bare 401 from a token endpoint is the client authentication failing.
            return Fail(TokenErrorKind.InvalidClient, "invalid_client", status);
        }

        if (json is null)
        {
            return Fail(TokenErrorKind.Transient, InvalidResponse, status);
        }

        if (status is < 200 or >= 300)
        {
            return Fail(TokenErrorKind.OtherOAuthError, $"http_{status}", status);
        }

        return ReadTokens(provider, json, status);
    }

    /// <summary>
    /// The error code of an answer: RFC 6749 §5.2 <c>error</c>; on a non-2xx answer without one, a string <c>code</c>, which
    /// is where Notion's error object puts it (<c>{"object":"error","status":400,"code":"invalid_grant","message":…}</c>,
    /// https://developers.notion.com/reference/status-codes). Never read on a success answer.
    /// </summary>
    private static string? ErrorCode(JsonObject json, int status) =>
        Str(json, "error")
        ?? (status is < 200 or >= 300 && json["code"] is JsonValue code && code.GetValueKind() == JsonValueKind.String ? code.GetValue<string>() : null);

    public static TokenResult Fail(TokenErrorKind kind, string code, int? status = null, TimeSpan? retryAfter = null) =>
        TokenResult.Failure(new TokenError(kind, SanitizeCode(code), retryAfter, status));

    /// <summary>The provider's short <c>error</c> code, reduced to [a-z0-9_.-] and 64 characters.</summary>
    public static string SanitizeCode(string code)
    {
        var sb = new StringBuilder(Math.Min(code.Length, 64));
        foreach (var c in code.ToLowerInvariant())
        {
            if (sb.Length == 64)
            {
                break;
            }

            if (c is (>= 'a' and <= 'z') or (>= '0' and <= '9') or '_' or '.' or '-')
            {
                sb.Append(c);
            }
        }

        return sb.Length == 0 ? "unknown_error" : sb.ToString();
    }

    private static TokenResult Classify(string error, int status, JsonObject? json)
    {
        var code = SanitizeCode(error);
        var kind = InvalidGrantCodes.Contains(code) ? TokenErrorKind.InvalidGrant
            : InvalidClientCodes.Contains(code) ? TokenErrorKind.InvalidClient
            : TransientCodes.Contains(code) ? TokenErrorKind.Transient
            : TokenErrorKind.OtherOAuthError;

        // A person must act (MFA, consent, Conditional Access…): refines a dead grant or an otherwise unknown error, never
        // a client failure or an outage. The reason becomes the code.
        if (kind is TokenErrorKind.InvalidGrant or TokenErrorKind.OtherOAuthError && InteractionReasons.Find(code, json) is { } reason)
        {
            return Fail(TokenErrorKind.InteractionRequired, reason, status);
        }

        return Fail(kind, code, status);
    }

    private static TokenResult ReadTokens(ProviderDefinition provider, JsonObject json, int status)
    {
        // Slack v2: the user token (user scopes) is nested; a refreshed user token comes back at the top level.
        var source = provider.Has(ProviderQuirks.SlackNestedAuthedUser) && json["authed_user"] is JsonObject user
            && Str(user, "access_token") is not null
            ? user
            : json;

        var access = Str(source, "access_token");
        if (string.IsNullOrEmpty(access))
        {
            return Fail(TokenErrorKind.Transient, InvalidResponse, status);
        }

        // An invalid provider answer, like a missing token: nothing of it is stored, a refresh is retried later.
        var refresh = Str(source, "refresh_token");
        if (!TokenRules.IsValidTokenValue(access) || (!string.IsNullOrEmpty(refresh) && !TokenRules.IsValidTokenValue(refresh)))
        {
            return Fail(TokenErrorKind.Transient, InvalidTokenValue, status);
        }

        if (TokenRules.BearerTokenType(Str(source, "token_type"), provider) is not { } tokenType)
        {
            return Fail(TokenErrorKind.Transient, UnsupportedTokenType, status);
        }

        var expiresIn = TokenRules.ExpiresInSeconds(Str(source, "expires_in"));
        return TokenResult.Success(new TokenSet
        {
            AccessToken = new Secret(access),
            RefreshToken = string.IsNullOrEmpty(refresh) ? null : new Secret(refresh),
            TokenType = tokenType,
            ExpiresIn = expiresIn,
            AccessTokenExp = expiresIn is null ? TokenRules.JwtExp(access) : null,
            Scopes = Scopes(source["scope"]),
            InstanceUrl = provider.Has(ProviderQuirks.InstanceUrlApiBase) ? InstanceUrl(provider, Str(json, "instance_url")) : null,
            AccountIdHint = ReferenceEquals(source, json)
                ? Str(json, "user_id") ?? Str(json, "account_id") ?? IdTokenSubject(Str(json, "id_token"))
                : Str(source, "id"),
        });
    }

    private static string? InstanceUrl(ProviderDefinition provider, string? raw)
    {
        if (!Uri.TryCreate(raw, UriKind.Absolute, out var uri) || uri.Scheme != Uri.UriSchemeHttps
            || !string.IsNullOrEmpty(uri.UserInfo))
        {
            return null;
        }

        var host = uri.IdnHost;
        var allowed = provider.InstanceUrlHostSuffixes.Any(s => host.EndsWith(s, StringComparison.OrdinalIgnoreCase))
            || provider.ApiBaseUrls.Any(api => ProviderValidator.IsUnder(uri, api));
        return allowed ? uri.GetLeftPart(UriPartial.Authority) : null;
    }

    private static List<string>? Scopes(JsonNode? node)
    {
        if (node is JsonArray array)
        {
            return [.. array.Select(n => n?.ToString()).Where(s => !string.IsNullOrEmpty(s)).Select(s => s!)];
        }

        var text = node is JsonValue ? node.ToString() : null;
        return text is null ? null : [.. text.Split([' ', ','], StringSplitOptions.RemoveEmptyEntries)];
    }

    private static TimeSpan? RetryAfter(HttpResponseMessage response, TimeProvider time)
    {
        var header = response.Headers.RetryAfter;
        var wait = header?.Delta ?? (header?.Date is { } date ? date - time.GetUtcNow() : null);
        return wait is { } w && w < TimeSpan.Zero ? TimeSpan.Zero : wait;
    }

    /// <summary>The id token came straight from the token endpoint over TLS (OIDC Core §3.1.3.7): its sub is a usable hint.</summary>
    private static string? IdTokenSubject(string? idToken)
    {
        var parts = idToken?.Split('.');
        if (parts is not { Length: 3 })
        {
            return null;
        }

        try
        {
            var payload = JsonNode.Parse(Base64Url.DecodeFromChars(parts[1])) as JsonObject;
            return payload is null ? null : Str(payload, "sub");
        }
        catch (Exception e) when (e is FormatException or JsonException)
        {
            return null;
        }
    }

    /// <summary>JSON object, or a form-encoded body turned into one (GitHub when it ignores Accept). Null when neither.</summary>
    public static JsonObject? ParseBody(string body)
    {
        var trimmed = body.AsSpan().Trim();
        if (trimmed.Length == 0)
        {
            return null;
        }

        if (trimmed[0] == '{')
        {
            try
            {
                return JsonNode.Parse(body) as JsonObject;
            }
            catch (JsonException)
            {
                return null;
            }
        }

        if (trimmed[0] == '<' || trimmed.IndexOf('=') < 0 || trimmed.ContainsAny(" \n\r\t"))
        {
            return null;
        }

        var form = new JsonObject();
        foreach (var pair in trimmed.ToString().Split('&', StringSplitOptions.RemoveEmptyEntries))
        {
            var eq = pair.IndexOf('=', StringComparison.Ordinal);
            if (eq <= 0)
            {
                return null;
            }

            form[WebUtility.UrlDecode(pair[..eq])] = WebUtility.UrlDecode(pair[(eq + 1)..]);
        }

        return form;
    }

    /// <summary>A member as text: strings as-is, numbers and booleans by their JSON text; objects/arrays/null give null.</summary>
    public static string? Str(JsonObject obj, string name) =>
        obj[name] is JsonValue value ? value.GetValueKind() switch
        {
            JsonValueKind.String => value.GetValue<string>(),
            JsonValueKind.Number or JsonValueKind.True or JsonValueKind.False => value.ToJsonString(),
            _ => null,
        } : null;
}
