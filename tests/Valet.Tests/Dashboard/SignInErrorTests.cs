using System.Net;
using System.Net.Http.Json;
using System.Text;
using System.Text.Json;
using Valet.Tests.Infrastructure;

namespace Valet.Tests.Dashboard;

/// <summary>
/// A refused sign-in or sign-out answers a browser with a page (the sign-in form again, with the reason in words and the
/// same status) and an API client that asks for JSON with problem+json and a stable code. Either way nothing changes.
/// </summary>
public sealed class SignInErrorTests : IAsyncLifetime
{
    private const string BrowserAccept = "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8";
    private ValetTestServer _server = null!;

    public async Task InitializeAsync() => _server = await ValetTestServer.StartAsync();

    public async Task DisposeAsync() => await _server.DisposeAsync();

    public static TheoryData<string, string, int, string, string> Refusals => new()
    {
        // case, form body (token field placed by the test), status, problem code, words on the page
        { "forged", "org=default&return=%2Fkeys", 400, "antiforgery", "has expired or did not come from this server" },
        { "undecodable", "org=default&return=%2Fkeys&x=a%00b", 400, "invalid_request", "could not be read" },
        { "wrong token", "org=default&return=%2Fkeys", 401, "invalid_credentials", "The token or the org is not right." },
        { "bad return", "org=default&return=%2F%2Fevil.example%2F", 400, "invalid_return_url", "not a plain page of this server" },
    };

