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
