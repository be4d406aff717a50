using System.Net;
using System.Security.Cryptography;
using System.Text;
using Microsoft.AspNetCore.Http;
using Valet.Core.Flows;

namespace Valet.Server.Flows;

/// <summary>
/// The page a person sees after consenting. Self-contained (no external loads), <c>Referrer-Policy: no-referrer</c>,
/// never cached, and an inline script (allowed by its CSP hash only) strips the code and state from the address bar.
/// </summary>
internal static class CallbackPage
{
    private const string StripScript = "history.replaceState(null,'',location.pathname);";
    private static readonly string ScriptHash = "sha256-" + Convert.ToBase64String(SHA256.HashData(Encoding.UTF8.GetBytes(StripScript)));

    public static async Task WriteAsync(HttpContext context, CallbackOutcome outcome)
    {
        var response = context.Response;
        ApplySecurityHeaders(response);

        // A return URL that cannot be a Location header (a flow stored before return URLs were checked for it) gets the
        // result page instead: the connection is saved by now, and the person must see that, not a 500.
        if (outcome is { Flow.ReturnUrl: { } returnUrl } && !outcome.BadState && !ReturnUrls.HasUnsafeCharacter(returnUrl))
        {
            // Coarse result only: never the provider's raw error text, never a code or token.
            var separator = returnUrl.Contains('?', StringComparison.Ordinal) ? '&' : '?';
            var query = outcome.Success
                ? $"status=complete&flow_id={Uri.EscapeDataString(outcome.Flow.Id)}&connection_id={Uri.EscapeDataString(outcome.Connection!.Id)}"
                : $"status=error&flow_id={Uri.EscapeDataString(outcome.Flow.Id)}&error={Uri.EscapeDataString(outcome.Error ?? "authorization_failed")}";
            response.StatusCode = StatusCodes.Status303SeeOther;
            response.Headers.Location = returnUrl + separator + query;
            return;
        }

        response.StatusCode = outcome.Success ? StatusCodes.Status200OK : outcome.BadState ? StatusCodes.Status400BadRequest : StatusCodes.Status200OK;
        var (title, message) = outcome.Success
            ? ("Connected", $"Your {outcome.Connection!.Provider} account {outcome.Connection.AccountLogin ?? outcome.Connection.AccountId} is connected. You can close this window.")
            : ("Not connected", Explain(outcome.Error));
        await WriteHtmlAsync(response, title, message, outcome.Success, outcome.Success ? null : outcome.Error);
    }

    public static void ApplySecurityHeaders(HttpResponse response)
    {
        response.Headers["Referrer-Policy"] = "no-referrer";
        response.Headers.CacheControl = "no-store";
        response.Headers["X-Content-Type-Options"] = "nosniff";
        response.Headers["X-Frame-Options"] = "DENY";
        response.Headers.ContentSecurityPolicy =
            $"default-src 'none'; style-src 'unsafe-inline'; script-src '{ScriptHash}'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'";
    }

    public static async Task WriteHtmlAsync(HttpResponse response, string title, string message, bool success, string? code, string? extraHtml = null)
    {
        response.ContentType = "text/html; charset=utf-8";
        var colour = success ? "#1a7f37" : "#b42318";
        var codeLine = code is null ? string.Empty : $"<p class=\"code\">Error code: <code>{WebUtility.HtmlEncode(code)}</code></p>";
        var html = $$"""
            <!doctype html>
            <html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width">
            <meta name="referrer" content="no-referrer"><title>Valet — {{WebUtility.HtmlEncode(title)}}</title>
            <style>body{font-family:system-ui,sans-serif;max-width:36rem;margin:4rem auto;padding:0 1rem;color:#1f2328}
            h1{color:{{colour}}}.code{color:#59636e}input,button{font:inherit;padding:.4rem;margin:.2rem 0}</style></head>
            <body><h1 id="result" data-success="{{(success ? "true" : "false")}}">{{WebUtility.HtmlEncode(title)}}</h1>
            <p id="message">{{WebUtility.HtmlEncode(message)}}</p>{{codeLine}}{{extraHtml}}
            <script>{{StripScript}}</script></body></html>
            """;
        await response.WriteAsync(html);
    }

    public static string Explain(string? error) => error switch
    {
        FlowErrors.AccessDenied => "The authorization was declined at the provider. Nothing was stored.",
        FlowErrors.Expired => "This authorization link has expired. Start the connection again.",
        FlowErrors.StateReplayed => "This authorization response was already used. Start the connection again if needed.",
        FlowErrors.UnknownState => "This authorization response does not match any pending connection.",
        FlowErrors.IssMissing or FlowErrors.IssMismatch => "The response did not come from the expected authorization server. Nothing was stored.",
        FlowErrors.ProviderUnavailable => "The provider could not be reached to finish the connection. Try again shortly.",
        _ => "The connection could not be completed. Nothing was stored.",
    };
}
