using System.Text.RegularExpressions;

namespace Valet.Core.Providers;

/// <summary>Checks a provider definition and appends every problem found (never stops at the first).</summary>
internal static partial class ProviderValidator
{
    [GeneratedRegex("^[a-z0-9][a-z0-9_-]{0,62}$", RegexOptions.CultureInvariant)]
    public static partial Regex Slug();

    public static void Validate(ProviderDefinition p, List<string> problems)
    {
        if (p.ConnectionParameters.Count > 0 || p.UrlTemplates is not null)
        {
            // A templated provider is checked as declared, then bound to sample values like any other provider.
            if (ConnectionParameters.CheckDeclaration(p, problems) is not { } sample)
            {
                return;
            }

            p = sample;
        }

        var where = $"provider '{p.Id}'";
        if (!Slug().IsMatch(p.Id))
        {
            problems.Add($"{where}: the id must be a lower-case slug (a-z, 0-9, '-', '_', at most 63 characters).");
        }

        if (string.IsNullOrWhiteSpace(p.DisplayName))
        {
            problems.Add($"{where}: DisplayName is empty.");
        }
        else if (p.DisplayName.Any(char.IsControl))
        {
            problems.Add($"{where}: DisplayName must not contain control characters.");
        }

        ValidateAuthMode(p, where, problems);

        CheckUrl(p.Id, p.AllowPrivateNetwork, "AuthorizationEndpoint", p.AuthorizationEndpoint, problems);
        CheckUrl(p.Id, p.AllowPrivateNetwork, "TokenEndpoint", p.TokenEndpoint, problems);
        CheckUrl(p.Id, p.AllowPrivateNetwork, "RevocationEndpoint", p.RevocationEndpoint, problems);
        CheckUrl(p.Id, p.AllowPrivateNetwork, "UserInfoEndpoint", p.UserInfoEndpoint, problems);
        CheckUrl(p.Id, p.AllowPrivateNetwork, "DeviceAuthorizationEndpoint", p.DeviceAuthorizationEndpoint, problems);

        foreach (var api in p.ApiBaseUrls)
        {
            if (!NetworkHosts.TryParseHttpUrl(api, out var apiUri))
            {
                problems.Add($"{where}: ApiBaseUrl '{api}' is not an absolute http(s) URL.");
                continue;
            }

            CheckUrl(p.Id, p.AllowPrivateNetwork, "ApiBaseUrl", apiUri, problems);
            if (!string.IsNullOrEmpty(apiUri.Query))
            {
                problems.Add($"{where}: ApiBaseUrl {NetworkHosts.Describe(apiUri)} must not carry a query.");
            }
        }

        if (string.IsNullOrEmpty(p.ScopeSeparator))
        {
            problems.Add($"{where}: ScopeSeparator is empty.");
        }

        if (p.ClientSecret is { IsEmpty: false } && !p.HasPlatformClient)
        {
            problems.Add($"{where}: ClientSecret is set without ClientId.");
        }

        if (string.IsNullOrWhiteSpace(p.Identity.IdPath))
        {
            problems.Add($"{where}: the identity mapping has no IdPath.");
        }

        var names = new HashSet<string>(StringComparer.Ordinal);
        foreach (var target in p.Targets)
        {
            if (!Slug().IsMatch(target.Name) || !names.Add(target.Name))
            {
                problems.Add($"{where}: managed target name '{target.Name}' is not a unique lower-case slug.");
            }

            if (target.Path is { } path)
            {
                if (target.BaseUrl is not null)
                {
                    problems.Add($"{where}: managed target '{target.Name}' sets both Path and BaseUrl; set one.");
                }
                else if (!ApiBases.IsRelativePath(path))
                {
                    problems.Add($"{where}: managed target '{target.Name}' Path must be relative segments (no scheme, host, '..', '//', query or fragment).");
                }
                else if (p.ApiBaseUrls.Count == 0)
                {
                    problems.Add($"{where}: managed target '{target.Name}' needs an ApiBaseUrl to be relative to.");
                }
            }
            else if (!Uri.TryCreate(target.BaseUrl, UriKind.Absolute, out var targetUri)
                || !p.ApiBaseUrls.Any(api => IsUnder(targetUri, api)))
            {
                problems.Add($"{where}: managed target '{target.Name}' must point under one of the provider's ApiBaseUrls.");
            }
        }
    }

