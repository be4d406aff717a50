using System.Security.Claims;
using Microsoft.AspNetCore.Antiforgery;
using Microsoft.AspNetCore.Authentication;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using Valet.Core.Domain;
using Valet.Core.Stores;
using Valet.Server.Auth;
using static Valet.Server.Dashboard.Html;

namespace Valet.Server.Dashboard;

/// <summary>
/// One dashboard request of a signed-in operator: the session's principal (also set as <see cref="HttpContext.User"/>, so
/// antiforgery tokens are bound to the session), the org it works on, the orgs it may switch to, and the page layout.
/// </summary>
internal sealed class DashboardPage
{
    private DashboardPage(HttpContext context, ClaimsPrincipal user, Org org, IReadOnlyList<Org> orgs, string tokenKind)
    {
        Context = context;
        User = user;
        Org = org;
        Orgs = orgs;
        TokenKind = tokenKind;
    }

    public HttpContext Context { get; }

    /// <summary>The session principal: an operator of <see cref="Org"/> only, so the API's <c>CanOperate</c> checks apply as they are.</summary>
    public ClaimsPrincipal User { get; }

    public Org Org { get; private set; }

    public IReadOnlyList<Org> Orgs { get; }

    public string TokenKind { get; }

    public CancellationToken Aborted => Context.RequestAborted;

    public T Service<T>() where T : notnull => Context.RequestServices.GetRequiredService<T>();

    /// <summary>The hidden antiforgery field every dashboard form carries.</summary>
    /// <summary>
    /// The redirect URI to register with a provider for Connect and connect links: <c>{VALET_PUBLIC_URL}/oauth/callback</c>
    /// (else under the listening address), never from the request's Host. The CLI's loopback flows use their own.
    /// </summary>
    public string CallbackUrl => Context.RequestServices.GetRequiredService<Flows.ConnectStarter>().GatewayRedirectUri;

    /// <summary>The callback URL as the pages show it: in code, with a Copy button (script only enhances).</summary>
    public string CallbackUrlHtml(string id) =>
        $"""<code id="{E(id)}">{E(CallbackUrl)}</code> <button type="button" class="link" data-copy="{E(id)}" hidden>Copy</button>""";

    public string Antiforgery
    {
        get
        {
            var tokens = Service<IAntiforgery>().GetAndStoreTokens(Context);
            return $"<input type=\"hidden\" name=\"{E(tokens.FormFieldName)}\" value=\"{E(tokens.RequestToken)}\">";
        }
    }

    public void Refresh(Org org) => Org = org;

    /// <summary>The signed-in operator's page context, or null without a valid session (the caller sends them to sign in).</summary>
    public static async Task<DashboardPage?> OpenAsync(HttpContext context)
    {
        var result = await context.AuthenticateAsync(ValetClaims.SessionScheme);
        if (!result.Succeeded || result.Principal.OrgId() is not { } orgId)
        {
            return null;
        }

        context.User = result.Principal;
        var orgs = context.RequestServices.GetRequiredService<IOrgStore>();
        var org = await orgs.FindAsync(orgId, context.RequestAborted);
        if (org is null)
        {
            return null;
        }

        // The admin token, and locally the service token, operate every org: all of them are offered in the switcher. An
        // operator signed in through a provider operates the org it signed in to, and only that one.
        var kind = result.Principal.FindFirstValue(ValetClaims.TokenKindClaim) ?? OperatorTokens.AdminKind;
        var all = new List<Org>();
        if (kind == OperatorTokens.ProviderKind)
        {
            all.Add(org);
        }
        else
        {
            await foreach (var each in orgs.ListAsync(context.RequestAborted))
            {
                all.Add(each);
            }
        }

        return new DashboardPage(context, result.Principal, org, all, kind);
    }

    /// <summary>A 303 to a dashboard path after a successful post, with a result code the page turns into a message.</summary>
    public static IResult Done(string path, string code) =>
        Results.Redirect(path + (path.Contains('?', StringComparison.Ordinal) ? "&" : "?") + "done=" + U(code));

