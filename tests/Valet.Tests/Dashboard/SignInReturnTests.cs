using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using Valet.Tests.Infrastructure;

namespace Valet.Tests.Dashboard;

/// <summary>
/// <c>/signin?return=</c> accepts only a plain same-origin path; anything else is a 400 (problem+json for an API client,
/// the sign-in page with the reason for a browser), never a 500 or a redirect.
/// </summary>
public sealed class SignInReturnTests : IAsyncLifetime
{
    private ValetTestServer _server = null!;

    public async Task InitializeAsync() => _server = await ValetTestServer.StartAsync();

    public async Task DisposeAsync() => await _server.DisposeAsync();

    [Theory]
    [InlineData("/\n/x")]
    [InlineData("/\r\nSet-Cookie: x=y")]
    [InlineData("/\t/evil.example")]
    [InlineData("/ /evil.example")]
    [InlineData("//evil.example/")]
    [InlineData("/\\evil.example")]
    [InlineData("/%2F/evil.example")]
    [InlineData("/%09/evil.example")]
    [InlineData("/%5Cevil.example")]
    [InlineData("/%252F/evil.example")]
    [InlineData("/caf\u00e9")]
    [InlineData("https://evil.example/")]
    [InlineData("me")]
    public async Task SignIn_WithAReturnThatIsNotAPlainLocalPath_Is400_AndSignsNobodyIn(string value)
    {
        using var browser = SessionKit.Client(_server.BaseUrl);

        using var posted = await SessionKit.SignInAsync(browser, returnPath: value);
        using var page = await browser.GetAsync("/signin?return=" + Uri.EscapeDataString(value));

        foreach (var response in new[] { posted, page })
        {
            Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
            Assert.Equal("invalid_return_url", (await response.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("code").GetString());
            Assert.Null(response.Headers.Location);
            Assert.False(response.Headers.Contains("Set-Cookie"));
        }
    }

    [Fact]
    public async Task SignIn_ReturnsToAPlainLocalPath_OrToTheDashboard_AndRefusesAControlCharacter()
    {
        using var browser = SessionKit.Client(_server.BaseUrl);

        using var withPath = await SessionKit.SignInAsync(browser, returnPath: "/connect-authorize?flow=flow_1%2Bx&a=b");
        using var withoutPath = await SessionKit.SignInAsync(browser);
        using var withNewline = await SessionKit.SignInAsync(browser, returnPath: "/\n/x");

        Assert.Equal("/connect-authorize?flow=flow_1%2Bx&a=b", withPath.Headers.Location!.OriginalString);
        Assert.Equal("/", withoutPath.Headers.Location!.OriginalString);
        Assert.Equal(HttpStatusCode.BadRequest, withNewline.StatusCode);
    }
}
