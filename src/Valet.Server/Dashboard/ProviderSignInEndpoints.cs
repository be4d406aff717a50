using Microsoft.AspNetCore.Antiforgery;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;
using Microsoft.Extensions.DependencyInjection;
using Valet.Core.Domain;
using Valet.Core.Flows;
using Valet.Core.Providers;
using Valet.Core.Stores;
using Valet.Server.Auth;
using Valet.Server.Flows;
using Valet.Server.Hosting;
using Valet.Server.Http;

namespace Valet.Server.Dashboard;

/// <summary>
/// "Sign in with a provider": <c>POST /signin/provider</c> starts a gateway flow marked as a sign-in, and ties it to this
/// browser with a short-lived cookie holding the flow id, so a callback link forwarded to someone else (login CSRF) signs
/// nobody in. The gateway callback hands sign-in flows here: the engine has already checked the allow-list and stored the
/// connection as the org's default; this issues a fresh session for the operator.
/// </summary>
internal static class ProviderSignInEndpoints
{
    private const string BindingCookie = "valet_signin_flow";
    private const string BackToSignIn = "<p><a href=\"/signin\">Back to sign-in</a></p>";

    public static void MapProviderSignIn(this IEndpointRouteBuilder routes) =>
        routes.MapPost("/signin/provider", StartAsync).AllowAnonymous().DisableAntiforgery().ExcludeFromDescription();

    private static async Task StartAsync(HttpContext context, ProviderSignIn signIn, ConnectStarter starter, IAntiforgery antiforgery,
        FlowEngine engine, ValetSettings settings)
    {
        CallbackPage.ApplySecurityHeaders(context.Response);
        if (!await SignInEndpoints.IsValidFormAsync(context, antiforgery))
        {
            context.Response.StatusCode = StatusCodes.Status400BadRequest;
            await CallbackPage.WriteHtmlAsync(context.Response, "Form expired", "This form was not accepted: reload the sign-in page and try again.",
                false, "antiforgery", BackToSignIn);
            return;
        }

        var form = await context.Request.ReadFormAsync(context.RequestAborted);
        var provider = form["provider"].ToString();
        var returnPath = form["return"].ToString() is { Length: > 0 } r ? r : "/";
        var org = form["org"].ToString() is { Length: > 0 } o ? o.Trim() : Org.DefaultId;
        if (!signIn.Providers.Contains(provider, StringComparer.Ordinal) || !ReturnUrls.IsLocalPath(returnPath))
        {
            context.Response.StatusCode = StatusCodes.Status400BadRequest;
            await CallbackPage.WriteHtmlAsync(context.Response, "Cannot sign in", "This provider is not one you can sign in with here.", false, "invalid_request",
                BackToSignIn);
            return;
        }

        var (started, problem) = await starter.StartSignInAsync(org, provider, starter.OwnOrigin + returnPath, context.RequestAborted);
        if (started is null)
        {
            // Unknown org, no client, or too many pending flows: the page says which (the API's code), with the way back.
            var (status, code) = problem is ProblemResult refused ? (refused.StatusCode, refused.Code) : (StatusCodes.Status429TooManyRequests, "too_many_pending_flows");
            context.Response.StatusCode = status;
            await CallbackPage.WriteHtmlAsync(context.Response, "Cannot sign in", code switch
            {
                "org_not_found" => "There is no such org here. Check the org on the sign-in page.",
                "too_many_pending_flows" => "Too many sign-ins and connections are waiting for consent. Try again in a few minutes.",
                _ => "Signing in with this provider cannot start: it has no OAuth client configured.",
            }, false, code, BackToSignIn);
            return;
        }

        context.Response.Cookies.Append(BindingCookie, started.Flow.Id, new CookieOptions
        {
            HttpOnly = true,
            // Lax: the provider sends the browser back with a top-level GET from its own site.
            SameSite = SameSiteMode.Lax,
            Secure = settings.PublicUrlIsHttps || context.Request.IsHttps,
            Path = "/oauth/callback",
            MaxAge = engine.Lifetime,
        });
        context.Response.StatusCode = StatusCodes.Status303SeeOther;
        context.Response.Headers.Location = started.AuthorizationUrl.AbsoluteUri;
    }

    /// <summary>
    /// Before the code is spent: a sign-in flow's callback must come to the browser that started it. False (and a page
    /// written) when it does not; the flow is left untouched.
    /// </summary>
    public static async Task<bool> CheckBrowserAsync(HttpContext context, string? state)
    {
        if (string.IsNullOrEmpty(state) || state.Length > 512)
        {
            return true;
        }

        var services = context.RequestServices;
        var flow = await services.GetRequiredService<IFlowStore>().FindByStateAsync(Ids.Sha256Hex(state),
            services.GetRequiredService<TimeProvider>().GetUtcNow(), context.RequestAborted);
        if (flow is not { SignIn: true } || context.Request.Cookies[BindingCookie] == flow.Id)
        {
            return true;
        }

        CallbackPage.ApplySecurityHeaders(context.Response);
        context.Response.StatusCode = StatusCodes.Status400BadRequest;
        await CallbackPage.WriteHtmlAsync(context.Response, "Sign-in refused",
            "This sign-in was started in another browser. Start it again from the sign-in page.", false, "signin_other_browser", BackToSignIn);
        return false;
    }

    /// <summary>The end of a sign-in flow: a fresh session for the operator, or a page saying why not.</summary>
    public static async Task FinishAsync(HttpContext context, CallbackOutcome outcome)
    {
        var response = context.Response;
        CallbackPage.ApplySecurityHeaders(response);
        response.Cookies.Delete(BindingCookie, new CookieOptions { Path = "/oauth/callback" });
        if (!outcome.Success || outcome.Connection is not { } connection)
        {
            response.StatusCode = outcome.Error == FlowErrors.NotAnOperator ? StatusCodes.Status403Forbidden : StatusCodes.Status400BadRequest;
            var message = outcome.Error == FlowErrors.NotAnOperator
                ? "This account is not one of the dashboard's operators (VALET_DASHBOARD__OPERATORS). Nothing was stored."
                : "The provider did not complete the sign-in. Try again from the sign-in page.";
            await CallbackPage.WriteHtmlAsync(response, "Sign-in refused", message, false, outcome.Error ?? FlowErrors.AuthorizationFailed, BackToSignIn);
            return;
        }

        var provider = context.RequestServices.GetRequiredService<IProviderCatalog>().Find(connection.Provider);
        var login = connection.AccountLogin ?? connection.AccountEmail ?? connection.AccountId;
        await context.RequestServices.GetRequiredService<OperatorSessions>().SignInAsync(context, connection.OrgId, OperatorTokens.ProviderKind,
            new ProviderSignInIdentity(connection.Provider, login, connection.AccountLogin ?? connection.AccountEmail,
                connection.ApiBaseUrl ?? (provider is { ApiBaseUrls.Count: > 0 } ? provider.ApiBaseUrls[0] : null)));
        response.StatusCode = StatusCodes.Status303SeeOther;
        response.Headers.Location = outcome.Flow?.ReturnUrl ?? "/";
    }
}
