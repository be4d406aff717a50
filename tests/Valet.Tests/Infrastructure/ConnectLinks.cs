using System.Net;
using System.Text.RegularExpressions;

namespace Valet.Tests.Infrastructure;

/// <summary>
/// Follows an envelope's connect link as a signed-in person's browser does: the link's page (what is about to be connected),
/// then its Continue form, posted with the page's antiforgery token. The client must keep cookies and not follow redirects;
/// the answer is the POST's (a redirect to the provider, or a refusal page).
/// </summary>
internal static partial class ConnectLinks
{
    public static async Task<HttpResponseMessage> ContinueAsync(HttpClient person, Uri connectUrl)
    {
        using var page = await person.GetAsync(connectUrl);
        var html = await page.Content.ReadAsStringAsync();
        Assert.True(page.StatusCode == HttpStatusCode.OK, $"the connect link's page: {(int)page.StatusCode} {html}");
        var start = html.IndexOf("id=\"connect-form\"", StringComparison.Ordinal);
        Assert.True(start >= 0, "no Continue form on the connect link's page: " + html);
        var form = html[start..html.IndexOf("</form>", start, StringComparison.Ordinal)];
        var fields = HiddenField().Matches(form).ToDictionary(m => m.Groups["name"].Value, m => WebUtility.HtmlDecode(m.Groups["value"].Value));
        return await person.PostAsync(new Uri(connectUrl, "/connect-authorize"), new FormUrlEncodedContent(fields));
    }

    [GeneratedRegex("<input type=\"hidden\" name=\"(?<name>[^\"]+)\" value=\"(?<value>[^\"]*)\"")]
    private static partial Regex HiddenField();
}
