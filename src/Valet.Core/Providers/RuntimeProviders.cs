using System.Text.Json;
using Microsoft.Extensions.Configuration;
using Valet.Core.Stores;

namespace Valet.Core.Providers;

/// <summary>
/// Providers registered at run time (SPEC §13): a JSON object with the keys of SPEC §3 in snake case, read by the same
/// <see cref="ProviderSettings"/> and <see cref="ProviderValidator"/> as a configuration section, so the rules (https,
/// private networks, what each auth mode needs) are one set. Discovery runs once, at registration; what it found is
/// stored beside the document so that every node builds the same definition without the network.
/// </summary>
public static class RuntimeProviders
{
    /// <summary>The keys a runtime document may hold, and their configuration names.</summary>
    private static readonly Dictionary<string, string> KeyMap = new(StringComparer.Ordinal)
    {
        ["issuer"] = "Issuer",
        ["authorization_endpoint"] = "AuthorizationEndpoint",
        ["token_endpoint"] = "TokenEndpoint",
        ["revocation_endpoint"] = "RevocationEndpoint",
        ["userinfo_endpoint"] = "UserInfoEndpoint",
        ["device_authorization_endpoint"] = "DeviceAuthorizationEndpoint",
        ["scopes"] = "Scopes",
        ["api_base_url"] = "ApiBaseUrl",
        ["auth_mode"] = "AuthMode",
        ["token_endpoint_auth_method"] = "TokenEndpointAuthMethod",
        ["allow_private_network"] = "AllowPrivateNetwork",
        ["display_name"] = "DisplayName",
        ["api_key_header"] = "ApiKeyHeader",
        ["api_key_query"] = "ApiKeyQuery",
    };

    public static IReadOnlyCollection<string> Keys => KeyMap.Keys;

    /// <summary>A valid id for a runtime provider (the same slug rule as configuration).</summary>
    public static bool IsValidId(string id) => ProviderValidator.Slug().IsMatch(id);

    /// <summary>
    /// Checks <paramref name="document"/> (discovering its issuer over <paramref name="http"/>) and returns the definition and
    /// the row to store, or every problem found.
    /// </summary>
    public static async Task<(ProviderDefinition? Definition, RuntimeProviderRow? Row, IReadOnlyList<string> Problems)> PrepareAsync(string id,
        JsonElement document, HttpClient http, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(http);
        var problems = new List<string>();
        var settings = Read(id, document, problems);
        if (settings is null)
        {
            return (null, null, problems);
        }

        var (_, discovered, discoveryProblems) = await ProviderCatalogBuilder.DiscoverAsync(settings, null, http, cancellationToken);
        problems.AddRange(discoveryProblems);
        var definition = Build(settings, discovered, problems);
        if (problems.Count > 0)
        {
            return (null, null, [.. problems.Distinct(StringComparer.Ordinal).Select(SnakeCase)]);
        }

        var row = new RuntimeProviderRow
        {
            Id = id,
            Document = document.GetRawText(),
            Resolved = discovered is null ? null : JsonSerializer.Serialize(Resolved.From(discovered)),
        };
        return (definition, row, []);
    }

    /// <summary>The definition of a stored row, without the network; null with <paramref name="problems"/> when it no longer validates.</summary>
    public static ProviderDefinition? Load(RuntimeProviderRow row, List<string> problems)
    {
        ArgumentNullException.ThrowIfNull(row);
        ArgumentNullException.ThrowIfNull(problems);
        using var parsed = JsonDocument.Parse(row.Document);
        var settings = Read(row.Id, parsed.RootElement, problems);
        if (settings is null)
        {
            return null;
        }

        var discovered = row.Resolved is null ? null : JsonSerializer.Deserialize<Resolved>(row.Resolved)?.ToDocument(settings.Issuer ?? string.Empty);
        var definition = Build(settings, discovered, problems);
        return problems.Count == 0 ? definition : null;
    }

    private static ProviderDefinition Build(ProviderSettings settings, DiscoveryDocument? discovered, List<string> problems)
    {
        var definition = settings.ApplyTo(null, discovered) with { Source = ProviderSource.Runtime };
        ProviderValidator.Validate(definition, problems);
        return definition;
    }

