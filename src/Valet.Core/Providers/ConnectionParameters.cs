using System.Text.RegularExpressions;

namespace Valet.Core.Providers;

/// <summary>
/// Binding a templated provider to one connection's parameters: values are checked against their kind, substituted into
/// the templates, and every resulting URL passes the same checks as a configured one (https, no credentials, no private
/// or link-local host unless <c>AllowPrivateNetwork</c>), so a parameter can never point a call anywhere the template
/// does not allow. See docs/providers.md, "Per-connection URLs".
/// </summary>
public static partial class ConnectionParameters
{
    public const int MaxParameters = 8;

    [GeneratedRegex("^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$", RegexOptions.CultureInvariant)]
    private static partial Regex HostLabel();

    [GeneratedRegex("^[A-Za-z0-9._~-]{1,128}$", RegexOptions.CultureInvariant)]
    private static partial Regex PathToken();

    [GeneratedRegex("\\{([^{}]*)\\}", RegexOptions.CultureInvariant)]
    private static partial Regex Placeholder();

    public static bool IsTemplated(ProviderDefinition provider)
    {
        ArgumentNullException.ThrowIfNull(provider);
        return provider.ConnectionParameters.Count > 0;
    }

    /// <summary>
    /// The values as stored: each declared parameter present and valid for its kind (host labels lower-cased), nothing
    /// else. Null with <paramref name="problem"/> (one readable sentence naming the parameter, never its whole value) when not.
    /// </summary>
    public static IReadOnlyDictionary<string, string>? Normalize(ProviderDefinition provider, IReadOnlyDictionary<string, string>? values,
        out string? problem)
    {
        ArgumentNullException.ThrowIfNull(provider);
        problem = null;
        values ??= new Dictionary<string, string>();
        if (provider.ConnectionParameters.Count == 0)
        {
            if (values.Count > 0)
            {
                problem = $"Provider '{provider.Id}' takes no connection parameters.";
                return null;
            }

            return null;
        }

        var normalized = new SortedDictionary<string, string>(StringComparer.Ordinal);
        foreach (var definition in provider.ConnectionParameters)
        {
            if (!values.TryGetValue(definition.Name, out var raw) || string.IsNullOrWhiteSpace(raw))
            {
                problem = $"Provider '{provider.Id}' needs the connection parameter '{definition.Name}' ({Describe(definition.Kind)}).";
                return null;
            }

            var value = definition.Kind == ConnectionParameterKind.HostLabel ? raw.Trim().ToLowerInvariant() : raw.Trim();
            var valid = definition.Kind == ConnectionParameterKind.HostLabel ? HostLabel().IsMatch(value) : PathToken().IsMatch(value) && value is not ("." or "..");
            if (!valid)
            {
                problem = $"Connection parameter '{definition.Name}' must be {Describe(definition.Kind)}.";
                return null;
            }

            normalized[definition.Name] = value;
        }

        foreach (var name in values.Keys)
        {
            if (!normalized.ContainsKey(name))
            {
                problem = $"Provider '{provider.Id}' has no connection parameter '{Shorten(name)}' (it takes: {string.Join(", ", provider.ConnectionParameters.Select(p => p.Name))}).";
                return null;
            }
        }

        return normalized;
    }

    /// <summary>
    /// The provider as this connection sees it: templates filled with <paramref name="values"/>. A provider without
    /// parameters is returned as it is. Null with <paramref name="problem"/> when a value is missing or invalid, or the
    /// resulting URL is refused.
    /// </summary>
    public static ProviderDefinition? Bind(ProviderDefinition provider, IReadOnlyDictionary<string, string>? values, out string? problem)
    {
        ArgumentNullException.ThrowIfNull(provider);
        if (provider.ConnectionParameters.Count == 0)
        {
            problem = values is { Count: > 0 } ? $"Provider '{provider.Id}' takes no connection parameters." : null;
            return problem is null ? provider : null;
        }

        var normalized = Normalize(provider, values, out problem);
        if (normalized is null)
        {
            return null;
        }

        var bound = Substitute(provider, normalized, out problem);
        if (bound is null)
        {
            return null;
        }

        // The resolved hosts pass the checks a configured URL passes (SSRF: private and link-local hosts refused).
        var problems = new List<string>();
        foreach (var (key, uri) in Urls(bound))
        {
            ProviderValidator.CheckUrl(provider.Id, provider.AllowPrivateNetwork, key, uri, problems);
        }

        if (problems.Count > 0)
        {
            problem = $"Connection parameters give provider '{provider.Id}' a URL it may not use.";
            return null;
        }

        return bound;
    }

