using Microsoft.Extensions.Configuration;
using Valet.Core.Domain;

namespace Valet.Core.Providers;

/// <summary>One <c>Providers:&lt;id&gt;</c> configuration section, parsed. A null member means "not configured".</summary>
internal sealed record ProviderSettings
{
    public static IReadOnlyList<string> Keys { get; } =
    [
        "Issuer", "AuthorizationEndpoint", "TokenEndpoint", "RevocationEndpoint", "UserInfoEndpoint", "Scopes",
        "ApiBaseUrl", "ClientId", "ClientSecret", "AllowPrivateNetwork", "DisplayName", "TokenEndpointAuthMethod",
        "TokenRequestFormat",
        "AuthMode", "ApiKeyHeader", "ApiKeyQuery", "DeviceAuthorizationEndpoint",
    ];

    public required string Id { get; init; }
    public string? Issuer { get; init; }
    public Uri? AuthorizationEndpoint { get; init; }
    public Uri? TokenEndpoint { get; init; }
    public Uri? RevocationEndpoint { get; init; }
    public Uri? UserInfoEndpoint { get; init; }
    public IReadOnlyList<string>? Scopes { get; init; }
    public IReadOnlyList<string>? ApiBaseUrls { get; init; }
    public string? ClientId { get; init; }
    public Secret? ClientSecret { get; init; }
    public bool? AllowPrivateNetwork { get; init; }
    public string? DisplayName { get; init; }
    public TokenEndpointAuthMethod? TokenEndpointAuth { get; init; }
    public TokenRequestFormat? TokenRequestFormat { get; init; }
    public AuthMode? AuthMode { get; init; }
    public ApiKeyInjection? ApiKey { get; init; }
    public Uri? DeviceAuthorizationEndpoint { get; init; }

    /// <summary>The problem for a URL setting that was given but could not be read (the validator then does not also call it missing).</summary>
    public static string UnreadableUrl(string where, string key) => $"{where}: {key} is not an absolute http(s) URL.";

