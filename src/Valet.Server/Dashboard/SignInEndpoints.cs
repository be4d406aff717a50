using System.Net;
using Microsoft.AspNetCore.Antiforgery;
using Microsoft.AspNetCore.Authentication;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;
using Valet.Core.Flows;
using Valet.Core.Providers;
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
    /// <summary><c>GET /me</c>; <c>provider</c>, <c>account_login</c> and <c>base_url</c> only when signed in through a provider.</summary>
    internal sealed record MeResponse(
        string Org,
        string Operator,
        [property: System.Text.Json.Serialization.JsonIgnore(Condition = System.Text.Json.Serialization.JsonIgnoreCondition.WhenWritingNull)] string? Provider,
        [property: System.Text.Json.Serialization.JsonIgnore(Condition = System.Text.Json.Serialization.JsonIgnoreCondition.WhenWritingNull)] string? AccountLogin,
        [property: System.Text.Json.Serialization.JsonIgnore(Condition = System.Text.Json.Serialization.JsonIgnoreCondition.WhenWritingNull)] string? BaseUrl,
        DateTimeOffset Since);

    public static void MapSignIn(this IEndpointRouteBuilder routes)
    {
        routes.MapGet("/signin", SignInPage).AllowAnonymous().ExcludeFromDescription();
        routes.MapPost("/signin", SignInAsync).AllowAnonymous().DisableAntiforgery().ExcludeFromDescription();
        routes.MapPost("/signout", async (HttpContext context, OperatorSessions sessions, IAntiforgery antiforgery) =>
        {
            // The form's token is bound to the session's user (as on every dashboard page): authenticate it first.
            var session = await context.AuthenticateAsync(ValetClaims.SessionScheme);
            if (session.Succeeded)
            {
                context.User = session.Principal;
            }

            if (!context.Request.HasFormContentType || !await antiforgery.IsRequestValidAsync(context))
            {
                return FormExpired();
            }

            await sessions.SignOutAsync(context);
            return Results.Redirect("/signin");
        }).AllowAnonymous().DisableAntiforgery().ExcludeFromDescription();
        routes.MapGet("/me", async (HttpContext context) =>
                await OperatorSessions.ReadAsync(context) is { } session
                    ? Results.Ok(new MeResponse(session.OrgId, session.Operator, session.Provider, session.AccountLogin, session.BaseUrl, session.Since))
                    : Problems.Unauthorized("No dashboard session: sign in at /signin."))
            .AllowAnonymous().WithTags("Dashboard").WithName("GetSession").WithSummary("The dashboard session: org, operator, since, and the provider account when signed in through one").Produces<MeResponse>().ProducesProblemCodes(StatusCodes.Status401Unauthorized, "unauthorized");
        routes.MapProviderSignIn();
        routes.MapGet(SignInLinks.Path + "{token}", UseLinkAsync).AllowAnonymous().ExcludeFromDescription();
        routes.MapGet("/connect-authorize", ConnectAuthorizeAsync).AllowAnonymous().ExcludeFromDescription();
    }

    private static async Task SignInPage(HttpContext context, string? @return, string? org, ProviderSignIn providerSignIn, IAntiforgery antiforgery,
        IProviderCatalog catalog)
    {
        if (ReturnPath(@return) is not { } returnPath)
        {
            await InvalidReturn().ExecuteAsync(context);
            return;
        }

        CallbackPage.ApplySecurityHeaders(context.Response);

        // "Sign in with" posts to Valet, which redirects to the provider: browsers apply form-action to that redirect.
        var origins = providerSignIn.Providers.Select(p => catalog.Find(p)?.AuthorizationEndpoint?.GetLeftPart(UriPartial.Authority)).OfType<string>().Distinct();
        context.Response.Headers.ContentSecurityPolicy = context.Response.Headers.ContentSecurityPolicy.ToString()
            .Replace("form-action 'self'", string.Join(' ', ["form-action 'self'", .. origins]), StringComparison.Ordinal);
        var tokens = antiforgery.GetAndStoreTokens(context);
        var af = $"<input type=\"hidden\" name=\"{WebUtility.HtmlEncode(tokens.FormFieldName)}\" value=\"{WebUtility.HtmlEncode(tokens.RequestToken)}\">";
        var providers = string.Concat(providerSignIn.Providers.Select(p => $"""
            <form method="post" action="/signin/provider">{af}
            <input type="hidden" name="return" value="{WebUtility.HtmlEncode(returnPath)}">
            <input type="hidden" name="org" value="{WebUtility.HtmlEncode(org ?? "default")}">
            <input type="hidden" name="provider" value="{WebUtility.HtmlEncode(p)}">
            <p><button type="submit" id="signin-{WebUtility.HtmlEncode(p)}">Sign in with {WebUtility.HtmlEncode(catalog.Find(p)?.DisplayName ?? p)}</button></p></form>
            """));
        var form = providers + $"""
            <form method="post" action="/signin">{af}
            <input type="hidden" name="return" value="{WebUtility.HtmlEncode(returnPath)}">
            <p><label>Org <input name="org" value="{WebUtility.HtmlEncode(org ?? "default")}" maxlength="64"></label></p>
            <p><label>Operator token <input name="token" type="password" autocomplete="off"></label></p>
            <p><button type="submit" id="signin">Sign in</button></p></form>
            <p class="code">Use the admin token (VALET_ADMIN_TOKEN), or locally the content of the service-token file in the data directory.</p>
            """;
        await CallbackPage.WriteHtmlAsync(context.Response, "Sign in to Valet", "An operator of the org must be signed in to connect an account.", true, null, form);
    }

    private static async Task<IResult> SignInAsync(HttpContext context, OperatorTokens tokens, IOrgStore orgs, OperatorSessions sessions,
        IAntiforgery antiforgery)
    {
        if (!context.Request.HasFormContentType)
        {
            return Problems.BadRequest("invalid_request", "Expected a form post.");
        }

        // Login CSRF: a sign-in posted from another site would sign the person in as the attacker's operator.
        try
        {
            await context.Request.ReadFormAsync(context.RequestAborted);
        }
        catch (InvalidDataException)
        {
            return Problems.BadRequest("invalid_request", "The form body could not be read (malformed, or containing forbidden characters).");
        }

        if (!await antiforgery.IsRequestValidAsync(context))
        {
            return FormExpired();
        }

        var form = await context.Request.ReadFormAsync(context.RequestAborted);
        if (ReturnPath(form["return"].ToString()) is not { } returnPath)
        {
            return InvalidReturn();
        }

        var token = form["token"].ToString();
        var orgId = form["org"].ToString().Trim();
        var tokenKind = tokens.KindOf(token);
        if (tokenKind is null || orgId.Length is 0 or > 64 || await orgs.FindAsync(orgId, context.RequestAborted) is null)
        {
            context.Response.StatusCode = StatusCodes.Status401Unauthorized;
            CallbackPage.ApplySecurityHeaders(context.Response);
            await CallbackPage.WriteHtmlAsync(context.Response, "Sign-in failed", "The token or the org is not right.", false, "invalid_credentials");
            return Results.Empty;
        }

        await sessions.SignInAsync(context, orgId, tokenKind);
        return Results.Redirect(returnPath);
    }

    /// <summary>A single-use link from <c>valet dashboard</c>: signs in and lands on its page, or says plainly why not.</summary>
    private static async Task UseLinkAsync(HttpContext context, string token, SignInLinks links)
    {
        var (outcome, returnPath) = await links.UseAsync(context, token);
        if (outcome == SignInLinkOutcome.SignedIn)
        {
            context.Response.Headers.CacheControl = "no-store";
            context.Response.Headers["Referrer-Policy"] = "no-referrer";
            context.Response.Redirect(returnPath!);
            return;
        }

        context.Response.StatusCode = StatusCodes.Status410Gone;
        CallbackPage.ApplySecurityHeaders(context.Response);
        var (message, code) = outcome == SignInLinkOutcome.Expired
            ? ("This sign-in link has expired (links last 5 minutes).", "signin_link_expired")
            : ("This sign-in link has already been used, or is not a link this server issued. Each link signs in once.", "signin_link_used");
        await CallbackPage.WriteHtmlAsync(context.Response, "Sign-in link not valid", message + " Run `valet dashboard` for a new one.", false, code,
            "<p><a href=\"/signin\">Sign in with a token instead</a></p>");
    }

    private static async Task ConnectAuthorizeAsync(HttpContext context, string? flow, IFlowStore flows, FlowEngine engine,
        ConnectStarter starter, TimeProvider time)
    {
        CallbackPage.ApplySecurityHeaders(context.Response);
        var session = await OperatorSessions.ReadAsync(context);
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

    /// <summary>
    /// Where to go after sign-in: <c>/me</c> when none is given, a plain same-origin path (<see cref="ReturnUrls.IsLocalPath"/>),
    /// or null for anything else, which is answered 400 rather than silently replaced: a link carrying it is broken or hostile.
    /// </summary>
    private static string? ReturnPath(string? value) =>
        string.IsNullOrEmpty(value) ? "/me" : ReturnUrls.IsLocalPath(value) ? value : null;

    /// <summary>400: the form's antiforgery token is missing or stale (the page was not ours, or is old).</summary>
    private static IResult FormExpired() =>
        Problems.BadRequest("antiforgery", "This form was not accepted: its anti-forgery token is missing or stale. Reload the page and try again.");

    private static IResult InvalidReturn() =>
        Problems.BadRequest("invalid_return_url", "return must be a plain path on this server: '/' then path and query characters only.");
}
