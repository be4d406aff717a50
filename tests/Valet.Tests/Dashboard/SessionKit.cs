using System.Net;
using Valet.Tests.Infrastructure;

namespace Valet.Tests.Dashboard;

/// <summary>A browser reduced to what session tests need: cookies handled by hand, so a test can replay an old one.</summary>
internal static class SessionKit
{
    public static HttpClient Client(Uri baseUrl) =>
        new(new HttpClientHandler { AllowAutoRedirect = false, UseCookies = false }) { BaseAddress = baseUrl };

    public static async Task<HttpResponseMessage> SignInAsync(HttpClient client, string token = ValetTestServer.AdminToken, string org = "default",
        string? returnPath = null, IDictionary<string, string>? headers = null)
    {
        var form = new Dictionary<string, string> { ["token"] = token, ["org"] = org };
        if (returnPath is not null)
        {
            form["return"] = returnPath;
        }

        // As a browser: the form's antiforgery token and its cookie come from the sign-in page.
        var (field, afToken, antiforgeryCookie) = await AntiforgeryAsync(client, "/signin", null);
        form[field] = afToken;
        using var request = new HttpRequestMessage(HttpMethod.Post, "/signin") { Content = new FormUrlEncodedContent(form) };
        request.Headers.Add("Cookie", antiforgeryCookie);
        foreach (var (name, value) in headers ?? new Dictionary<string, string>())
        {
            request.Headers.TryAddWithoutValidation(name, value);
        }

        return await client.SendAsync(request);
    }

    /// <summary>Signs out with the session <paramref name="cookie"/>, posting the form of a dashboard page with its token.</summary>
    public static async Task<HttpResponseMessage> SignOutAsync(HttpClient client, string cookie)
    {
        var (field, value, antiforgeryCookie) = await AntiforgeryAsync(client, "/", cookie);
        using var request = new HttpRequestMessage(HttpMethod.Post, "/signout")
        {
            Content = new FormUrlEncodedContent(new Dictionary<string, string> { [field] = value }),
        };
        request.Headers.Add("Cookie", cookie + "; " + antiforgeryCookie);
        return await client.SendAsync(request);
    }

    /// <summary>The antiforgery field (name, value) of <paramref name="page"/> and the cookie half it set (<c>name=value</c>).</summary>
    public static async Task<(string Field, string Token, string Cookie)> AntiforgeryAsync(HttpClient client, string page, string? cookie = null)
    {
        using var request = new HttpRequestMessage(HttpMethod.Get, page);
        if (cookie is not null)
        {
            request.Headers.Add("Cookie", cookie);
        }

        using var response = await client.SendAsync(request);
        var html = await response.Content.ReadAsStringAsync();
        var match = System.Text.RegularExpressions.Regex.Match(html, "<input type=\"hidden\" name=\"(?<name>__valet_af)\" value=\"(?<value>[^\"]*)\"");
        Assert.True(match.Success, $"no antiforgery field on {page} ({(int)response.StatusCode})");
        var set = (response.Headers.TryGetValues("Set-Cookie", out var values) ? values : []).First(v => v.Contains("valet_af=", StringComparison.Ordinal));
        return (match.Groups["name"].Value, WebUtility.HtmlDecode(match.Groups["value"].Value), set.Split(';')[0]);
    }

    /// <summary>The session's Set-Cookie header (the whole line, with its attributes).</summary>
    public static string SetCookie(HttpResponseMessage response) =>
        Assert.Single(response.Headers.TryGetValues("Set-Cookie", out var values) ? values : [], v => v.Contains("valet_session=", StringComparison.Ordinal));

    public static string? SetCookieOrNull(HttpResponseMessage response) =>
        (response.Headers.TryGetValues("Set-Cookie", out var values) ? values : []).FirstOrDefault(v =>
            v.Contains("valet_session=", StringComparison.Ordinal) && !v.Contains("expires=Thu, 01 Jan 1970", StringComparison.OrdinalIgnoreCase));

    /// <summary>Signs in and returns the cookie as a browser would send it back (<c>name=value</c>).</summary>
    public static async Task<string> SessionCookieAsync(HttpClient client, string token = ValetTestServer.AdminToken, string org = "default")
    {
        using var response = await SignInAsync(client, token, org);
        Assert.Equal(HttpStatusCode.Redirect, response.StatusCode);
        return SetCookie(response).Split(';')[0];
    }

    public static async Task<HttpResponseMessage> SendAsync(HttpClient client, HttpMethod method, string path, string cookie)
    {
        using var request = new HttpRequestMessage(method, path);
        request.Headers.Add("Cookie", cookie);
        return await client.SendAsync(request);
    }

    public static async Task<HttpStatusCode> MeAsync(HttpClient client, string cookie)
    {
        using var response = await SendAsync(client, HttpMethod.Get, "/me", cookie);
        return response.StatusCode;
    }
}
