using Microsoft.AspNetCore.Antiforgery;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;
using Microsoft.Extensions.DependencyInjection;
using Valet.Core.Domain;
using Valet.Core.Flows;
using Valet.Core.Providers;
using Valet.Core.Stores;
using Valet.Server.Flows;
using static Valet.Server.Dashboard.Html;

namespace Valet.Server.Dashboard;

/// <summary>
/// <c>/connect-authorize?flow=</c>: the gated connect link of an envelope (SPEC §5). It works only for a signed-in operator
/// of the flow's org (else it asks them to sign in and comes back). <c>GET</c> shows what is about to be connected —
/// provider, org, scopes — and a <b>Continue</b> button; only that form's <c>POST</c> (antiforgery-checked) arms the flow
/// with a fresh state and PKCE verifier and sends the person to the provider.
/// <para>
/// Decision (docs/decisions.md, "Connect links"): not straight to the provider on <c>GET</c>. The link comes from an agent,
/// and an operator's session cookie (<c>SameSite=Lax</c>) travels with any top-level navigation: a page anywhere could
/// send a signed-in operator through it, and a provider that skips its consent screen for an app already granted would
/// connect the operator's account to the org, for the agent's key, without a click. Only envelope flows are connect
/// links: a CLI or API flow re-armed here would lose the state its owner polls with, and a sign-in flow is bound to
/// another browser. A headless org's people never use Valet's pages, so its old links are refused too.
/// </para>
/// </summary>
internal static class ConnectLinkEndpoints
{
    public const string Path = "/connect-authorize";

    public static void MapConnectLink(this IEndpointRouteBuilder routes)
    {
        routes.MapGet(Path, ShowAsync).AllowAnonymous().ExcludeFromDescription();
        // Antiforgery is checked by hand below, so a stale form gets this page's answer rather than a bare 400.
        routes.MapPost(Path, ContinueAsync).AllowAnonymous().DisableAntiforgery().ExcludeFromDescription();
    }

    private static async Task ShowAsync(HttpContext context, string? flow, IFlowStore flows, IOrgStore orgs, IProviderCatalog catalog,
        IAntiforgery antiforgery, TimeProvider time)
    {
        if (await CheckAsync(context, flow, flows, orgs, catalog, time) is not { } found)
        {
            return;
        }

        var provider = catalog.Find(found.Provider);
        var name = provider?.DisplayName ?? found.Provider;
        var tokens = antiforgery.GetAndStoreTokens(context);
        var scopes = found.Scopes is { Count: > 0 } asked
            ? $"<p>Scopes asked for:</p><ul id=\"connect-scopes\">{string.Concat(asked.Select(s => $"<li><code>{E(s)}</code></li>"))}</ul>"
            : "<p id=\"connect-scopes\">Scopes asked for: the provider's defaults.</p>";
        var form = $"""
            {scopes}
            <form method="post" action="{Path}" id="connect-form">
            <input type="hidden" name="{E(tokens.FormFieldName)}" value="{E(tokens.RequestToken)}">
            <input type="hidden" name="flow" value="{E(found.Id)}">
            <button type="submit" class="primary wide" id="connect-continue">Continue to {E(name)}</button></form>
            <p><a href="/" id="connect-cancel">Not now: open the dashboard instead</a> (the agent's link stays valid until it expires)</p>
            """;
        await CallbackPage.WriteHtmlAsync(context.Response, $"Connect {name}?",
            $"An agent of the org {found.OrgId} asked for an account at {name} to be connected. Continue to sign in at {name} and consent: " +
            $"the org's API keys allowed on {name} can then act as that account. If you did not expect this, cancel.",
            success: null, code: null, form);
    }

