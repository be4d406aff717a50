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
    private string? _policy;

    public string Policy => _policy ??= Build();

    public static void Apply(HttpContext context)
    {
        var headers = context.Response.Headers;
        headers.ContentSecurityPolicy = context.RequestServices.GetRequiredService<DashboardSecurity>().Policy;
        headers["Referrer-Policy"] = "no-referrer";
        headers.CacheControl = "no-store";
        headers["X-Content-Type-Options"] = "nosniff";
        headers["X-Frame-Options"] = "DENY";
    }

    private string Build()
    {
        var origins = catalog.All
            .Select(p => p.AuthorizationEndpoint?.GetLeftPart(UriPartial.Authority))
            .OfType<string>()
            .Distinct(StringComparer.OrdinalIgnoreCase)
            .Order(StringComparer.Ordinal);
        return "default-src 'none'; style-src 'self'; script-src 'self'; img-src 'self' data:; connect-src 'self'; " +
            $"form-action 'self' {string.Join(' ', origins)}; frame-ancestors 'none'; base-uri 'none'";
    }
}
