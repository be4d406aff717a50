using System.Security.Cryptography;
using System.Text;
using Microsoft.AspNetCore.Http;
using static Valet.Server.Dashboard.Html;

namespace Valet.Server.Dashboard;

/// <summary>
/// The pages a person sees outside a dashboard session — sign-in and its errors, sign-in links, the OAuth callback's
/// result, the demo provider's consent — in the dashboard's look: <c>/dashboard.css</c> (light and dark, phone width),
/// the brand bar, one card. No inline style. The only script is the callback result's address-bar cleaner, allowed by
/// its hash; every other page has none.
/// </summary>
internal static class PlainPage
{
    /// <summary>Removes the query (the code and state of an authorization response) from the address bar and history.</summary>
    public const string StripScript = "history.replaceState(null,'',location.pathname);";

    private static readonly string ScriptHash = "sha256-" + Convert.ToBase64String(SHA256.HashData(Encoding.UTF8.GetBytes(StripScript)));

    /// <summary>
    /// Referrer, caching, sniffing and framing headers, and a CSP that allows the stylesheet from this origin and nothing
    /// else. <paramref name="formOrigins"/> joins <c>form-action</c>: a form that posts to Valet, which redirects to a
    /// provider (browsers apply form-action to that redirect).
    /// </summary>
    public static void ApplySecurityHeaders(HttpResponse response, IEnumerable<string>? formOrigins = null)
    {
        var headers = response.Headers;
        headers["Referrer-Policy"] = "no-referrer";
        headers.CacheControl = "no-store";
        headers["X-Content-Type-Options"] = "nosniff";
        headers["X-Frame-Options"] = "DENY";
        var formAction = string.Join(' ', ["'self'", .. formOrigins ?? []]);
        headers.ContentSecurityPolicy =
            $"default-src 'none'; style-src 'self'; script-src '{ScriptHash}'; img-src 'self' data:; form-action {formAction}; " +
            "frame-ancestors 'none'; base-uri 'none'";
    }

    /// <summary>A whole page: <paramref name="body"/> is trusted HTML (its data already encoded by the caller).</summary>
    public static string Document(string title, string body, bool stripAddress = false) => $"""
        <!doctype html>
        <html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
        <meta name="referrer" content="no-referrer"><title>{E(title)} · Valet</title>
        <link rel="icon" href="data:,"><link rel="stylesheet" href="/dashboard.css"></head>
        <body class="plain"><header class="top"><div class="top-inner"><span class="brand">Valet</span></div></header>
        <main id="main">{body}</main>{(stripAddress ? $"<script>{StripScript}</script>" : string.Empty)}
        </body></html>
        """;

    public static async Task WriteAsync(HttpResponse response, string title, string body, bool stripAddress = false)
    {
        response.ContentType = "text/html; charset=utf-8";
        await response.WriteAsync(Document(title, body, stripAddress), response.HttpContext.RequestAborted);
    }

    /// <summary>
    /// Whether to answer an error as a page rather than problem+json: only when the client names <c>text/html</c> (every
    /// browser navigation and form post does) and does not name JSON. An API client sending <c>Accept: application/json</c>,
    /// or nothing at all, gets problem+json.
    /// </summary>
    public static bool WantsHtml(HttpRequest request)
    {
        var accept = request.GetTypedHeaders().Accept;
        var html = false;
        foreach (var type in accept)
        {
            if (type.Quality is 0)
            {
                continue;
            }

            if (type.MediaType.Equals("application/json", StringComparison.OrdinalIgnoreCase) ||
                type.MediaType.Equals("application/problem+json", StringComparison.OrdinalIgnoreCase))
            {
                return false;
            }

            html |= type.MediaType.Equals("text/html", StringComparison.OrdinalIgnoreCase);
        }

        return html;
    }
}