    [Theory]
    [MemberData(nameof(Refusals))]
    public async Task SignInPost_Refused_IsTheSignInPageForABrowser_AndProblemJsonForAnApiClient(string @case, string fields, int status, string code,
        string words)
    {
        using var browser = SessionKit.Client(_server.BaseUrl);
        var token = @case == "wrong token" ? "not-the-token" : ValetTestServer.AdminToken;

        using var asPage = await PostSignInAsync(browser, @case, fields, token, BrowserAccept);
        using var asProblem = await PostSignInAsync(browser, @case, fields, token, "application/json");

        Assert.Equal(status, (int)asPage.StatusCode);
        Assert.Equal("text/html", asPage.Content.Headers.ContentType?.MediaType);
        var html = await asPage.Content.ReadAsStringAsync();
        Assert.Contains(WebUtility.HtmlEncode(words), html, StringComparison.Ordinal);
        Assert.Contains("id=\"flash-error\"", html, StringComparison.Ordinal);
        Assert.Contains("<form method=\"post\" action=\"/signin\" id=\"signin-form\">", html, StringComparison.Ordinal);
        Assert.Contains("<link rel=\"stylesheet\" href=\"/dashboard.css\">", html, StringComparison.Ordinal);
        Assert.DoesNotContain(ValetTestServer.AdminToken, html, StringComparison.Ordinal);
        Assert.Contains("style-src 'self'", asPage.Headers.GetValues("Content-Security-Policy").Single(), StringComparison.Ordinal);
        Assert.Null(SessionKit.SetCookieOrNull(asPage));
        Assert.Null(asPage.Headers.Location);

        Assert.Equal(status, (int)asProblem.StatusCode);
        Assert.Equal("application/problem+json", asProblem.Content.Headers.ContentType?.MediaType);
        Assert.Equal(code, (await asProblem.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("code").GetString());
        Assert.Null(SessionKit.SetCookieOrNull(asProblem));
    }

    /// <summary>
    /// Anonymous form routes given a body that says it is a form and is not a readable one: each is a 400 with a code,
    /// never a 500 (antiforgery wrapped the reader's error, and a broken multipart body threw an IOException, both 500s
    /// with a stack trace in the log before). The demo authorization server's routes too, and a body that is not a form.
    /// </summary>
    [Theory]
    [InlineData("/signin")]
    [InlineData("/signout")]
    [InlineData("/signin/provider")]
    [InlineData("/connect-authorize")]
    [InlineData("/demo-oauth/token")]
    [InlineData("/demo-oauth/decide")]
    [InlineData("/demo-oauth/revoke")]
    public async Task AnonymousFormRoutes_GivenAnUnreadableForm_Answer400_Never500(string path)
    {
        await using var demo = await ValetTestServer.StartAsync(new Dictionary<string, string?> { ["DEMO"] = "true", ["DEMO_CLIENT_SECRET"] = "demo-secret" });
        using var client = new HttpClient { BaseAddress = demo.BaseUrl };
        var tooMany = string.Join('&', Enumerable.Range(0, 1100).Select(i => $"f{i}=x"));
        var bodies = new List<HttpContent>
        {
            new StringContent("a=%00", Encoding.ASCII, "application/x-www-form-urlencoded"),
            new StringContent(tooMany, Encoding.ASCII, "application/x-www-form-urlencoded"),
            new StringContent("garbage", Encoding.ASCII, "multipart/form-data"),
        };
        bodies[2].Headers.ContentType!.Parameters.Add(new("boundary", "zz"));
        if (path.StartsWith("/demo-oauth", StringComparison.Ordinal))
        {
            bodies.Add(JsonContent.Create(new { token = "x" }));
        }

        foreach (var body in bodies)
        {
            using var request = new HttpRequestMessage(HttpMethod.Post, path) { Content = body };
            request.Headers.Accept.ParseAdd("application/json");
            using var response = await client.SendAsync(request);
            var text = await response.Content.ReadAsStringAsync();
            Assert.True(response.StatusCode == HttpStatusCode.BadRequest, $"{path} with {body.Headers.ContentType}: {(int)response.StatusCode} {text}");
            Assert.DoesNotContain("   at ", text, StringComparison.Ordinal);
        }

        Assert.DoesNotContain(demo.Logs.Lines, line => line.StartsWith("Error", StringComparison.Ordinal) || line.StartsWith("Critical", StringComparison.Ordinal));
    }

    [Fact]
    public async Task SignInPage_ReRenderedAfterAnExpiredForm_SignsInWithItsFreshToken_AndKeepsTheReturnPath()
    {
        using var handler = new HttpClientHandler { AllowAutoRedirect = false, UseCookies = true };
        using var browser = new HttpClient(handler) { BaseAddress = _server.BaseUrl };
        browser.DefaultRequestHeaders.TryAddWithoutValidation("Accept", BrowserAccept);

        // A form whose antiforgery cookie is gone (a browser that cleared its cookies, or a day-old tab).
        using var expired = await browser.PostAsync("/signin", new FormUrlEncodedContent(new Dictionary<string, string>
        {
            ["token"] = ValetTestServer.AdminToken, ["org"] = "default", ["return"] = "/keys", ["__valet_af"] = "stale",
        }));
        Assert.Equal(HttpStatusCode.BadRequest, expired.StatusCode);
        var page = await expired.Content.ReadAsStringAsync();

        using var again = await SignInForms.SignInFromHtmlAsync(browser, page, new Dictionary<string, string>
        {
            ["token"] = ValetTestServer.AdminToken, ["org"] = "default",
        });

        Assert.Equal(HttpStatusCode.Redirect, again.StatusCode);
        Assert.Equal("/keys", again.Headers.Location!.OriginalString);
    }

    [Fact]
    public async Task SignOut_WithAStaleForm_SaysSoOnAPage_OrAsAProblem_AndTheSessionLives()
    {
        using var client = SessionKit.Client(_server.BaseUrl);
        var cookie = await SessionKit.SessionCookieAsync(client);

        using var asPage = await SignOutWithoutTokenAsync(client, cookie, BrowserAccept);
        using var asProblem = await SignOutWithoutTokenAsync(client, cookie, "application/json");

        Assert.Equal(HttpStatusCode.BadRequest, asPage.StatusCode);
        Assert.Equal("text/html", asPage.Content.Headers.ContentType?.MediaType);
        Assert.Contains("you are still signed in", await asPage.Content.ReadAsStringAsync(), StringComparison.Ordinal);
        Assert.Equal(HttpStatusCode.BadRequest, asProblem.StatusCode);
        Assert.Equal("antiforgery", (await asProblem.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("code").GetString());
        Assert.Equal(HttpStatusCode.OK, await SessionKit.MeAsync(client, cookie));

        using var signedOut = await SessionKit.SignOutAsync(client, cookie);
        Assert.Equal("/signin?done=signed_out", signedOut.Headers.Location!.OriginalString);
        Assert.Contains("You are signed out.", await client.GetStringAsync("/signin?done=signed_out"), StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("//evil.example/")]
    [InlineData("https://evil.example/")]
    public async Task SignInPage_WithABadReturn_InABrowser_Is400_WithTheFormPointingHome(string value)
    {
        using var client = SessionKit.Client(_server.BaseUrl);
        using var request = new HttpRequestMessage(HttpMethod.Get, "/signin?return=" + Uri.EscapeDataString(value));
        request.Headers.TryAddWithoutValidation("Accept", BrowserAccept);

        using var response = await client.SendAsync(request);

        Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
        var html = await response.Content.ReadAsStringAsync();
        Assert.Contains("not a plain page of this server", html, StringComparison.Ordinal);
        Assert.Contains("<input type=\"hidden\" name=\"return\" value=\"/\">", html, StringComparison.Ordinal);
        Assert.DoesNotContain("evil.example", html, StringComparison.Ordinal);
    }

    /// <summary>
    /// Posts the sign-in form as <paramref name="case"/> needs: without the antiforgery pair ("forged"), or with the pair
    /// taken from the sign-in page, as a browser would.
    /// </summary>
    private async Task<HttpResponseMessage> PostSignInAsync(HttpClient client, string @case, string fields, string token, string accept)
    {
        var body = fields + "&token=" + Uri.EscapeDataString(token);
        using var request = new HttpRequestMessage(HttpMethod.Post, "/signin");
        if (@case != "forged")
        {
            var (field, value, cookie) = await SessionKit.AntiforgeryAsync(client, "/signin");
            body += $"&{field}={Uri.EscapeDataString(value)}";
            request.Headers.Add("Cookie", cookie);
        }

        request.Content = new StringContent(body, Encoding.ASCII, "application/x-www-form-urlencoded");
        request.Headers.TryAddWithoutValidation("Accept", accept);

        return await client.SendAsync(request);
    }

    private static async Task<HttpResponseMessage> SignOutWithoutTokenAsync(HttpClient client, string cookie, string accept)
    {
        using var request = new HttpRequestMessage(HttpMethod.Post, "/signout") { Content = new FormUrlEncodedContent(new Dictionary<string, string>()) };
        request.Headers.Add("Cookie", cookie);
        request.Headers.TryAddWithoutValidation("Accept", accept);
        return await client.SendAsync(request);
    }
}