    /// <summary>What each auth mode needs: OAuth endpoints, a client-credentials token endpoint, or an API to inject into.</summary>
    private static void ValidateAuthMode(ProviderDefinition p, string where, List<string> problems)
    {
        // A URL that was given but could not be read is already one problem (ProviderSettings): not "no X" as well.
        bool Missing(Uri? url, string key) => url is null && !problems.Contains(ProviderSettings.UnreadableUrl(where, key));

        switch (p.AuthMode)
        {
            case AuthMode.OAuth2:
                if (Missing(p.AuthorizationEndpoint, "AuthorizationEndpoint"))
                {
                    problems.Add($"{where}: no AuthorizationEndpoint (set it, or an Issuer for discovery).");
                }

                goto case AuthMode.OAuth2ClientCredentials;
            case AuthMode.OAuth2ClientCredentials:
                if (Missing(p.TokenEndpoint, "TokenEndpoint"))
                {
                    problems.Add($"{where}: no TokenEndpoint (set it, or an Issuer for discovery).");
                }

                break;
            case AuthMode.ApiKey or AuthMode.Basic:
                // Without a base of its own, every connection names its site, on one of the instance host suffixes.
                if (p.ApiBaseUrls.Count == 0 && p.InstanceUrlHostSuffixes.Count == 0)
                {
                    problems.Add($"{where}: {AuthModes.WithArticle(p.AuthMode)} provider needs an ApiBaseUrl (where the proxy injects the secret).");
                }

                break;
        }

        // No injection, and no problem already said why (a malformed header line, both given): ask for one.
        if (p.AuthMode == AuthMode.ApiKey && p.ApiKey is null
            && !problems.Any(m => m.StartsWith($"{where}: ApiKey", StringComparison.Ordinal) || m.StartsWith($"{where}: set ApiKey", StringComparison.Ordinal)))
        {
            problems.Add($"{where}: an api_key provider needs ApiKeyHeader (e.g. 'x-api-key: {{secret}}') or ApiKeyQuery (a parameter name).");
        }
        else if (p.AuthMode != AuthMode.ApiKey && p.ApiKey is not null)
        {
            problems.Add($"{where}: ApiKeyHeader and ApiKeyQuery apply only to AuthMode api_key.");
        }
    }

    /// <summary>True when <paramref name="url"/> is <paramref name="baseUrl"/> or below it (same scheme, host, port, path prefix).</summary>
    public static bool IsUnder(Uri url, string baseUrl)
    {
        return Uri.TryCreate(baseUrl, UriKind.Absolute, out var b) && IsUnder(url, b);
    }

    /// <inheritdoc cref="IsUnder(Uri, string)"/>
    public static bool IsUnder(Uri url, Uri b)
    {
        if (!string.Equals(url.Scheme, b.Scheme, StringComparison.OrdinalIgnoreCase)
            || !string.Equals(url.IdnHost, b.IdnHost, StringComparison.OrdinalIgnoreCase)
            || url.Port != b.Port)
        {
            return false;
        }

        var basePath = b.AbsolutePath.TrimEnd('/');
        var path = url.AbsolutePath;
        return basePath.Length == 0
            || string.Equals(path, basePath, StringComparison.Ordinal)
            || path.StartsWith(basePath + "/", StringComparison.Ordinal);
    }

    public static void CheckUrl(string id, bool allowPrivateNetwork, string key, Uri? uri, List<string> problems)
    {
        if (uri is null)
        {
            return;
        }

        var where = $"provider '{id}': {key}";
        if (!uri.IsAbsoluteUri)
        {
            problems.Add($"{where} is not an absolute URL.");
            return;
        }

        var shown = NetworkHosts.Describe(uri);
        if (uri.Scheme != Uri.UriSchemeHttps && uri.Scheme != Uri.UriSchemeHttp)
        {
            problems.Add($"{where} {shown} must use https.");
            return;
        }

        if (!string.IsNullOrEmpty(uri.UserInfo))
        {
            problems.Add($"{where} {shown} must not contain credentials.");
        }

        if (!string.IsNullOrEmpty(uri.Fragment))
        {
            problems.Add($"{where} {shown} must not contain a fragment.");
        }

        var loopback = NetworkHosts.IsLoopback(uri);
        if (uri.Scheme == Uri.UriSchemeHttp && !loopback)
        {
            problems.Add($"{where} {shown} uses plain http on a non-loopback host; use https.");
        }

        var addressClass = NetworkAddresses.Classify(uri);
        if (addressClass == AddressClass.Forbidden)
        {
            problems.Add($"{where} {shown} is a link-local, cloud-metadata, multicast or unspecified address; it is never allowed.");
        }
        else if (addressClass == AddressClass.Private && !allowPrivateNetwork)
        {
            problems.Add($"{where} {shown} is a loopback or private host; set AllowPrivateNetwork=true for this provider to allow it.");
        }
    }
}
