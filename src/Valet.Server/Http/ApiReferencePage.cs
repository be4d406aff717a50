using System.Security.Cryptography;
using System.Text;
using System.Text.RegularExpressions;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;

namespace Valet.Server.Http;

/// <summary>
/// Headers for the API reference page (<c>/docs</c>, Scalar) and its assets: the same hygiene as the dashboard's pages
/// (no referrer, no sniffing, no framing) and a Content-Security-Policy that lets the page load scripts, styles, fonts and
/// data from this server only, and connect to this server only (the page's test requests go to Valet itself). The page's
/// one inline script (Scalar's configuration call) is allowed by its hash, taken from the page as served, so a Scalar
/// upgrade that changes it cannot break the page or need a hand-edited hash. Styles allow <c>'unsafe-inline'</c>: the
/// reference app sets element styles at run time, and a style cannot run code.
/// </summary>
internal static partial class ApiReferencePage
{
    private const string Path = "/docs";

    /// <summary>The page itself is small (under 1 KB); anything larger is passed through unchanged rather than buffered.</summary>
    private const int MaxBufferedPage = 64 * 1024;

    public static IApplicationBuilder UseApiReferencePageHeaders(this IApplicationBuilder app) =>
        app.UseWhen(context => context.Request.Path.StartsWithSegments(Path, StringComparison.OrdinalIgnoreCase),
            branch => branch.Use(ApplyAsync));

    private static async Task ApplyAsync(HttpContext context, RequestDelegate next)
    {
        var response = context.Response;
        var rest = context.Request.Path.Value![Path.Length..];
        if (rest is not ("" or "/" or "/index.html"))
        {
            // An asset (scalar.js, the favicon): the same headers, no buffering.
            response.OnStarting(() =>
            {
                Apply(response.Headers, []);
                return Task.CompletedTask;
            });
            await next(context);
            return;
        }

        var original = response.Body;
        using var buffer = new MemoryStream();
        response.Body = buffer;
        try
        {
            await next(context);
        }
        finally
        {
            response.Body = original;
        }

        var isPage = response.ContentType?.StartsWith("text/html", StringComparison.OrdinalIgnoreCase) == true && buffer.Length <= MaxBufferedPage;
        Apply(response.Headers, isPage ? InlineScriptHashes(Encoding.UTF8.GetString(buffer.GetBuffer(), 0, (int)buffer.Length)) : []);
        buffer.Position = 0;
        await buffer.CopyToAsync(original, context.RequestAborted);
    }

    private static void Apply(IHeaderDictionary headers, IEnumerable<string> inlineScriptHashes)
    {
        headers["Referrer-Policy"] = "no-referrer";
        headers["X-Content-Type-Options"] = "nosniff";
        headers["X-Frame-Options"] = "DENY";
        headers.ContentSecurityPolicy = Policy(inlineScriptHashes);
    }

    internal static string Policy(IEnumerable<string> inlineScriptHashes) =>
        "default-src 'none'; " +
        $"script-src {string.Join(' ', ["'self'", .. inlineScriptHashes.Select(hash => $"'{hash}'")])}; " +
        "style-src 'self' 'unsafe-inline'; img-src 'self' data:; font-src 'self' data:; connect-src 'self'; " +
        "form-action 'none'; frame-ancestors 'none'; base-uri 'none'";

    /// <summary>
    /// The CSP hash (<c>sha256-…</c>) of every inline script of <paramref name="html"/>: a <c>&lt;script&gt;</c> element
    /// without <c>src</c>, hashed over its exact text as the browser sees it (CSP Level 3, "Does element match source list
    /// for type and source?").
    /// </summary>
    internal static List<string> InlineScriptHashes(string html)
    {
        var hashes = new List<string>();
        foreach (Match match in InlineScript().Matches(html))
        {
            if (SourceAttribute().IsMatch(match.Groups["attributes"].Value))
            {
                continue;
            }

            hashes.Add("sha256-" + Convert.ToBase64String(SHA256.HashData(Encoding.UTF8.GetBytes(match.Groups["body"].Value))));
        }

        return hashes;
    }

    [GeneratedRegex(@"<script(?<attributes>[^>]*)>(?<body>.*?)</script>", RegexOptions.Singleline | RegexOptions.IgnoreCase)]
    private static partial Regex InlineScript();

    [GeneratedRegex(@"\ssrc\s*=", RegexOptions.IgnoreCase)]
    private static partial Regex SourceAttribute();
}
