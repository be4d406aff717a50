using Microsoft.AspNetCore.Antiforgery;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;
using Microsoft.Extensions.DependencyInjection;
using Valet.Server.Auth;
using Valet.Server.Flows;
using Valet.Server.Hosting;
using static Valet.Server.Dashboard.Html;

namespace Valet.Server.Dashboard;

/// <summary>
/// The operator dashboard (SPEC §10): server-rendered pages over the same stores and services as the operator API. Every
/// page needs a dashboard session (else a redirect to <c>/signin?return=…</c>); every post carries an antiforgery token.
/// </summary>
internal static class DashboardEndpoints
{
    public const string AntiforgeryField = "__valet_af";

    /// <summary><c>/dashboard.css</c>: also served by the loopback callback listener, whose result page uses it.</summary>
    public static readonly RequestDelegate Stylesheet = Asset("dashboard.css", "text/css; charset=utf-8");

    private static readonly RequestDelegate Script = Asset("dashboard.js", "text/javascript; charset=utf-8");

    public static IServiceCollection AddValetDashboard(this IServiceCollection services, ValetSettings settings)
    {
        services.AddAntiforgery(options =>
        {
            options.FormFieldName = AntiforgeryField;
            // Not __Host-/Always even behind an https public URL: ASP.NET Core's antiforgery throws (a 500 on every page)
            // when SecurePolicy is Always and the request reached Valet over http — the usual case behind a TLS proxy
            // that is not listed in VALET_TRUSTED_PROXIES. The token is also bound to the session's user; the session
            // cookie itself keeps __Host- and Secure (docs/decisions.md).
            options.Cookie.Name = "valet_af";
            options.Cookie.SecurePolicy = CookieSecurePolicy.SameAsRequest;
            options.Cookie.SameSite = SameSiteMode.Strict;
            options.Cookie.Path = "/";
            options.SuppressXFrameOptionsHeader = true; // DashboardSecurity sends DENY itself.
        });
        services.AddSingleton<DashboardSecurity>();
        services.AddSingleton<SignInLinks>();
        return services;
    }

    public static void MapDashboard(this IEndpointRouteBuilder routes)
    {
        var group = routes.MapGroup(string.Empty).AllowAnonymous().ExcludeFromDescription();
        group.MapGet("/dashboard.css", Stylesheet);
        group.MapGet("/dashboard.js", Script);
        group.MapPost("/dashboard/org", Post(SwitchOrgAsync));

        group.MapGet("/", Get(IntegrationsPage.RenderAsync));
        group.MapPost("/integrations/connect", Post(IntegrationsPage.ConnectAsync));
        group.MapPost("/integrations/secret", Post(IntegrationsPage.AddSecretAsync));
        group.MapGet("/connections/{id}", Get(ConnectionPage.RenderAsync));
        group.MapGet("/connections/{id}/disconnect", Get(ConnectionPage.ConfirmDisconnectAsync));
        group.MapPost("/connections/{id}/disconnect", Post(ConnectionPage.DisconnectAsync));
        group.MapPost("/connections/{id}/secret", Post(ConnectionPage.RotateAsync));
        group.MapGet("/keys", Get(KeysPage.RenderAsync));
        group.MapPost("/keys", Post(KeysPage.CreateAsync));
        group.MapPost("/keys/{id}/revoke", Post(KeysPage.RevokeAsync));
        group.MapGet("/keys/{id}/access", Get(KeysPage.AccessPageAsync));
        group.MapPost("/keys/{id}/access", Post(KeysPage.SaveAccessAsync));
        group.MapGet("/settings", Get(SettingsPage.RenderAsync));
        group.MapPost("/settings/headless", Post(SettingsPage.HeadlessAsync));
        group.MapPost("/settings/credentials", Post(SettingsPage.AddCredentialAsync));
        group.MapPost("/settings/defaults", Post(SettingsPage.DefaultAsync));
        group.MapGet("/audit", Get(AuditPage.RenderAsync));
    }

    /// <summary>A page: with a session it renders; without one, sign in first and come back here.</summary>
    private static RequestDelegate Get(Func<DashboardPage, Task<IResult>> handler) => async context =>
    {
        var page = await DashboardPage.OpenAsync(context);
        if (page is null)
        {
            var here = context.Request.Path + context.Request.QueryString;
            var back = ReturnUrls.IsLocalPath(here) ? here : "/";
            context.Response.Headers.CacheControl = "no-store";
            context.Response.Redirect("/signin?return=" + U(back));
            return;
        }

        await (await handler(page)).ExecuteAsync(context);
    };

    /// <summary>A form post: a session and a valid antiforgery token, or nothing happens.</summary>
    private static RequestDelegate Post(Func<DashboardPage, IFormCollection, Task<IResult>> handler) => async context =>
    {
        var page = await DashboardPage.OpenAsync(context);
        if (page is null)
        {
            context.Response.Headers.CacheControl = "no-store";
            context.Response.Redirect("/signin?return=/");
            return;
        }

        if (!await SignInEndpoints.IsValidFormAsync(context, context.RequestServices.GetRequiredService<IAntiforgery>()))
        {
            await page.Render("Form expired", string.Empty,
                "<p>This form was not accepted (its anti-forgery token is missing or stale, or the form could not be read). Nothing was changed: go back, reload the page and try again.</p><p><a href=\"/\">Back to Integrations</a></p>",
                status: StatusCodes.Status400BadRequest).ExecuteAsync(context);
            return;
        }

        var form = await context.Request.ReadFormAsync(context.RequestAborted);
        await (await handler(page, form)).ExecuteAsync(context);
    };

    private static async Task<IResult> SwitchOrgAsync(DashboardPage page, IFormCollection form)
    {
        var target = form["org"].ToString();
        var back = form["return"].ToString();
        if (!page.Orgs.Any(o => o.Id == target))
        {
            return page.Render("Org not found", string.Empty, "<p><a href=\"/\">Back to Integrations</a></p>", ["No such org."],
                status: StatusCodes.Status404NotFound);
        }

        // An operator signed in through a provider has one org: nothing to switch (and its session keeps its provider).
        if (page.TokenKind == OperatorTokens.ProviderKind)
        {
            return DashboardPage.Done("/", "org_switched");
        }

        // A fresh session for the other org: the cookie names one org, as the API's per-org checks expect.
        await page.Service<OperatorSessions>().SignInAsync(page.Context, target, page.TokenKind);
        return DashboardPage.Done(back is "/keys" or "/settings" or "/audit" ? back : "/", "org_switched");
    }

    private static RequestDelegate Asset(string name, string contentType)
    {
        using var stream = typeof(DashboardEndpoints).Assembly.GetManifestResourceStream("Valet.Dashboard." + name)
            ?? throw new InvalidOperationException($"Embedded asset {name} is missing.");
        using var reader = new StreamReader(stream);
        var content = reader.ReadToEnd();
        return async context =>
        {
            context.Response.ContentType = contentType;
            context.Response.Headers.CacheControl = "no-cache";
            context.Response.Headers["X-Content-Type-Options"] = "nosniff";
            await context.Response.WriteAsync(content, context.RequestAborted);
        };
    }
}
