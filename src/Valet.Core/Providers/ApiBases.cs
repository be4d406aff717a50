using System.Collections.Concurrent;
using Valet.Core.Domain;

namespace Valet.Core.Providers;

/// <summary>
/// Where a proxied call for a connection may go: one of its provider's API base URLs (from the catalog), never an
/// arbitrary host. The proxy asks this on every call, so each URL is parsed once.
/// </summary>
public static class ApiBases
{
    private static readonly ConcurrentDictionary<string, Uri?> Parsed = new(StringComparer.Ordinal);

    /// <summary>
    /// The base URL calls go to, or null when none is allowed:
    /// <list type="bullet">
    /// <item>through a target: the target's base, which must lie under one of the provider's API bases;</item>
    /// <item>a connection with its own base (Salesforce <c>instance_url</c>, self-hosted): that base when it is on one of
    /// the provider's API hosts or a configured instance host suffix; else <paramref name="connectionBaseIgnored"/> and
    /// the provider's;</item>
    /// <item>else the provider's first API base.</item>
    /// </list>
    /// </summary>
    public static Uri? Resolve(ProviderDefinition provider, Connection connection, Target? target, out bool connectionBaseIgnored)
    {
        ArgumentNullException.ThrowIfNull(provider);
        ArgumentNullException.ThrowIfNull(connection);

        connectionBaseIgnored = false;
        var apiBases = provider.ApiBaseUrls;
        if (target is { Managed: true } && ManagedDefinition(provider, target.Name) is { Path: { } path })
        {
            // Relative to where the connection's calls go today, not to the host stored when it was made: an ApiBaseUrl
            // override (GitHub Enterprise Server, a national cloud) moves existing targets too.
            return Resolve(provider, connection, null, out connectionBaseIgnored) is { } connectionBase ? Under(connectionBase, path) : null;
        }

        if (target is not null)
        {
            var targetBase = Parse(target.BaseUrl);
            if (targetBase is null)
            {
                return null;
            }

            for (var i = 0; i < apiBases.Count; i++)
            {
                if (Parse(apiBases[i]) is { } api && IsUnder(targetBase, api))
                {
                    return targetBase;
                }
            }

            return null;
        }

        if (connection.ApiBaseUrl is { Length: > 0 } own)
        {
            var ownBase = Parse(own);
            if (ownBase is not null && OwnBaseAllowed(provider, ownBase))
            {
                return ownBase;
            }

            connectionBaseIgnored = true;
        }

        return apiBases.Count > 0 ? Parse(apiBases[0]) : null;
    }

    /// <summary>The base a managed target made now from <paramref name="definition"/> forwards to (stored on the target row).</summary>
    public static Uri? ManagedTargetBase(ProviderDefinition provider, Connection connection, ManagedTargetDefinition definition)
    {
        ArgumentNullException.ThrowIfNull(definition);
        if (definition.Path is not { } path)
        {
            return Parse(definition.BaseUrl);
        }

        return Resolve(provider, connection, null, out _) is { } connectionBase ? Under(connectionBase, path) : null;
    }

    /// <summary>
    /// A managed target's <see cref="ManagedTargetDefinition.Path"/>: empty, or '/'-separated segments of unreserved and
    /// sub-delimiter characters (RFC 3986 pchar without '%'), none of them '.' or '..'. It can only go below the base.
    /// </summary>
    public static bool IsRelativePath(string path)
    {
        ArgumentNullException.ThrowIfNull(path);
        if (path.Length == 0)
        {
            return true;
        }

        foreach (var segment in path.Split('/'))
        {
            if (segment.Length == 0 || segment is "." or ".." || segment.Any(c => !IsPathChar(c)))
            {
                return false;
            }
        }

        return true;
    }

    private static bool IsPathChar(char c) =>
        c is (>= 'a' and <= 'z') or (>= 'A' and <= 'Z') or (>= '0' and <= '9') or '-' or '.' or '_' or '~' or '!' or '$' or '&' or '\''
            or '(' or ')' or '*' or '+' or ',' or ';' or '=' or '@';

    private static ManagedTargetDefinition? ManagedDefinition(ProviderDefinition provider, string name)
    {
        foreach (var definition in provider.Targets)
        {
            if (string.Equals(definition.Name, name, StringComparison.Ordinal))
            {
                return definition;
            }
        }

        return null;
    }

    /// <summary><paramref name="path"/> below <paramref name="baseUrl"/>; parsed once per distinct result.</summary>
    private static Uri? Under(Uri baseUrl, string path) =>
        path.Length == 0 ? baseUrl : Parse(baseUrl.AbsoluteUri.TrimEnd('/') + "/" + path);

    /// <summary>An absolute http(s) URL without user info, query or fragment; null otherwise. Parsed once per distinct string.</summary>
    public static Uri? Parse(string? url) => url is null ? null : Parsed.GetOrAdd(url, static u =>
        NetworkHosts.TryParseHttpUrl(u, out var uri) && string.IsNullOrEmpty(uri.UserInfo) && string.IsNullOrEmpty(uri.Query)
            && string.IsNullOrEmpty(uri.Fragment)
            ? uri
            : null);

    /// <summary><paramref name="url"/> is <paramref name="baseUrl"/> or below it: same scheme, host and port, path prefix on a segment boundary.</summary>
    public static bool IsUnder(Uri url, Uri baseUrl)
    {
        ArgumentNullException.ThrowIfNull(url);
        ArgumentNullException.ThrowIfNull(baseUrl);
        return ProviderValidator.IsUnder(url, baseUrl);
    }

    /// <summary>
    /// A connection may carry <paramref name="own"/> as its API base: on one of the provider's API hosts, or an https
    /// host ending in one of its instance host suffixes (a Jira site, a Salesforce instance).
    /// </summary>
    public static bool IsAllowedConnectionBase(ProviderDefinition provider, Uri own)
    {
        ArgumentNullException.ThrowIfNull(provider);
        ArgumentNullException.ThrowIfNull(own);
        return OwnBaseAllowed(provider, own);
    }

    private static bool OwnBaseAllowed(ProviderDefinition provider, Uri own)
    {
        foreach (var api in provider.ApiBaseUrls)
        {
            if (Parse(api) is { } apiUrl
                && string.Equals(apiUrl.Scheme, own.Scheme, StringComparison.OrdinalIgnoreCase)
                && string.Equals(apiUrl.IdnHost, own.IdnHost, StringComparison.OrdinalIgnoreCase)
                && apiUrl.Port == own.Port)
            {
                return true;
            }
        }

        if (own.Scheme != Uri.UriSchemeHttps)
        {
            return false;
        }

        foreach (var suffix in provider.InstanceUrlHostSuffixes)
        {
            if (own.IdnHost.EndsWith(suffix, StringComparison.OrdinalIgnoreCase))
            {
                return true;
            }
        }

        return false;
    }
}
