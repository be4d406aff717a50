using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Scalar.AspNetCore;

namespace Valet.Server.Http;

/// <summary>
/// Headers for the API reference page (<c>/docs</c> and <c>/docs/{document}</c>, Scalar) and its assets: the same hygiene
/// as the dashboard's pages (no referrer, no sniffing, no framing) and a Content-Security-Policy that lets the page load
/// scripts, styles, fonts and data from this server only, and connect to this server only (the page's test requests go to
/// Valet itself). The page's inline script (Scalar's configuration call) is allowed by the per-request nonce Scalar puts on
/// its script tags (<c>WithNonce()</c>, read from <see cref="ScalarOptions.NonceHttpContextItemKey"/>), so nothing is
/// buffered or hashed and every document route is covered. Styles allow <c>'unsafe-inline'</c>: the reference app sets
/// element styles at run time, and a style cannot run code.
/// </summary>
internal static class ApiReferencePage
{
    public const string Path = "/docs";

    public static IApplicationBuilder UseApiReferencePageHeaders(this IApplicationBuilder app) =>
        app.UseWhen(context => context.Request.Path.StartsWithSegments(Path, StringComparison.OrdinalIgnoreCase),
            branch => branch.Use((context, next) =>
            {
                context.Response.OnStarting(static state =>
                {
                    var context = (HttpContext)state;
                    var headers = context.Response.Headers;
                    headers["Referrer-Policy"] = "no-referrer";
                    headers["X-Content-Type-Options"] = "nosniff";
                    headers["X-Frame-Options"] = "DENY";
                    headers.ContentSecurityPolicy = Policy(context.Items[ScalarOptions.NonceHttpContextItemKey] as string);
                    return Task.CompletedTask;
                }, context);
                return next(context);
            }));

    internal static string Policy(string? nonce) =>
        "default-src 'none'; " +
        $"script-src 'self'{(nonce is null ? string.Empty : $" 'nonce-{nonce}'")}; " +
        "style-src 'self' 'unsafe-inline'; img-src 'self' data:; font-src 'self' data:; connect-src 'self'; " +
        "form-action 'none'; frame-ancestors 'none'; base-uri 'none'";
}
