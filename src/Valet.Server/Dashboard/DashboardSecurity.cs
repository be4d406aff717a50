using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using Valet.Core.Providers;

namespace Valet.Server.Dashboard;

/// <summary>
/// Headers of every dashboard page: no inline script or style (<c>'self'</c> only: /dashboard.css, /dashboard.js), no
/// framing, no caching, no referrer. <c>form-action</c> lists the providers' authorization origins besides <c>'self'</c>:
/// Connect posts to Valet, which answers with a redirect to the provider, and browsers apply form-action to that redirect.
/// </summary>
internal sealed class DashboardSecurity(IProviderCatalog catalog)
{
    private volatile Built? _built;

    /// <summary>
    /// Built once per catalog snapshot: a provider registered at run time (a new snapshot of the registry) is in the next
    /// page's form-action, so its Connect redirect is not blocked.
    /// </summary>
    public string Policy
    {
        get
        {
            var all = catalog.All;
            if (_built is { } built && ReferenceEquals(built.Source, all))
            {
                return built.Policy;
            }

            var policy = Build(all);
            _built = new Built(all, policy);
            return policy;
        }
    }

    public static void Apply(HttpContext context)
    {
        var headers = context.Response.Headers;
        headers.ContentSecurityPolicy = context.RequestServices.GetRequiredService<DashboardSecurity>().Policy;
        headers["Referrer-Policy"] = "no-referrer";
        headers.CacheControl = "no-store";
        headers["X-Content-Type-Options"] = "nosniff";
        headers["X-Frame-Options"] = "DENY";
    }

    /// <summary>
    /// Every origin a Connect may be redirected to: each provider's authorization origin, and for a provider whose
    /// authorization URL is a template over a host label (<c>https://{subdomain}.zendesk.com/…</c>) the wildcard source
    /// <c>https://*.zendesk.com</c> — the template's fixed domain, which is all a connection's value can change
    /// (ConnectionParameters allows a host placeholder only as whole labels left of at least two fixed ones). Without it
    /// the browser blocks the redirect to the bound host.
    /// </summary>
    public static IEnumerable<string> AuthorizationOrigins(IProviderCatalog catalog) => AuthorizationOrigins(catalog.All);

    private static IEnumerable<string> AuthorizationOrigins(IReadOnlyCollection<ProviderDefinition> providers) => providers
        .SelectMany(p => new[] { p.AuthorizationEndpoint?.GetLeftPart(UriPartial.Authority), TemplateSource(p.UrlTemplates?.AuthorizationEndpoint) })
        .OfType<string>()
        .Distinct(StringComparer.OrdinalIgnoreCase)
        .Order(StringComparer.Ordinal);

    /// <summary>A URL template's scheme and authority, placeholders kept (<c>https://{subdomain}.zendesk.com</c>); null when not absolute.</summary>
    public static string? TemplateAuthority(string template)
    {
        var start = template.IndexOf("://", StringComparison.Ordinal);
        if (start <= 0)
        {
            return null;
        }

        var rest = template[(start + 3)..];
        var end = rest.IndexOfAny(['/', '?', '#']);
        return template[..(start + 3)] + (end < 0 ? rest : rest[..end]);
    }

    /// <summary>The CSP source of a template's origin: the labels up to the last placeholder become <c>*</c>.</summary>
    internal static string? TemplateSource(string? template)
    {
        if (template is null || TemplateAuthority(template) is not { } authority)
        {
            return null;
        }

        var scheme = authority.IndexOf("://", StringComparison.Ordinal) + 3;
        var last = authority.LastIndexOf('}');
        if (last < scheme)
        {
            return authority; // placeholders only in the path: the host is fixed
        }

        var fixedPart = authority[(last + 1)..];
        return fixedPart.StartsWith('.') && !fixedPart.Contains('{', StringComparison.Ordinal) ? authority[..scheme] + "*" + fixedPart : null;
    }

    private static string Build(IReadOnlyCollection<ProviderDefinition> providers)
    {
        var origins = AuthorizationOrigins(providers);
        return "default-src 'none'; style-src 'self'; script-src 'self'; img-src 'self' data:; connect-src 'self'; " +
            $"form-action 'self' {string.Join(' ', origins)}; frame-ancestors 'none'; base-uri 'none'";
    }

    private sealed record Built(IReadOnlyCollection<ProviderDefinition> Source, string Policy);
}