    public static ProviderSettings Read(string id, IConfigurationSection section, List<string> problems)
    {
        var where = $"provider '{id}'";
        foreach (var child in section.GetChildren())
        {
            if (!Keys.Contains(child.Key, StringComparer.OrdinalIgnoreCase))
            {
                problems.Add($"{where}: unknown setting '{child.Key}' (known: {string.Join(", ", Keys)}).");
            }
        }

        string? Value(string key) => section[key] is { Length: > 0 } v ? v.Trim() : null;

        Uri? Url(string key)
        {
            var raw = Value(key);
            if (raw is null)
            {
                return null;
            }

            if (NetworkHosts.TryParseHttpUrl(raw, out var uri))
            {
                return uri;
            }

            problems.Add(UnreadableUrl(where, key));
            return null;
        }

        bool? allowPrivate = null;
        if (Value("AllowPrivateNetwork") is { } flag)
        {
            if (bool.TryParse(flag, out var parsed))
            {
                allowPrivate = parsed;
            }
            else
            {
                problems.Add($"{where}: AllowPrivateNetwork must be true or false.");
            }
        }

        TokenEndpointAuthMethod? auth = null;
        switch (Value("TokenEndpointAuthMethod")?.ToLowerInvariant())
        {
            case null:
                break;
            case "client_secret_basic":
                auth = TokenEndpointAuthMethod.ClientSecretBasic;
                break;
            case "client_secret_post":
                auth = TokenEndpointAuthMethod.ClientSecretPost;
                break;
            default:
                problems.Add($"{where}: TokenEndpointAuthMethod must be client_secret_basic or client_secret_post.");
                break;
        }

        TokenRequestFormat? format = null;
        switch (Value("TokenRequestFormat")?.ToLowerInvariant())
        {
            case null:
                break;
            case "form":
                format = Providers.TokenRequestFormat.Form;
                break;
            case "json":
                format = Providers.TokenRequestFormat.Json;
                break;
            default:
                problems.Add($"{where}: TokenRequestFormat must be form or json.");
                break;
        }

        AuthMode? mode = null;
        if (Value("AuthMode") is { } modeName)
        {
            mode = AuthModes.Parse(modeName);
            if (mode is null)
            {
                problems.Add($"{where}: AuthMode must be one of {string.Join(", ", AuthModes.All)}.");
            }
        }

        var apiKey = ReadApiKey(where, Value("ApiKeyHeader"), Value("ApiKeyQuery"), problems);
        var secret = Value("ClientSecret");
        return new ProviderSettings
        {
            Id = id,
            Issuer = Value("Issuer"),
            AuthorizationEndpoint = Url("AuthorizationEndpoint"),
            TokenEndpoint = Url("TokenEndpoint"),
            RevocationEndpoint = Url("RevocationEndpoint"),
            UserInfoEndpoint = Url("UserInfoEndpoint"),
            Scopes = Value("Scopes")?.Split((char[]?)null, StringSplitOptions.RemoveEmptyEntries),
            ApiBaseUrls = Value("ApiBaseUrl")?.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries),
            ClientId = Value("ClientId"),
            ClientSecret = secret is null ? null : new Secret(secret),
            AllowPrivateNetwork = allowPrivate,
            DisplayName = Value("DisplayName"),
            TokenEndpointAuth = auth,
            TokenRequestFormat = format,
            AuthMode = mode,
            ApiKey = apiKey,
            DeviceAuthorizationEndpoint = Url("DeviceAuthorizationEndpoint"),
        };
    }

    private static ApiKeyInjection? ReadApiKey(string where, string? header, string? query, List<string> problems)
    {
        if (header is not null && query is not null)
        {
            problems.Add($"{where}: set ApiKeyHeader or ApiKeyQuery, not both.");
            return null;
        }

        string? problem = null;
        var injection = header is not null ? ApiKeyInjection.ParseHeader(header, out problem)
            : query is not null ? ApiKeyInjection.ParseQuery(query, out problem)
            : null;
        if (problem is not null)
        {
            problems.Add($"{where}: {(header is not null ? "ApiKeyHeader" : "ApiKeyQuery")} {problem}.");
        }

        return injection;
    }

    /// <summary>Explicit settings win over discovery, which wins over the built-in definition.</summary>
    public ProviderDefinition ApplyTo(ProviderDefinition? builtIn, DiscoveryDocument? discovered)
    {
        var p = builtIn ?? new ProviderDefinition
        {
            Id = Id, DisplayName = Id, Identity = BuiltInProviders.OidcIdentity, Source = ProviderSource.Configuration,
        };
        if (discovered is not null)
        {
            // The issuer replaces the built-in host entirely (a self-hosted GitLab is not gitlab.com).
            p = p with
            {
                AuthorizationEndpoint = discovered.AuthorizationEndpoint,
                TokenEndpoint = discovered.TokenEndpoint,
                RevocationEndpoint = discovered.RevocationEndpoint,
                UserInfoEndpoint = discovered.UserInfoEndpoint,
                IssParameterSupported = discovered.IssParameterSupported,
                DeviceAuthorizationEndpoint = discovered.DeviceAuthorizationEndpoint,
                Identity = discovered.UserInfoEndpoint is null ? p.Identity : BuiltInProviders.OidcIdentity,
            };
        }

        if (p.UrlTemplates is { } templates)
        {
            // An explicit URL (or a discovered one) replaces the template of the same member: a single-tenant override.
            templates = templates with
            {
                AuthorizationEndpoint = AuthorizationEndpoint is null && discovered is null ? templates.AuthorizationEndpoint : null,
                TokenEndpoint = TokenEndpoint is null && discovered is null ? templates.TokenEndpoint : null,
                RevocationEndpoint = RevocationEndpoint is null && discovered is null ? templates.RevocationEndpoint : null,
                UserInfoEndpoint = UserInfoEndpoint is null && discovered is null ? templates.UserInfoEndpoint : null,
                ApiBaseUrls = ApiBaseUrls is null ? templates.ApiBaseUrls : null,
            };
            var left = templates.All().Select(t => t.Template).ToList();
            p = p with
            {
                UrlTemplates = left.Count == 0 ? null : templates,
                ConnectionParameters = [.. p.ConnectionParameters.Where(d => left.Exists(t => t.Contains("{" + d.Name + "}", StringComparison.Ordinal)))],
            };
        }

        return p with
        {
            Issuer = Issuer ?? p.Issuer,
            AuthorizationEndpoint = AuthorizationEndpoint ?? p.AuthorizationEndpoint,
            TokenEndpoint = TokenEndpoint ?? p.TokenEndpoint,
            RevocationEndpoint = RevocationEndpoint ?? p.RevocationEndpoint,
            UserInfoEndpoint = UserInfoEndpoint ?? p.UserInfoEndpoint,
            DefaultScopes = Scopes ?? p.DefaultScopes,
            ApiBaseUrls = ApiBaseUrls ?? p.ApiBaseUrls,
            ClientId = ClientId ?? p.ClientId,
            ClientSecret = ClientSecret ?? p.ClientSecret,
            AllowPrivateNetwork = AllowPrivateNetwork ?? p.AllowPrivateNetwork,
            DisplayName = DisplayName ?? p.DisplayName,
            TokenEndpointAuth = TokenEndpointAuth ?? p.TokenEndpointAuth,
            TokenRequestFormat = TokenRequestFormat ?? p.TokenRequestFormat,
            AuthMode = AuthMode ?? p.AuthMode,
            ApiKey = ApiKey ?? p.ApiKey,
            DeviceAuthorizationEndpoint = DeviceAuthorizationEndpoint ?? p.DeviceAuthorizationEndpoint,
        };
    }
}