    /// <summary>The JSON object as a <c>Providers:&lt;id&gt;</c> section; null (with problems) when it is not one.</summary>
    private static ProviderSettings? Read(string id, JsonElement document, List<string> problems)
    {
        var where = $"provider '{id}'";
        if (document.ValueKind != JsonValueKind.Object)
        {
            problems.Add($"{where}: the body must be a JSON object.");
            return null;
        }

        var values = new Dictionary<string, string?>(StringComparer.OrdinalIgnoreCase);
        foreach (var property in document.EnumerateObject())
        {
            if (property.Name is "id")
            {
                if (property.Value.ValueKind != JsonValueKind.String || property.Value.GetString() != id)
                {
                    problems.Add($"{where}: id in the body must equal the id in the path.");
                }

                continue;
            }

            if (property.Name is "client_id" or "client_secret")
            {
                problems.Add($"{where}: {property.Name} is not stored with a runtime provider; register the client with POST /v1/orgs/{{org}}/credentials (valet credentials add).");
                continue;
            }

            if (!KeyMap.TryGetValue(property.Name, out var key))
            {
                problems.Add($"{where}: unknown key '{property.Name}' (known: {string.Join(", ", KeyMap.Keys)}).");
                continue;
            }

            var value = Text(property.Name, property.Value, where, problems);
            if (value is not null)
            {
                values[$"{ProviderCatalogBuilder.SectionName}:{id}:{key}"] = value;
            }
        }

        var section = new ConfigurationBuilder().AddInMemoryCollection(values).Build().GetSection($"{ProviderCatalogBuilder.SectionName}:{id}");
        return ProviderSettings.Read(id, section, problems);
    }

    /// <summary>Strings as they are, booleans as true/false, arrays of strings joined (scopes by space, API bases by comma).</summary>
    private static string? Text(string name, JsonElement value, string where, List<string> problems)
    {
        switch (value.ValueKind)
        {
            case JsonValueKind.String:
                return value.GetString();
            case JsonValueKind.True or JsonValueKind.False when name == "allow_private_network":
                return value.ValueKind == JsonValueKind.True ? "true" : "false";
            case JsonValueKind.Array when name is "scopes" or "api_base_url"
                && value.EnumerateArray().All(v => v.ValueKind == JsonValueKind.String && !string.IsNullOrWhiteSpace(v.GetString())):
                return string.Join(name == "scopes" ? " " : ",", value.EnumerateArray().Select(v => v.GetString()!.Trim()));
            case JsonValueKind.Null:
                return null;
            default:
                problems.Add($"{where}: {name} must be " + (name switch
                {
                    "allow_private_network" => "true or false.",
                    "scopes" or "api_base_url" => "a string or an array of non-empty strings.",
                    _ => "a string.",
                }));
                return null;
        }
    }

    /// <summary>Problems name configuration keys; through the API they name the snake-case members the caller sent.</summary>
    private static string SnakeCase(string problem)
    {
        foreach (var (snake, key) in KeyMap.OrderByDescending(k => k.Value.Length))
        {
            problem = problem.Replace(key, snake, StringComparison.Ordinal);
        }

        return problem;
    }

    /// <summary>What discovery resolved, as stored.</summary>
    private sealed record Resolved(string? AuthorizationEndpoint, string? TokenEndpoint, string? RevocationEndpoint, string? UserInfoEndpoint,
        string? DeviceAuthorizationEndpoint, bool IssParameterSupported)
    {
        public static Resolved From(DiscoveryDocument d) => new(d.AuthorizationEndpoint?.AbsoluteUri, d.TokenEndpoint?.AbsoluteUri,
            d.RevocationEndpoint?.AbsoluteUri, d.UserInfoEndpoint?.AbsoluteUri, d.DeviceAuthorizationEndpoint?.AbsoluteUri, d.IssParameterSupported);

        public DiscoveryDocument ToDocument(string issuer) => new()
        {
            Issuer = issuer,
            AuthorizationEndpoint = Uri(AuthorizationEndpoint),
            TokenEndpoint = Uri(TokenEndpoint),
            RevocationEndpoint = Uri(RevocationEndpoint),
            UserInfoEndpoint = Uri(UserInfoEndpoint),
            DeviceAuthorizationEndpoint = Uri(DeviceAuthorizationEndpoint),
            IssParameterSupported = IssParameterSupported,
        };

        private static Uri? Uri(string? value) => value is null ? null : new Uri(value, UriKind.Absolute);
    }
}