    /// <summary>Boot checks of a templated provider's declaration; returns the provider bound to sample values for the usual checks.</summary>
    internal static ProviderDefinition? CheckDeclaration(ProviderDefinition p, List<string> problems)
    {
        var where = $"provider '{p.Id}'";
        var before = problems.Count;
        var names = new HashSet<string>(StringComparer.Ordinal);
        if (p.ConnectionParameters.Count > MaxParameters)
        {
            problems.Add($"{where}: at most {MaxParameters} connection parameters.");
        }

        foreach (var definition in p.ConnectionParameters)
        {
            if (!ProviderValidator.Slug().IsMatch(definition.Name) || !names.Add(definition.Name))
            {
                problems.Add($"{where}: connection parameter name '{definition.Name}' is not a unique lower-case slug.");
            }
        }

        var used = new HashSet<string>(StringComparer.Ordinal);
        foreach (var (key, template) in (p.UrlTemplates ?? new ProviderUrlTemplates()).All())
        {
            CheckTemplate(p, key, template, used, problems);
        }

        foreach (var name in names.Where(n => !used.Contains(n)))
        {
            problems.Add($"{where}: connection parameter '{name}' is used by no URL template.");
        }

        if (p.ConnectionParameters.Count == 0 && p.UrlTemplates is not null)
        {
            problems.Add($"{where}: URL templates without connection parameters.");
        }

        if (problems.Count > before)
        {
            return null;
        }

        var samples = p.ConnectionParameters.ToDictionary(d => d.Name, d => d.Kind == ConnectionParameterKind.HostLabel ? "sample" : "sample-token",
            StringComparer.Ordinal);
        var bound = Substitute(p, samples, out var problem);
        if (bound is null)
        {
            problems.Add($"{where}: {problem}");
        }

        return bound;
    }

    /// <summary>
    /// A placeholder names a declared parameter and stands for a whole host label (host-label kind, with at least two fixed
    /// labels to its right, so the registrable domain is the template's) or a whole path segment (path-token kind); never
    /// the scheme, port, user info, query or fragment.
    /// </summary>
    private static void CheckTemplate(ProviderDefinition p, string key, string template, HashSet<string> used, List<string> problems)
    {
        var where = $"provider '{p.Id}': {key} template";
        var schemeEnd = template.IndexOf("://", StringComparison.Ordinal);
        if (schemeEnd <= 0)
        {
            problems.Add($"{where} must be an absolute http(s) URL.");
            return;
        }

        var rest = template[(schemeEnd + 3)..];
        var pathStart = rest.IndexOf('/', StringComparison.Ordinal);
        var authority = pathStart < 0 ? rest : rest[..pathStart];
        var path = pathStart < 0 ? string.Empty : rest[pathStart..];
        if (template[..schemeEnd].Contains('{', StringComparison.Ordinal) || path.IndexOfAny(['?', '#']) >= 0 || authority.Contains('@', StringComparison.Ordinal))
        {
            problems.Add($"{where} may hold placeholders only in host labels and path segments (no query, fragment or user info).");
            return;
        }

        var host = authority.Split(':')[0];
        if (authority.IndexOf(':', StringComparison.Ordinal) is var colon and >= 0 && authority[colon..].Contains('{', StringComparison.Ordinal))
        {
            problems.Add($"{where} may not take the port from a parameter.");
        }

        var labels = host.Split('.');
        for (var i = 0; i < labels.Length; i++)
        {
            foreach (Match m in Placeholder().Matches(labels[i]))
            {
                var definition = Declared(p, m.Groups[1].Value);
                if (definition is null)
                {
                    problems.Add($"{where} names an undeclared parameter '{m.Groups[1].Value}'.");
                }
                else if (definition.Kind != ConnectionParameterKind.HostLabel || m.Value != labels[i] || labels.Length - i - 1 < 2)
                {
                    problems.Add($"{where}: '{m.Value}' in the host must be a host-label parameter standing for a whole label, left of at least two fixed labels.");
                }
                else
                {
                    used.Add(definition.Name);
                }
            }
        }

        foreach (var segment in path.Split('/'))
        {
            foreach (Match m in Placeholder().Matches(segment))
            {
                var definition = Declared(p, m.Groups[1].Value);
                if (definition is null)
                {
                    problems.Add($"{where} names an undeclared parameter '{m.Groups[1].Value}'.");
                }
                else if (definition.Kind != ConnectionParameterKind.PathToken || m.Value != segment)
                {
                    problems.Add($"{where}: '{m.Value}' in the path must be a path-token parameter standing for a whole segment.");
                }
                else
                {
                    used.Add(definition.Name);
                }
            }
        }
    }