    public IResult Render(string title, string nav, string body, IEnumerable<string>? errors = null, string? ok = null,
        int status = StatusCodes.Status200OK)
    {
        ok ??= DoneMessages.For(Context.Request.Query["done"].ToString());
        var html = $"""
            <!doctype html>
            <html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
            <meta name="referrer" content="no-referrer"><title>{E(title)} · Valet</title>
            <link rel="icon" href="data:,"><link rel="stylesheet" href="/dashboard.css"><script src="/dashboard.js" defer></script></head>
            <body><a class="skip" href="#main">Skip to content</a>
            <header class="top"><div class="top-inner"><a class="brand" href="/">Valet</a>
            <nav class="nav" aria-label="Main">{NavLink("/", "Integrations", nav)}{NavLink("/keys", "Keys", nav)}{NavLink("/settings", "Settings", nav)}{NavLink("/audit", "Audit", nav)}</nav>
            <div class="session">{OrgSwitcher()}
            <form method="post" action="/signout">{Antiforgery}<button type="submit" class="link" id="signout">Sign out</button></form></div>
            </div></header>
            <main id="main"><h1>{E(title)}</h1>{Flash(ok, errors)}{body}</main>
            <footer>Signed in as {E(OperatorLabel())} · org <span class="mono">{E(Org.Id)}</span></footer>
            </body></html>
            """;
        return new PageResult(html, status);
    }

    private static string NavLink(string href, string label, string current) =>
        $"<a href=\"{href}\"{(href == current ? " aria-current=\"page\"" : string.Empty)}>{label}</a>";

    /// <summary>Who is signed in: the operator the session names (a provider login, "admin", "local"), and through which provider.</summary>
    private string OperatorLabel()
    {
        var name = User.FindFirstValue(ValetClaims.OperatorClaim) ?? OperatorSessions.OperatorName(TokenKind);
        return User.FindFirstValue(ValetClaims.ProviderClaim) is { Length: > 0 } provider ? $"{name} (via {provider})" : name;
    }

    /// <summary>The org switcher, when there is another org to switch to (a provider session has only its own).</summary>
    private string OrgSwitcher()
    {
        if (Orgs.Count <= 1)
        {
            return string.Empty;
        }

        var here = Context.Request.Path.Value ?? "/";
        var options = Join(Orgs, o => $"<option value=\"{E(o.Id)}\"{(o.Id == Org.Id ? " selected" : string.Empty)}>{E(o.Name)} ({E(o.Id)})</option>");
        return $"""
            <form method="post" action="/dashboard/org">{Antiforgery}<input type="hidden" name="return" value="{E(here)}">
            <label for="org-select">Org</label><select id="org-select" name="org">{options}</select>
            <button type="submit">Switch</button></form>
            """;
    }

    /// <summary>Writes a page with the dashboard's security headers (<see cref="DashboardSecurity"/>).</summary>
    private sealed class PageResult(string html, int status) : IResult
    {
        public Task ExecuteAsync(HttpContext httpContext)
        {
            httpContext.Response.StatusCode = status;
            httpContext.Response.ContentType = "text/html; charset=utf-8";
            DashboardSecurity.Apply(httpContext);
            return httpContext.Response.WriteAsync(html, httpContext.RequestAborted);
        }
    }
}

/// <summary>Fixed messages for <c>?done=</c>: a code in the URL, never text a link could inject.</summary>
internal static class DoneMessages
{
    public static string? For(string code) => code switch
    {
        "disconnected" => "Disconnected. The tokens and managed targets are deleted.",
        "revoked" => "Key revoked. Agents using it are refused from now on.",
        "access_saved" => "Access saved.",
        "headless_saved" => "Headless setting saved.",
        "credential_added" => "Client registered. Its secret is stored encrypted and never shown again.",
        "default_saved" => "Default connection saved.",
        "org_switched" => "Switched org.",
        "secret_added" => "Secret stored. It is encrypted and never shown again; agents with access use it through the proxy.",
        "secret_replaced" => "Secret replaced: this account already had one, and it now holds the new one (same connection).",
        "secret_rotated" => "Secret rotated: the connection keeps its id and sends the new secret from now on.",
        _ => null,
    };
}
