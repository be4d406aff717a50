using Valet.Core.Domain;

namespace Valet.Core.Providers;

public enum TokenEndpointAuthMethod
{
    /// <summary><c>client_secret_post</c>: client id and secret in the form body.</summary>
    ClientSecretPost,

    /// <summary><c>client_secret_basic</c>: HTTP Basic with url-encoded id and secret.</summary>
    ClientSecretBasic,
}

/// <summary>How the token endpoint (code exchange, refresh) and the revocation endpoint take their parameters.</summary>
public enum TokenRequestFormat
{
    /// <summary><c>application/x-www-form-urlencoded</c> (RFC 6749 §4.1.3, §6; RFC 7009 §2.1): the default.</summary>
    Form,

    /// <summary>A JSON object of string members, <c>application/json</c> (Notion).</summary>
    Json,
}

/// <summary>
/// Named response/request quirks. Provider differences are data: these flags, never <c>if (provider == "x")</c>. Only
/// differences the code must act on get a flag; what every provider is handled for anyway (form-encoded or JSON token
/// answers, rotated refresh tokens, a missing <c>expires_in</c>) needs none.
/// </summary>
[Flags]
public enum ProviderQuirks
{
    None = 0,

    /// <summary>The user token is nested under <c>authed_user</c> (Slack OAuth v2 user scopes).</summary>
    SlackNestedAuthedUser = 1 << 1,

    /// <summary>The token response carries <c>instance_url</c>, which becomes the connection's API base (Salesforce).</summary>
    InstanceUrlApiBase = 1 << 2,

    /// <summary>Errors come back as HTTP 200 with <c>{"ok": false, "error": …}</c> (Slack).</summary>
    OkFalseErrors = 1 << 5,

    /// <summary>Scopes for the user token go in <c>user_scope</c> rather than <c>scope</c> (Slack).</summary>
    UserScopeParameter = 1 << 6,

    /// <summary>The provider's <see cref="ProviderDefinition.ApiHeaders"/> also go on token and revocation requests (Notion's <c>Notion-Version</c>).</summary>
    ApiHeadersOnTokenRequests = 1 << 7,
}

/// <summary>How to read the account identity from the provider's user-info response (dotted JSON paths).</summary>
public sealed record IdentityMapping
{
    public string IdPath { get; init; } = "sub";
    public string? LoginPath { get; init; }
    public string? EmailPath { get; init; }

    /// <summary>
    /// The login names one account among everyone who can sign in at this provider, and its holder cannot set it to
    /// someone else's: GitHub's login, GitLab's username (while the name is held: a released name can be taken by the next
    /// account). Not a display name, a nickname, a handle unique only within one workspace (Slack, Notion, Linear), nor
    /// Microsoft's user principal name through <c>/common</c> (a personal account's is the email it was created with):
    /// "Sign in with a provider" matches an operator's login only where this is true, or for a provider the operator
    /// configured (their own identity provider). Emails match only when the provider says they are verified.
    /// </summary>
    public bool LoginIsUnique { get; init; }

    /// <summary>The user-info call is a POST (Dropbox, Linear) rather than a GET.</summary>
    public bool UsePost { get; init; }

    /// <summary>The JSON body of a POST user-info call (Linear's GraphQL <c>viewer</c> query); none when null.</summary>
    public string? PostJson { get; init; }
}

/// <summary>A managed target the catalog creates on connect (e.g. Microsoft 365 <c>mail</c>).</summary>
public sealed record ManagedTargetDefinition
{
    public required string Name { get; init; }

    /// <summary>
    /// Where the target forwards, relative to the connection's API base (the provider's first <c>ApiBaseUrl</c>, or the
    /// connection's own): <c>""</c> for the base itself, <c>v1.0/me/messages</c> below it. It moves with an
    /// <c>ApiBaseUrl</c> override (GitHub Enterprise Server, Microsoft national clouds). Set this or <see cref="BaseUrl"/>.
    /// </summary>
    public string? Path { get; init; }

    /// <summary>An absolute base URL under one of the provider's API bases; pinned there (set this or <see cref="Path"/>).</summary>
    public string? BaseUrl { get; init; }

    public IReadOnlyList<string> RequiredScopes { get; init; } = [];
}

/// <summary>One provider of the catalog, after configuration overrides and discovery. Immutable.</summary>
public sealed record ProviderDefinition
{
    public required string Id { get; init; }
    public required string DisplayName { get; init; }

    /// <summary>Issuer, when known (discovery, or advertised): RFC 9207 <c>iss</c> is checked against it.</summary>
    public string? Issuer { get; init; }

    /// <summary>The provider advertises <c>authorization_response_iss_parameter_supported</c> (RFC 9207).</summary>
    public bool IssParameterSupported { get; init; }

    public Uri? AuthorizationEndpoint { get; init; }
    public Uri? TokenEndpoint { get; init; }
    public Uri? RevocationEndpoint { get; init; }
    public Uri? UserInfoEndpoint { get; init; }

    public IReadOnlyList<string> DefaultScopes { get; init; } = [];

    /// <summary>
    /// Scopes Valet itself depends on at this provider, sent with every authorization request whatever else is asked for:
    /// the one that yields a refresh token (<c>offline_access</c>) and the ones its user-info call needs. Without them, a
    /// connect that asks only for an API scope (<c>--scopes Mail.Read</c>) ends in <c>identity_unavailable</c>, or in a
    /// connection with no refresh token that dies at its first expiry. Defaults, by contrast, are only what is asked for
    /// when nothing is.
    /// </summary>
    public IReadOnlyList<string> RequiredScopes { get; init; } = [];