    private static ProviderDefinition? Substitute(ProviderDefinition p, IReadOnlyDictionary<string, string> values, out string? problem)
    {
        problem = null;
        var templates = p.UrlTemplates;
        if (templates is null)
        {
            return p;
        }

        string Fill(string template) => Placeholder().Replace(template, m => values.TryGetValue(m.Groups[1].Value, out var v) ? v : m.Value);

        Uri? Url(string? template, Uri? fallback, ref string? error)
        {
            if (template is null)
            {
                return fallback;
            }

            if (NetworkHosts.TryParseHttpUrl(Fill(template), out var uri))
            {
                return uri;
            }

            error ??= "a URL template does not give an absolute http(s) URL.";
            return null;
        }

        string? error = null;
        var bound = p with
        {
            AuthorizationEndpoint = Url(templates.AuthorizationEndpoint, p.AuthorizationEndpoint, ref error),
            TokenEndpoint = Url(templates.TokenEndpoint, p.TokenEndpoint, ref error),
            RevocationEndpoint = Url(templates.RevocationEndpoint, p.RevocationEndpoint, ref error),
            UserInfoEndpoint = Url(templates.UserInfoEndpoint, p.UserInfoEndpoint, ref error),
            ApiBaseUrls = templates.ApiBaseUrls is { } apis ? [.. apis.Select(Fill)] : p.ApiBaseUrls,
        };
        problem = error;
        return error is null ? bound : null;
    }

    private static IEnumerable<(string Key, Uri? Url)> Urls(ProviderDefinition p)
    {
        yield return ("AuthorizationEndpoint", p.AuthorizationEndpoint);
        yield return ("TokenEndpoint", p.TokenEndpoint);
        yield return ("RevocationEndpoint", p.RevocationEndpoint);
        yield return ("UserInfoEndpoint", p.UserInfoEndpoint);
        foreach (var api in p.ApiBaseUrls)
        {
            yield return ("ApiBaseUrl", NetworkHosts.TryParseHttpUrl(api, out var uri) ? uri : new Uri("about:invalid"));
        }
    }

    private static ConnectionParameterDefinition? Declared(ProviderDefinition p, string name) =>
        p.ConnectionParameters.FirstOrDefault(d => string.Equals(d.Name, name, StringComparison.Ordinal));

    private static string Describe(ConnectionParameterKind kind) => kind == ConnectionParameterKind.HostLabel
        ? "one hostname label: letters, digits and '-', 1-63 characters"
        : "one path segment: letters, digits, '-', '.', '_', '~', 1-128 characters";

    private static string Shorten(string name) => name.Length <= 64 ? name : name[..64] + "…";
}