    private static async Task ContinueAsync(HttpContext context, IFlowStore flows, IOrgStore orgs, IProviderCatalog catalog, FlowEngine engine,
        ConnectStarter starter, IAntiforgery antiforgery, TimeProvider time)
    {
        if (!await SignInEndpoints.IsValidFormAsync(context, antiforgery))
        {
            PlainPage.ApplySecurityHeaders(context.Response);
            context.Response.StatusCode = StatusCodes.Status400BadRequest;
            await CallbackPage.WriteHtmlAsync(context.Response, "Form expired",
                "This form was not accepted: its anti-forgery token is missing or stale. Open the connect link again.", false, "invalid_form");
            return;
        }

        var flow = context.Request.Form["flow"].ToString();
        if (await CheckAsync(context, flow, flows, orgs, catalog, time) is not { } found)
        {
            return;
        }

        var armed = await engine.RearmAsync(found.Id, starter.GatewayRedirectUri, context.RequestAborted);
        if (armed is null)
        {
            await FinishedAsync(context);
            return;
        }

        context.Response.Redirect(armed.AbsoluteUri); // 302 after a POST: the browser follows it with a GET
    }

    /// <summary>
    /// What both steps check: a session of the flow's org, an envelope flow still to be finished, an org that is not
    /// headless. The flow when the person may go on; null when a page (or the sign-in redirect) has been written.
    /// </summary>
    private static async Task<Flow?> CheckAsync(HttpContext context, string? flowId, IFlowStore flows, IOrgStore orgs, IProviderCatalog catalog,
        TimeProvider time)
    {
        // The POST redirects to the provider, and browsers apply form-action to a form's redirects: every provider's
        // authorization origin is allowed, as on the dashboard's pages.
        PlainPage.ApplySecurityHeaders(context.Response, DashboardSecurity.AuthorizationOrigins(catalog));
        var found = string.IsNullOrEmpty(flowId) || flowId.Length > 64 ? null : await flows.FindAsync(flowId, time.GetUtcNow(), context.RequestAborted);
        var back = Path + "?flow=" + Uri.EscapeDataString(flowId ?? string.Empty);
        var signIn = "/signin?return=" + Uri.EscapeDataString(back) + (found is null ? string.Empty : "&org=" + Uri.EscapeDataString(found.OrgId));
        var session = await OperatorSessions.ReadAsync(context);
        if (session is null)
        {
            // Sign in first (the form already names the flow's org), then back to this page.
            context.Response.Redirect(signIn);
            return null;
        }

        if (found is not null && found.OrgId != session.OrgId)
        {
            context.Response.StatusCode = StatusCodes.Status403Forbidden;
            await CallbackPage.WriteHtmlAsync(context.Response, "Cannot continue", "This connect link belongs to another org than the one you are signed in to.",
                false, "forbidden", $"<p><a href=\"{E(signIn)}\">Sign in to the link's org</a></p>");
            return null;
        }

        // A finished flow has lost its envelope mark (a new envelope asks afresh): it is "used", whoever started it.
        if (found is not null && found.Status is not (FlowStatus.Pending or FlowStatus.Expired))
        {
            await FinishedAsync(context);
            return null;
        }

        // Only an envelope's flow is a connect link (not a CLI's, an API caller's or a sign-in's): anything else is unknown here.
        if (found is null || found.EnvelopeKey is null || found.SignIn)
        {
            context.Response.StatusCode = StatusCodes.Status404NotFound;
            await CallbackPage.WriteHtmlAsync(context.Response, "Cannot continue",
                "This connect link is unknown, or has expired. Ask the agent to try again for a fresh link.", false, "flow_not_found",
                "<p><a href=\"/\">Open the dashboard</a></p>");
            return null;
        }

        if (await orgs.FindAsync(found.OrgId, context.RequestAborted) is { Headless: true })
        {
            context.Response.StatusCode = StatusCodes.Status409Conflict;
            await CallbackPage.WriteHtmlAsync(context.Response, "Cannot continue",
                "This org is headless: its accounts are connected through the integrator's own application, not through Valet's pages.",
                false, "headless_org", "<p><a href=\"/\">Open the dashboard</a></p>");
            return null;
        }

        return found;
    }

    private static Task FinishedAsync(HttpContext context)
    {
        context.Response.StatusCode = StatusCodes.Status409Conflict;
        return CallbackPage.WriteHtmlAsync(context.Response, "Already finished", "This connect link has already been used.", false, "flow_finished",
            "<p><a href=\"/\">Open the dashboard</a></p>");
    }
}
