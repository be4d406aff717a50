namespace Valet.Core.Providers;

/// <summary>How a provider's connections get the credential the proxy injects (SPEC §13).</summary>
public enum AuthMode
{
    /// <summary>Authorization code + PKCE (the default): a person consents, Valet refreshes.</summary>
    OAuth2,

    /// <summary>Client credentials: Valet fetches and renews the token itself, once across nodes, like a refresh.</summary>
    OAuth2ClientCredentials,

    /// <summary>A static secret injected by a header template or a query parameter.</summary>
    ApiKey,

    /// <summary>A username and password injected as HTTP Basic (RFC 7617).</summary>
    Basic,
}

/// <summary>Where a provider's definition comes from: read-only through the API unless <see cref="Runtime"/>.</summary>
public enum ProviderSource
{
    /// <summary>Built into Valet (possibly overridden by configuration).</summary>
    Catalog,

    /// <summary>An operator-defined <c>Providers:&lt;id&gt;</c> section.</summary>
    Configuration,

    /// <summary>Registered at run time with <c>PUT /v1/providers/{id}</c>, stored in the database.</summary>
    Runtime,
}

/// <summary>The wire names of <see cref="AuthMode"/> and <see cref="ProviderSource"/>.</summary>
public static class AuthModes
{
    public const string OAuth2 = "oauth2";
    public const string ClientCredentials = "oauth2_cc";
    public const string ApiKey = "api_key";
    public const string Basic = "basic";

    public static IReadOnlyList<string> All { get; } = [OAuth2, ClientCredentials, ApiKey, Basic];

    public static string Name(AuthMode mode) => mode switch
    {
        AuthMode.OAuth2ClientCredentials => ClientCredentials,
        AuthMode.ApiKey => ApiKey,
        AuthMode.Basic => Basic,
        _ => OAuth2,
    };

    /// <summary>The mode's name with its article, for sentences: "a basic", "an api_key", "an oauth2_cc".</summary>
    public static string WithArticle(AuthMode mode) => (mode == AuthMode.Basic ? "a " : "an ") + Name(mode);

    public static AuthMode? Parse(string? name) => name?.Trim().ToLowerInvariant() switch
    {
        OAuth2 => AuthMode.OAuth2,
        ClientCredentials => AuthMode.OAuth2ClientCredentials,
        ApiKey => AuthMode.ApiKey,
        Basic => AuthMode.Basic,
        _ => null,
    };

    /// <summary>A static secret an operator stores (never fetched, never refreshed).</summary>
    public static bool IsStatic(AuthMode mode) => mode is AuthMode.ApiKey or AuthMode.Basic;

    public static string SourceName(ProviderSource source) => source switch
    {
        ProviderSource.Configuration => "configuration",
        ProviderSource.Runtime => "runtime",
        _ => "catalog",
    };
}

/// <summary>
/// How an <see cref="AuthMode.ApiKey"/> secret reaches the API: a header (<c>x-api-key: {secret}</c>,
/// <c>Authorization: Bearer {secret}</c>) or a query parameter. Exactly one of the two.
/// </summary>
public sealed record ApiKeyInjection
{
    public const string Placeholder = "{secret}";

    /// <summary>Header name, when injected as a header.</summary>
    public string? HeaderName { get; init; }

    /// <summary>Header value with one <see cref="Placeholder"/>, when injected as a header.</summary>
    public string? HeaderValueTemplate { get; init; }

    /// <summary>Query parameter name, when injected into the query string.</summary>
    public string? QueryParameter { get; init; }

    /// <summary>The template as configured (<c>x-api-key: {secret}</c>) or <c>?name</c>, for display.</summary>
    public string Describe() => QueryParameter is { } q ? "query " + q : $"{HeaderName}: {HeaderValueTemplate}";

    public string HeaderValue(string secret) =>
        (HeaderValueTemplate ?? throw new InvalidOperationException("Not a header injection.")).Replace(Placeholder, secret, StringComparison.Ordinal);

    /// <summary>Parses <c>Name: value with {secret}</c>; null with <paramref name="problem"/> set when malformed.</summary>
    public static ApiKeyInjection? ParseHeader(string template, out string? problem)
    {
        problem = null;
        var colon = template.IndexOf(':', StringComparison.Ordinal);
        var name = colon <= 0 ? string.Empty : template[..colon].Trim();
        var value = colon <= 0 ? string.Empty : template[(colon + 1)..].Trim();
        if (name.Length == 0 || !IsToken(name))
        {
            problem = "must be a header line 'Name: value' with a valid header name, e.g. 'x-api-key: {secret}'";
            return null;
        }

        if (CountPlaceholders(value) != 1 || value.Any(c => c < 0x20 || c == 0x7f))
        {
            problem = "the value must contain the placeholder {secret} exactly once and no control characters";
            return null;
        }

        if (IsHopOrHost(name))
        {
            problem = $"'{name}' cannot carry a secret (hop-by-hop, Host or Cookie header)";
            return null;
        }

        return new ApiKeyInjection { HeaderName = name, HeaderValueTemplate = value };
    }

    /// <summary>A query parameter name: RFC 3986 unreserved characters only.</summary>
    public static ApiKeyInjection? ParseQuery(string name, out string? problem)
    {
        problem = null;
        var trimmed = name.Trim();
        if (trimmed.Length is 0 or > 64 || !trimmed.All(c => char.IsAsciiLetterOrDigit(c) || c is '-' or '_' or '.' or '~'))
        {
            problem = "must be a query parameter name of letters, digits, '-', '_', '.' or '~' (at most 64)";
            return null;
        }

        return new ApiKeyInjection { QueryParameter = trimmed };
    }

    private static int CountPlaceholders(string value)
    {
        var count = 0;
        for (var i = value.IndexOf(Placeholder, StringComparison.Ordinal); i >= 0; i = value.IndexOf(Placeholder, i + 1, StringComparison.Ordinal))
        {
            count++;
        }

        return count;
    }

    // RFC 9110 token characters.
    private static bool IsToken(string name) => name.Length <= 64 && name.All(c => char.IsAsciiLetterOrDigit(c) || "!#$%&'*+-.^_`|~".Contains(c));

    private static bool IsHopOrHost(string name) =>
        name.Equals("Host", StringComparison.OrdinalIgnoreCase) || name.Equals("Cookie", StringComparison.OrdinalIgnoreCase)
        || name.Equals("Connection", StringComparison.OrdinalIgnoreCase) || name.Equals("Transfer-Encoding", StringComparison.OrdinalIgnoreCase)
        || name.Equals("Content-Length", StringComparison.OrdinalIgnoreCase) || name.Equals("Upgrade", StringComparison.OrdinalIgnoreCase)
        || name.Equals("TE", StringComparison.OrdinalIgnoreCase) || name.Equals("Keep-Alive", StringComparison.OrdinalIgnoreCase);
}
