using Microsoft.AspNetCore.Http;
using Valet.Core.Flows;
using Valet.Server.Dashboard;
using static Valet.Server.Dashboard.Html;

namespace Valet.Server.Flows;

/// <summary>
/// The page a person sees after consenting, and the other one-message pages outside a dashboard session (sign-in links,
/// refusals, the demo consent). Drawn by <see cref="PlainPage"/> in the dashboard's stylesheet, served from the same
/// origin (the loopback listener serves it too); <c>Referrer-Policy: no-referrer</c>, never cached, and on the callback
/// result a script (allowed by its CSP hash only) strips the code and state from the address bar.
/// </summary>
internal static class CallbackPage
{
    /// <param name="onMainServer">False on the one-shot loopback listener, which has no dashboard to link to.</param>
    public static async Task WriteAsync(HttpContext context, CallbackOutcome outcome, bool onMainServer = true)
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
        var next = onMainServer && outcome.Success
            ? $"<p><a href=\"/connections/{U(outcome.Connection!.Id)}\" id=\"open-dashboard\">See the connection in the dashboard</a></p>"
            : null;
        await WriteHtmlAsync(response, title, message, outcome.Success, outcome.Success ? null : outcome.Error, next, stripAddress: true);
    }

    public static void ApplySecurityHeaders(HttpResponse response) => PlainPage.ApplySecurityHeaders(response);

    /// <summary>
    /// A one-message page: <paramref name="extraHtml"/> is trusted markup (links, a form) placed under the message. A
    /// result (<paramref name="success"/> true or false) has <c>#result</c> with <c>data-success</c>; null is a neutral page
    /// (the demo consent), which has neither.
    /// </summary>
    public static async Task WriteHtmlAsync(HttpResponse response, string title, string message, bool? success, string? code, string? extraHtml = null,
        bool stripAddress = false)
    {
        var (tone, heading) = success switch
        {
            true => ("ok", "<h1 id=\"result\" data-success=\"true\">"),
            false => ("bad", "<h1 id=\"result\" data-success=\"false\">"),
            null => ("neutral", "<h1>"),
        };
        var codeLine = code is null ? string.Empty : $"<p class=\"muted\">Error code: <code>{E(code)}</code></p>";
        var body = $"""
            <section class="card result {tone}">
            {heading}{E(title)}</h1>
            <p id="message">{E(message)}</p>{codeLine}{extraHtml}</section>
            """;
        await PlainPage.WriteAsync(response, title, body, stripAddress);
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
