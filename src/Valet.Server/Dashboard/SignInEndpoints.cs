using Microsoft.AspNetCore.Antiforgery;
using Microsoft.AspNetCore.Authentication;
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
/// the single-use sign-in links, and the envelope's connect link (<see cref="ConnectLinkEndpoints"/>).
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
        routes.MapGet("/signin", SignInPageAsync).AllowAnonymous().ExcludeFromDescription();
        routes.MapPost("/signin", SignInAsync).AllowAnonymous().DisableAntiforgery().ExcludeFromDescription();
        routes.MapPost("/signout", SignOutAsync).AllowAnonymous().DisableAntiforgery().ExcludeFromDescription();
        routes.MapGet("/me", async (HttpContext context) =>
                await OperatorSessions.ReadAsync(context) is { } session
                    ? Results.Ok(new MeResponse(session.OrgId, session.Operator, session.Provider, session.AccountLogin, session.BaseUrl, session.Since))
                    : Problems.Unauthorized("No dashboard session: sign in at /signin."))
            .AllowAnonymous().WithTags("Dashboard").WithName("GetSession").WithSummary("The dashboard session: org, operator, since, and the provider account when signed in through one").Produces<MeResponse>().ProducesProblemCodes(StatusCodes.Status401Unauthorized, "unauthorized");
        routes.MapProviderSignIn();
        routes.MapGet(SignInLinks.Path + "{token}", UseLinkAsync).AllowAnonymous().ExcludeFromDescription();
        routes.MapConnectLink();
    }

    private static async Task<IResult> SignInPageAsync(HttpContext context, string? @return, string? org, string? done)
    {
        if (ReturnPath(@return) is not { } returnPath)
        {
            return await RefuseAsync(context, StatusCodes.Status400BadRequest, "invalid_return_url", InvalidReturnDetail, null, org,
                "This sign-in link names a page to return to that is not a plain page of this server, so it was not used. Sign in below to open the dashboard.");
        }

        await SignInPage.WriteAsync(context, returnPath, org, ok: done == "signed_out" ? "You are signed out." : null);
        return Results.Empty;
    }

    private static async Task<IResult> SignInAsync(HttpContext context, OperatorTokens tokens, IOrgStore orgs, OperatorSessions sessions,
        IAntiforgery antiforgery)
    {
        if (!context.Request.HasFormContentType)
        {
            return await RefuseAsync(context, StatusCodes.Status400BadRequest, "invalid_request", "Expected a form post.", null, null,
                "This was not a sign-in form. Sign in below.");
        }

        if (await ReadFormOrNullAsync(context) is not { } form)
        {
            return await RefuseAsync(context, StatusCodes.Status400BadRequest, "invalid_request",
                "The form body could not be read (malformed, or containing forbidden characters).", null, null,
                "The sign-in form could not be read (it held characters a form cannot carry). Nothing was signed in: enter the token again.");
        }

        // Login CSRF: a sign-in posted from another site would sign the person in as the attacker's operator.
        var returnPath = ReturnPath(form["return"].ToString());
        var org = form["org"].ToString();
        if (!await antiforgery.IsRequestValidAsync(context))
        {
            return await RefuseAsync(context, StatusCodes.Status400BadRequest, "antiforgery", FormExpiredDetail, returnPath, org,
                "This sign-in form has expired or did not come from this server, so nothing was signed in. Enter the token again.");
        }

        if (returnPath is null)
        {
            return await RefuseAsync(context, StatusCodes.Status400BadRequest, "invalid_return_url", InvalidReturnDetail, null, org,
                "The page to return to after signing in is not a plain page of this server, so nothing was signed in. Sign in again to open the dashboard.");
        }

        var orgId = org.Trim();
        var tokenKind = tokens.KindOf(form["token"].ToString());
        if (tokenKind is null || orgId.Length is 0 or > 64 || await orgs.FindAsync(orgId, context.RequestAborted) is null)
        {
            // A 401 on this route counts toward the address's lockout (RateLimits), as a page or as a problem.
            return await RefuseAsync(context, StatusCodes.Status401Unauthorized, "invalid_credentials", "The token or the org is not right.", returnPath,
                org, "The token or the org is not right.");
        }

        await sessions.SignInAsync(context, orgId, tokenKind);
        return Results.Redirect(returnPath);
    }

    private static async Task<IResult> SignOutAsync(HttpContext context, OperatorSessions sessions, IAntiforgery antiforgery)
    {
        // The form's token is bound to the session's user (as on every dashboard page): authenticate it first.
        var session = await context.AuthenticateAsync(ValetClaims.SessionScheme);
        if (session.Succeeded)
        {
            context.User = session.Principal;
        }

        if (!await IsValidFormAsync(context, antiforgery))
        {
            if (!PlainPage.WantsHtml(context.Request))
            {
                return Problems.BadRequest("antiforgery", FormExpiredDetail);
            }

            context.Response.StatusCode = StatusCodes.Status400BadRequest;
            PlainPage.ApplySecurityHeaders(context.Response);
            await CallbackPage.WriteHtmlAsync(context.Response, "Not signed out",
                "This sign-out form has expired or did not come from this server, so you are still signed in. Reload the page and sign out again.",
                false, "antiforgery", "<p><a href=\"/\">Back to the dashboard</a></p>");
            return Results.Empty;
        }

        await sessions.SignOutAsync(context);
        return Results.Redirect("/signin?done=signed_out");
    }

    /// <summary>
    /// A form post whose antiforgery token is valid; false for anything else that is not such a post. A body that says it
    /// is a form and cannot be read as one is the caller's error, answered 400 <c>invalid_request</c> (ErrorHandling maps
    /// the <see cref="InvalidDataException"/>), never a 500.
    /// </summary>
    internal static async Task<bool> IsValidFormAsync(HttpContext context, IAntiforgery antiforgery)
    {
        if (!context.Request.HasFormContentType)
        {
            return false;
        }

        if (await ReadFormOrNullAsync(context) is null)
        {
            throw new InvalidDataException("The form body could not be read.");
        }

        try
        {
            return await antiforgery.IsRequestValidAsync(context);
        }
        catch (AntiforgeryValidationException)
        {
            return false;
        }
    }

    /// <summary>
    /// The request's form, or null when the body is not a readable one: malformed urlencoded or multipart (Kestrel's
    /// reader throws <see cref="InvalidDataException"/> or <see cref="IOException"/>), a value that decodes to NUL, more
    /// fields than allowed. A body over the size limit still reaches ErrorHandling (413), and a client gone stays gone.
    /// </summary>
    internal static async Task<IFormCollection?> ReadFormOrNullAsync(HttpContext context)
    {
        try
        {
            return await context.Request.ReadFormAsync(context.RequestAborted);
        }
        catch (Exception error) when (error is InvalidDataException or IOException
            && error is not BadHttpRequestException { StatusCode: StatusCodes.Status413PayloadTooLarge }
            && !context.RequestAborted.IsCancellationRequested)
        {
            return null;
        }
    }

    /// <summary>
    /// A refused sign-in: for a browser the sign-in page again, with the reason in words and the same status; for an API
    /// client (<c>Accept: application/json</c>, or no text/html) problem+json with a stable code. Never the token back.
    /// </summary>
    private static async Task<IResult> RefuseAsync(HttpContext context, int status, string code, string detail, string? returnPath, string? org,
        string message)
    {
        if (!PlainPage.WantsHtml(context.Request))
        {
            return Problems.Create(status, code, status == StatusCodes.Status401Unauthorized ? "Unauthorized" : "Bad request", detail);
        }

        await SignInPage.WriteAsync(context, returnPath ?? "/", org, error: message, status: status);
        return Results.Empty;
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
        await CallbackPage.WriteHtmlAsync(context.Response, "Sign-in link not valid", message + " Run “valet dashboard” for a new one.", false, code,
            "<p><a href=\"/signin\">Sign in with a token instead</a></p>");
    }

    /// <summary>
    /// Where to go after sign-in: the dashboard (<c>/</c>) when none is given, a plain same-origin path
    /// (<see cref="ReturnUrls.IsLocalPath"/>), or null for anything else, which is refused (400) rather than silently
    /// replaced: a link carrying it is broken or hostile.
    /// </summary>
    private static string? ReturnPath(string? value) =>
        string.IsNullOrEmpty(value) ? "/" : ReturnUrls.IsLocalPath(value) ? value : null;

    private const string FormExpiredDetail = "This form was not accepted: its anti-forgery token is missing or stale. Reload the page and try again.";

    private const string InvalidReturnDetail = "return must be a plain path on this server: '/' then path and query characters only.";
}