    /// <summary>
    /// What an authorization request asks for: the <paramref name="requested"/> scopes, or the defaults when none are, with
    /// every <see cref="RequiredScopes"/> scope added (first, once each).
    /// </summary>
    public List<string> AuthorizationScopes(IEnumerable<string>? requested)
    {
        var asked = requested?.ToList() is { Count: > 0 } given ? given : [.. DefaultScopes];
        return [.. RequiredScopes.Concat(asked).Distinct(StringComparer.Ordinal)];
    }
    public string ScopeSeparator { get; init; } = " ";
    public IReadOnlyDictionary<string, string> ExtraAuthorizationParameters { get; init; } = new Dictionary<string, string>();
    public TokenEndpointAuthMethod TokenEndpointAuth { get; init; } = TokenEndpointAuthMethod.ClientSecretPost;

    /// <summary>Body of token, refresh and revocation requests: form-encoded (default) or JSON.</summary>
    public TokenRequestFormat TokenRequestFormat { get; init; } = TokenRequestFormat.Form;

    public ProviderQuirks Quirks { get; init; }
    public IdentityMapping Identity { get; init; } = new();

    /// <summary>Absolute base URLs the proxy may reach (scheme + host + optional path). The first is the default.</summary>
    public IReadOnlyList<string> ApiBaseUrls { get; init; } = [];

    /// <summary>Extra headers the provider's API wants on every call (e.g. <c>Notion-Version</c>).</summary>
    public IReadOnlyDictionary<string, string> ApiHeaders { get; init; } = new Dictionary<string, string>();

    public IReadOnlyList<ManagedTargetDefinition> Targets { get; init; } = [];

    /// <summary>
    /// Values each connection gives at connect time (a Zendesk subdomain): the provider's URLs are then
    /// <see cref="UrlTemplates"/>, bound per connection by <see cref="ConnectionParameters.Bind"/>. Empty for most providers.
    /// </summary>
    public IReadOnlyList<ConnectionParameterDefinition> ConnectionParameters { get; init; } = [];

    /// <summary>URLs with <c>{parameter}</c> placeholders; each replaces the matching member once bound to a connection.</summary>
    public ProviderUrlTemplates? UrlTemplates { get; init; }

    /// <summary>
    /// With <see cref="ProviderQuirks.InstanceUrlApiBase"/>: host suffixes (e.g. <c>.salesforce.com</c>) an
    /// <c>instance_url</c> must end with to be accepted as a connection's API base; anything else is dropped.
    /// </summary>
    public IReadOnlyList<string> InstanceUrlHostSuffixes { get; init; } = [];

    /// <summary>Lets endpoints and API live on loopback/private addresses (self-hosted, tests). Plain http only for loopback.</summary>
    public bool AllowPrivateNetwork { get; init; }

    /// <summary>Platform credential (from configuration); null when the provider has no platform client.</summary>
    public string? ClientId { get; init; }
    public Secret? ClientSecret { get; init; }

    /// <summary>Ready: a platform client is configured.</summary>
    public bool HasPlatformClient => !string.IsNullOrEmpty(ClientId);

    public bool Has(ProviderQuirks quirk) => (Quirks & quirk) == quirk;

    /// <summary>How connections of this provider authenticate to its API (SPEC §13). Default <see cref="AuthMode.OAuth2"/>.</summary>
    public AuthMode AuthMode { get; init; } = AuthMode.OAuth2;

    /// <summary>With <see cref="AuthMode.ApiKey"/>: how the secret is injected.</summary>
    public ApiKeyInjection? ApiKey { get; init; }

    /// <summary>RFC 8628 device authorization endpoint (discovered or configured); null when the device flow is not offered.</summary>
    public Uri? DeviceAuthorizationEndpoint { get; init; }

    /// <summary>Where this definition comes from: the catalog, configuration, or the database (run time).</summary>
    public ProviderSource Source { get; init; } = ProviderSource.Catalog;

    /// <summary>Documentation page the catalog's injection rule was taken from (catalog API-key providers).</summary>
    public string? DocsUrl { get; init; }

    /// <summary>
    /// What a static secret's parts are called at this provider, for forms (a basic provider's username and password are
    /// an Atlassian email and an API token, a Twilio SID and auth token); null: "Username", "Password", "API key".
    /// </summary>
    public SecretLabels? SecretLabels { get; init; }
}

/// <summary>The provider's own names for a static secret's parts (<see cref="ProviderDefinition.SecretLabels"/>).</summary>
/// <param name="Username">The first part's label ("Atlassian account email").</param>
/// <param name="Password">The second part's label ("API token").</param>
/// <param name="Brief">Both in a few words, for a chip that must fit a phone's width ("Email and API token").</param>
public sealed record SecretLabels(string Username, string Password, string Brief)
{
}

public interface IProviderCatalog
{
    ProviderDefinition? Find(string id);

    IReadOnlyCollection<ProviderDefinition> All { get; }
}

/// <summary>The catalog or its configuration is invalid; <see cref="Problems"/> lists every problem at once.</summary>
public sealed class CatalogValidationException(IReadOnlyList<string> problems)
    : Exception("Invalid provider catalog: " + string.Join("; ", problems))
{
    public IReadOnlyList<string> Problems { get; } = problems;
}
