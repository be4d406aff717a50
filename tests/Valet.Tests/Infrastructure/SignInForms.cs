using System.Net;
using System.Text;
using System.Text.RegularExpressions;

namespace Valet.Tests.Infrastructure;

/// <summary>
/// Posts the sign-in and sign-out forms as a browser does: with the antiforgery token of the page that shows them
/// (<c>GET /signin</c>, or a dashboard page for sign-out). The client must keep cookies (the token's cookie half).
/// </summary>
internal static partial class SignInForms
{
    public static Task<HttpResponseMessage> SignInAsync(HttpClient client, IDictionary<string, string> fields) =>
        PostAsync(client, "/signin", "/signin", fields);

    public static Task<HttpResponseMessage> SignOutAsync(HttpClient client) =>
        PostAsync(client, "/", "/signout", new Dictionary<string, string>());

    /// <summary>Posts the sign-in form of a page already in hand (e.g. the form drawn again after a refusal), with its hidden fields.</summary>
    public static async Task<HttpResponseMessage> SignInFromHtmlAsync(HttpClient client, string html, IDictionary<string, string> fields)
    {
        var form = html[html.IndexOf("id=\"signin-form\"", StringComparison.Ordinal)..];
        var body = new Dictionary<string, string>(fields);
        foreach (Match hidden in HiddenField().Matches(form[..form.IndexOf("</form>", StringComparison.Ordinal)]))
        {
            body[hidden.Groups["name"].Value] = WebUtility.HtmlDecode(hidden.Groups["value"].Value);
        }

        return await client.PostAsync("/signin", new FormUrlEncodedContent(body));
    }

    private static async Task<HttpResponseMessage> PostAsync(HttpClient client, string page, string action, IDictionary<string, string> fields)
    {
        var html = await client.GetStringAsync(page);
        var token = TokenField().Match(html);
        var body = new Dictionary<string, string>(fields);
        if (token.Success)
        {
            body[token.Groups["name"].Value] = WebUtility.HtmlDecode(token.Groups["value"].Value);
        }
        else if (page == "/signin")
        {
            // The sign-in page always carries the form: without its token a "refused" answer could be antiforgery's.
            throw new InvalidOperationException("GET /signin drew no antiforgery field: " + html[..Math.Min(html.Length, 300)]);
        }

        return await client.PostAsync(action, new FormUrlEncodedContent(body));
    }

    [GeneratedRegex("<input type=\"hidden\" name=\"(?<name>__valet_af|__RequestVerificationToken)\" value=\"(?<value>[^\"]*)\"")]
    private static partial Regex TokenField();

    [GeneratedRegex("<input type=\"hidden\" name=\"(?<name>[^\"]+)\" value=\"(?<value>[^\"]*)\"")]
    private static partial Regex HiddenField();
}
