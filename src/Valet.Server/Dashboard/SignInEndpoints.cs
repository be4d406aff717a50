using System.Net;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;
using Valet.Core.Flows;
using Valet.Core.Stores;
using Valet.Server.Auth;
using Valet.Server.Flows;
using Valet.Server.Http;

namespace Valet.Server.Dashboard;

/// <summary>
/// A minimal operator sign-in (admin token, or the local service token) that sets a session cookie for one org, <c>/me</c>,
/// and <c>/connect-authorize?flow=</c>: the gated connect link of an envelope. It works only for a signed-in operator of
/// the flow's org, and arms the flow with a fresh state and PKCE verifier before sending the person to the provider.
/// </summary>
internal static class SignInEndpoints
{
    public static void MapSignIn(this IEndpointRouteBuilder routes)
    {
        routes.MapGet("/signin", SignInPage).AllowAnonymous().ExcludeFromDescription();
        routes.MapPost("/signin", SignInAsync).AllowAnonymous().DisableAntiforgery().ExcludeFromDescription();
        routes.MapPost("/signout", (HttpResponse response) =>
        {
            SessionCookies.Clear(response);
            return Results.Redirect("/signin");
        }).AllowAnonymous().DisableAntiforgery().ExcludeFromDescription();
        routes.MapGet("/me", (HttpRequest request, SessionCookies sessions) =>
                sessions.Read(request) is { } session
                    ? Results.Ok(new { org = session.OrgId, @operator = session.Operator, since = session.Since })
                    : Problems.Unauthorized("No dashboard session: sign in at /signin."))
            .AllowAnonymous().WithTags("Dashboard");
        routes.MapGet("/connect-authorize", ConnectAuthorizeAsync).AllowAnonymous().ExcludeFromDescription();
    }

    private static async Task SignInPage(HttpContext context, string? @return, string? org)
    {
        CallbackPage.ApplySecurityHeaders(context.Response);
        var form = $"""
            <form method="post" action="/signin">
            <input type="hidden" name="return" value="{WebUtility.HtmlEncode(SafeReturn(@return))}">
            <p><label>Org <input name="org" value="{WebUtility.HtmlEncode(org ?? "default")}" maxlength="64"></label></p>
            <p><label>Operator token <input name="token" type="password" autocomplete="off"></label></p>
            <p><button type="submit" id="signin">Sign in</button></p></form>
            <p class="code">Use the admin token (VALET_ADMIN_TOKEN), or locally the content of the service-token file in the data directory.</p>
            """;
        await CallbackPage.WriteHtmlAsync(context.Response, "Sign in to Valet", "An operator of the org must be signed in to connect an account.", true, null, form);
    }

    private static async Task<IResult> SignInAsync(HttpContext context, OperatorTokens tokens, IOrgStore orgs, SessionCookies sessions)
    {
        if (!context.Request.HasFormContentType)
        {
            return Problems.BadRequest("invalid_request", "Expected a form post.");
        }

        var form = await context.Request.ReadFormAsync(context.RequestAborted);
        var token = form["token"].ToString();
        var orgId = form["org"].ToString().Trim();
        var operatorName = tokens.IsAdmin(token) ? "admin" : tokens.IsService(token) ? "local" : null;
        if (operatorName is null || orgId.Length is 0 or > 64 || await orgs.FindAsync(orgId, context.RequestAborted) is null)
        {
            context.Response.StatusCode = StatusCodes.Status401Unauthorized;
            CallbackPage.ApplySecurityHeaders(context.Response);
            await CallbackPage.WriteHtmlAsync(context.Response, "Sign-in failed", "The token or the org is not right.", false, "invalid_credentials");
            return Results.Empty;
        }

        sessions.Issue(context.Response, orgId, operatorName);
        return Results.Redirect(SafeReturn(form["return"].ToString()));
    }

    private static async Task ConnectAuthorizeAsync(HttpContext context, string? flow, SessionCookies sessions, IFlowStore flows, FlowEngine engine,
        ConnectStarter starter, TimeProvider time)
    {
        CallbackPage.ApplySecurityHeaders(context.Response);
        var session = sessions.Read(context.Request);
        if (session is null)
        {
            var back = "/connect-authorize?flow=" + Uri.EscapeDataString(flow ?? string.Empty);
            context.Response.Redirect("/signin?return=" + Uri.EscapeDataString(back));
            return;
        }

        var found = string.IsNullOrEmpty(flow) || flow.Length > 64 ? null : await flows.FindAsync(flow, time.GetUtcNow(), context.RequestAborted);
        if (found is null || found.OrgId != session.OrgId)
        {
            context.Response.StatusCode = found is null ? StatusCodes.Status404NotFound : StatusCodes.Status403Forbidden;
            await CallbackPage.WriteHtmlAsync(context.Response, "Cannot continue",
                found is null ? "This connect link is unknown." : "This connect link belongs to another org than the one you are signed in to.",
                false, found is null ? "flow_not_found" : "forbidden");
            return;
        }

        var armed = await engine.RearmAsync(found.Id, starter.GatewayRedirectUri, context.RequestAborted);
        if (armed is null)
        {
            context.Response.StatusCode = StatusCodes.Status409Conflict;
            await CallbackPage.WriteHtmlAsync(context.Response, "Already finished", "This connect link has already been used.", false, "flow_finished");
            return;
        }

        context.Response.Redirect(armed.AbsoluteUri);
    }

    /// <summary>Only local paths: never an open redirect.</summary>
    private static string SafeReturn(string? value) =>
        !string.IsNullOrEmpty(value) && value.StartsWith('/') && !value.StartsWith("//", StringComparison.Ordinal) && !value.Contains('\\', StringComparison.Ordinal)
            ? value
            : "/me";
}
