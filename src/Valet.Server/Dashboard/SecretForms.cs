using Microsoft.AspNetCore.Http;
using Valet.Core.Providers;
using Valet.Server.Http;
using static Valet.Server.Dashboard.Html;

namespace Valet.Server.Dashboard;

/// <summary>
/// The fields of the static-secret forms (Integrations' <b>Add secret</b>, the connection page's <b>Rotate secret</b>):
/// what <c>POST /v1/orgs/{org}/connections</c> and <c>PUT /v1/connections/{id}/secret</c> take — an API key, or a username
/// and password for HTTP Basic. Secret inputs are <c>type=password</c>, never prefilled and never given a
/// <c>maxlength</c> (a browser silently truncates a pasted value to it; the server says when a secret is too long).
/// </summary>
internal static class SecretForms
{
    public static string KindName(ProviderDefinition provider) =>
        provider.AuthMode == AuthMode.Basic ? provider.SecretLabels?.Brief.ToLowerInvariant() ?? "username and password" : "API key";

    /// <summary>The chip on a static-secret card: what the provider calls its secret, short ("Email and API token").</summary>
    public static string KindChip(ProviderDefinition provider) =>
        provider.AuthMode == AuthMode.Basic ? provider.SecretLabels?.Brief ?? "Username and password" : "API key";

    /// <summary>A link to the provider's page on where its secret comes from, when the catalog has one.</summary>
    public static string DocsLink(ProviderDefinition provider) => provider.DocsUrl is { } url
        ? $"""<p class="muted hint"><a href="{E(url)}" rel="noopener noreferrer" target="_blank">Where to find it at {E(provider.DisplayName)}</a></p>"""
        : string.Empty;

    /// <summary>The secret inputs, with ids under <paramref name="prefix"/> (unique on the page).</summary>
    public static string Fields(ProviderDefinition provider, string prefix) => provider.AuthMode == AuthMode.Basic
        ? $"""
            <div class="field"><label for="{E(prefix)}-username">{E(provider.SecretLabels?.Username ?? "Username")}</label><input type="text" id="{E(prefix)}-username" name="username" required autocomplete="off" spellcheck="false" autocapitalize="off"></div>
            <div class="field"><label for="{E(prefix)}-password">{E(provider.SecretLabels?.Password ?? "Password")}</label><input type="password" id="{E(prefix)}-password" name="password" required autocomplete="new-password"></div>
            """
        : $"""
            <div class="field"><label for="{E(prefix)}-key">API key</label><input type="password" id="{E(prefix)}-key" name="api_key" required autocomplete="new-password" spellcheck="false"></div>
            """;

    /// <summary>The form's secret as the API's request members: only the provider's kind, absent members null.</summary>
    public static (string? ApiKey, string? Username, string? Password) Read(ProviderDefinition provider, IFormCollection form) =>
        provider.AuthMode == AuthMode.Basic
            ? (null, form["username"].ToString(), form["password"].ToString())
            : (form["api_key"].ToString(), null, null);

    /// <summary>The API's field problems in the form's words ("API key is required"): never a value, only what is wrong with it.</summary>
    public static IEnumerable<string> Messages(Validation validation) => validation.Messages.Select(message =>
    {
        foreach (var (field, label) in Labels)
        {
            if (message.StartsWith(field + " ", StringComparison.Ordinal))
            {
                return label + message[field.Length..];
            }
        }

        return message;
    });

    private static readonly (string Field, string Label)[] Labels =
    [
        ("api_key", "API key"), ("username", "Username"), ("password", "Password"), ("api_base_url", "Site"),
        ("account.id", "Account name"), ("account.login", "Account name"), ("provider", "Provider"), ("connection", "Connection"),
    ];
}
