using Microsoft.AspNetCore.Antiforgery;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using Valet.Core.Domain;
using Valet.Core.Providers;
using static Valet.Server.Dashboard.Html;

namespace Valet.Server.Dashboard;

/// <summary>
/// <c>/signin</c>: a button per sign-in provider, then the token form; also drawn again, with the reason, when a sign-in
/// post is refused (a stale form, a wrong token), so a person always has the form in front of them.
/// </summary>
internal static class SignInPage
{
    public static async Task WriteAsync(HttpContext context, string returnPath, string? org, string? error = null, string? ok = null,
        int status = StatusCodes.Status200OK)
    {
        var services = context.RequestServices;
        var providerSignIn = services.GetRequiredService<ProviderSignIn>();
        var catalog = services.GetRequiredService<IProviderCatalog>();
        var response = context.Response;
        response.StatusCode = status;

        // Both forms post to Valet, which may redirect to a provider: "Sign in with" to its own, and the token form, when it
        // returns to an envelope's connect link, to the flow's provider. Browsers apply form-action to those redirects, so
        // every provider's authorization origin is listed (as on the dashboard's pages).
        PlainPage.ApplySecurityHeaders(response, DashboardSecurity.AuthorizationOrigins(catalog));
        var tokens = services.GetRequiredService<IAntiforgery>().GetAndStoreTokens(context);
        var af = $"<input type=\"hidden\" name=\"{E(tokens.FormFieldName)}\" value=\"{E(tokens.RequestToken)}\">";
        var orgValue = string.IsNullOrWhiteSpace(org) || org.Length > 64 ? Org.DefaultId : org.Trim();
        // The org a provider sign-in lands in comes from the link (?org=): it is named on the button and below, since signing
        // in also makes the person's account that org's default connection (SPEC §10), which its agents then use.
        string Label(string p) => (orgValue == Org.DefaultId ? "Sign in with " : $"Sign in to {orgValue} with ") + (catalog.Find(p)?.DisplayName ?? p);
        var providers = providerSignIn.Providers.Count == 0 ? string.Empty : $"""
            <div class="stack">{Join(providerSignIn.Providers, p => $"""
                <form method="post" action="/signin/provider">{af}<input type="hidden" name="return" value="{E(returnPath)}">
                <input type="hidden" name="org" value="{E(orgValue)}"><input type="hidden" name="provider" value="{E(p)}">
                <button type="submit" class="primary wide" id="signin-{E(p)}">{E(Label(p))}</button></form>
                """)}</div>
            <p class="muted hint" id="signin-provider-note">Signing in with a provider also connects that account to the org <strong>{E(orgValue)}</strong>
            as its default connection for the provider: agents of that org allowed the provider then act as you.</p>
            <p class="divider"><span>or with a token</span></p>
            """;
        var body = $"""
            <section class="card signin" aria-labelledby="signin-title">
            <h1 id="signin-title">Sign in to Valet</h1>
            <p class="lead" id="signin-why">{E(returnPath.StartsWith("/connect-authorize?", StringComparison.Ordinal)
                ? "An agent asked for an account to be connected. Sign in as an operator of its org; you then see what it asked for, and go on to the provider to consent."
                : "An operator of the org signs in to connect accounts and manage keys and settings.")}</p>
            {Flash(ok, error is null ? null : [error])}{providers}
            <form method="post" action="/signin" id="signin-form">{af}<input type="hidden" name="return" value="{E(returnPath)}">
            <div class="field"><label for="signin-org">Org</label><input type="text" id="signin-org" name="org" value="{E(orgValue)}" maxlength="64" autocomplete="off" spellcheck="false"></div>
            <div class="field"><label for="signin-token">Operator token</label><input type="password" id="signin-token" name="token" autocomplete="off" required></div>
            <button type="submit" class="primary wide" id="signin">Sign in</button></form>
            <p class="muted hint">Use the admin token (<code>VALET_ADMIN_TOKEN</code>), or locally the content of the <code>service-token</code> file in the data directory.
            Locally, <code>valet dashboard</code> opens the dashboard signed in.</p>
            </section>
            """;
        await PlainPage.WriteAsync(response, "Sign in", body);
    }
}
