using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using Microsoft.Playwright;
using Valet.Tests.Infrastructure;

namespace Valet.Tests.Connect;

[Collection("idp")]
public sealed class GatewayFlowTests(IdpFixture idp, BrowserFixture browser) : ConnectTestBase(idp, browser)
{
    [Fact]
    public async Task HappyPath_Gateway_ConnectsTheAccount_AndTheTokenIsLiveAtTheIdp()
    {
        var (connectionId, flow) = await ConnectAsync("alice");

        Assert.Contains("read", flow.GetProperty("granted_scopes").EnumerateArray().Select(s => s.GetString()));
        using var admin = Server.Client();
        var connection = await admin.GetFromJsonAsync<JsonElement>($"/v1/connections/{connectionId}");
        Assert.Equal("alice", connection.GetProperty("account").GetProperty("id").GetString());
        Assert.True(connection.GetProperty("has_refresh_token").GetBoolean());

        using var service = Server.Client(Server.ServiceToken);
        var token = await (await service.PostAsync($"/v1/connections/{connectionId}/token", null)).Content.ReadFromJsonAsync<JsonElement>();
        Assert.True(await Idp.IsActiveAsync(token.GetProperty("access_token").GetString()!));
    }

    [Fact]
    public async Task Reconnecting_TheSameAccount_UpdatesIt_AndAnotherAccount_AddsOne()
    {
        var (first, _) = await ConnectAsync("carol");
        var (again, _) = await ConnectAsync("carol");
        var (other, _) = await ConnectAsync("dave");

        Assert.Equal(first, again);
        Assert.NotEqual(first, other);
        using var admin = Server.Client();
        var list = await admin.GetFromJsonAsync<JsonElement>("/v1/orgs/default/connections");
        Assert.Equal(2, list.GetArrayLength());
    }

    [Fact]
    public async Task PersonDeniesConsent_FlowEndsInAccessDenied_NothingStored()
    {
        var (flowId, url) = await StartGatewayFlowAsync();

        var page = await Browser.AuthorizeAsync(url, "erin", deny: true);

        Assert.Equal("false", await page.Locator("#result").GetAttributeAsync("data-success"));
        Assert.Equal("access_denied", await ResultCodeAsync(page));
        var flow = await FlowAsync(flowId);
        Assert.Equal("error", flow.GetProperty("status").GetString());
        Assert.Equal("access_denied", flow.GetProperty("error").GetString());
        using var admin = Server.Client();
        Assert.Equal(0, (await admin.GetFromJsonAsync<JsonElement>("/v1/orgs/default/connections")).GetArrayLength());
    }

    [Fact]
    public async Task ReplayedState_UnknownState_AndReplayedCode_AreRefused()
    {
        var (_, urlA) = await StartGatewayFlowAsync();
        var (pageA, callbackA) = await Browser.AuthorizeCapturingAsync(urlA, "frank");
        Assert.Equal("true", await pageA.Locator("#result").GetAttributeAsync("data-success"));
        using var anonymous = Server.Client(null);

        var replay = await anonymous.GetAsync(callbackA);
        Assert.Equal(HttpStatusCode.BadRequest, replay.StatusCode);
        Assert.Contains("state_already_used", await replay.Content.ReadAsStringAsync(), StringComparison.Ordinal);

        var unknown = await anonymous.GetAsync("/oauth/callback?code=x&state=" + new string('a', 43));
        Assert.Equal(HttpStatusCode.BadRequest, unknown.StatusCode);
        Assert.Contains("unknown_state", await unknown.Content.ReadAsStringAsync(), StringComparison.Ordinal);

        // Flow B's state with flow A's (already redeemed) code: the IdP refuses the code, nothing is stored.
        var (flowB, urlB) = await StartGatewayFlowAsync();
        var stateB = QueryValue(urlB, "state");
        var codeA = QueryValue(callbackA, "code");
        var iss = QueryValue(callbackA, "iss");
        var codeReplay = await anonymous.GetAsync($"/oauth/callback?code={Uri.EscapeDataString(codeA)}&state={Uri.EscapeDataString(stateB)}&iss={Uri.EscapeDataString(iss)}");
        Assert.Contains("token_exchange_failed", await codeReplay.Content.ReadAsStringAsync(), StringComparison.Ordinal);
        Assert.Equal("token_exchange_failed", (await FlowAsync(flowB)).GetProperty("error").GetString());
        using var admin = Server.Client();
        Assert.Equal(1, (await admin.GetFromJsonAsync<JsonElement>("/v1/orgs/default/connections")).GetArrayLength());
    }

    [Theory]
    [InlineData("omit", "iss_missing")]
    [InlineData("wrong", "iss_mismatch")]
    public async Task Iss_MissingOrWrong_IsRefused(string mode, string error)
    {
        await Idp.SetIssModeAsync(mode);
        var (flowId, url) = await StartGatewayFlowAsync();

        var page = await Browser.AuthorizeAsync(url, "grace");

        Assert.Equal(error, await ResultCodeAsync(page));
        Assert.Equal(error, (await FlowAsync(flowId)).GetProperty("error").GetString());
        using var admin = Server.Client();
        Assert.Equal(0, (await admin.GetFromJsonAsync<JsonElement>("/v1/orgs/default/connections")).GetArrayLength());
    }

    [Fact]
    public async Task TokenEndpointDown_GivesAClearError_AndStoresNothing()
    {
        await Idp.SetFaultAsync("500", grant: "authorization_code");
        var (flowId, url) = await StartGatewayFlowAsync();

        var page = await Browser.AuthorizeAsync(url, "heidi");

        Assert.Equal("provider_unavailable", await ResultCodeAsync(page));
        Assert.Equal("provider_unavailable", (await FlowAsync(flowId)).GetProperty("error").GetString());
        using var admin = Server.Client();
        Assert.Equal(0, (await admin.GetFromJsonAsync<JsonElement>("/v1/orgs/default/connections")).GetArrayLength());
    }

    [Fact]
    public async Task CallbackPage_SendsNoReferrer_LoadsNothingElsewhere_AndStripsTheCode()
    {
        var (_, url) = await StartGatewayFlowAsync();
        var requests = new System.Collections.Concurrent.ConcurrentQueue<string>();
        var (page, callback) = await Browser.AuthorizeCapturingAsync(url, "ivan", fromCallback: requests);
        await page.WaitForLoadStateAsync(LoadState.NetworkIdle);

        Assert.DoesNotContain("code=", page.Url, StringComparison.Ordinal);
        Assert.DoesNotContain("state=", page.Url, StringComparison.Ordinal);
        using var anonymous = Server.Client(null);
        var replay = await anonymous.GetAsync(callback);
        Assert.Equal("no-referrer", replay.Headers.GetValues("Referrer-Policy").Single());
        Assert.Contains("default-src 'none'", replay.Headers.GetValues("Content-Security-Policy").Single(), StringComparison.Ordinal);
        var html = await replay.Content.ReadAsStringAsync();
        Assert.DoesNotContain("src=\"http", html, StringComparison.Ordinal);
        Assert.DoesNotContain("href=\"http", html, StringComparison.Ordinal);
        // The callback page and what it loads (its stylesheet) come from Valet, nothing from anywhere else.
        var valet = Server.BaseUrl.GetLeftPart(UriPartial.Authority);
        Assert.Contains(requests, r => r.StartsWith(valet + "/oauth/callback?", StringComparison.Ordinal));
        Assert.All(requests, r => Assert.StartsWith(valet + "/", r, StringComparison.Ordinal));
    }

    [Fact]
    public async Task ReturnUrl_Malformed_OrForeign_Is400_BeforeAnyFlowExists()
    {
        using var admin = Server.Client();

        foreach (var bad in new[] { "not a url", "https://evil.example/cb", "javascript:alert(1)", "//evil.example/x" })
        {
            var response = await admin.PostAsJsonAsync("/v1/orgs/default/connect", new { provider = "idp", return_url = bad });
            Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
            Assert.Equal("invalid_return_url", (await response.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("code").GetString());
        }
    }

    [Fact]
    public async Task Disconnect_RevokesAtTheIdp_AndDeletesTheConnection()
    {
        var (connectionId, _) = await ConnectAsync("judy");
        using var service = Server.Client(Server.ServiceToken);
        var token = (await (await service.PostAsync($"/v1/connections/{connectionId}/token", null)).Content.ReadFromJsonAsync<JsonElement>())
            .GetProperty("access_token").GetString()!;
        Assert.True(await Idp.IsActiveAsync(token));
        using var admin = Server.Client();

        var deleted = await (await admin.DeleteAsync($"/v1/connections/{connectionId}")).Content.ReadFromJsonAsync<JsonElement>();

        Assert.True(deleted.GetProperty("revoked").GetBoolean());
        Assert.False(await Idp.IsActiveAsync(token));
        Assert.Equal(HttpStatusCode.NotFound, (await admin.GetAsync($"/v1/connections/{connectionId}")).StatusCode);
    }

    [Fact]
    public async Task FlowOfAnotherOrg_IsInvisible_AndItsConnectionLandsInItsOwnOrg()
    {
        using var admin = Server.Client();
        await admin.PostAsJsonAsync("/v1/orgs", new { id = "acme" });

        var (connectionId, _) = await ConnectAsync("kim", org: "acme");

        var connection = await admin.GetFromJsonAsync<JsonElement>($"/v1/connections/{connectionId}");
        Assert.Equal("acme", connection.GetProperty("org").GetString());
        Assert.Equal(0, (await admin.GetFromJsonAsync<JsonElement>("/v1/orgs/default/connections")).GetArrayLength());
    }

    [Fact]
    public async Task ConnectAuthorize_WorksOnlyForASessionOfTheFlowsOrg_AndOnlyAfterItsContinueForm()
    {
        using var admin = Server.Client();
        await admin.PostAsJsonAsync("/v1/orgs", new { id = "other" });
        var (_, key) = await Server.CreateKeyAsync("default", new { provider = "idp" });
        using var agent = Server.Client(key);
        using var envelopeResponse = await agent.PostAsJsonAsync("/v1/providers/idp/token", new { });
        var envelope = await envelopeResponse.Content.ReadFromJsonAsync<JsonElement>();
        Assert.Equal("needs_authentication", envelope.GetProperty("code").GetString());
        var connectUrl = new Uri(envelope.GetProperty("connect_url").GetString()!);
        var (apiFlowId, _) = await StartGatewayFlowAsync(); // an operator's own flow: not a connect link
        using var handler = new HttpClientHandler { AllowAutoRedirect = false, CookieContainer = new System.Net.CookieContainer() };
        using var person = new HttpClient(handler) { BaseAddress = Server.BaseUrl };

        var anonymous = await person.GetAsync(connectUrl);
        Assert.Equal(HttpStatusCode.Redirect, anonymous.StatusCode);
        Assert.StartsWith("/signin", anonymous.Headers.Location!.OriginalString, StringComparison.Ordinal);

        var badSignIn = await SignInForms.SignInAsync(person, new Dictionary<string, string> { ["token"] = "wrong", ["org"] = "other" });
        Assert.Equal(HttpStatusCode.Unauthorized, badSignIn.StatusCode);
        await SignInForms.SignInAsync(person, new Dictionary<string, string> { ["token"] = ValetTestServer.AdminToken, ["org"] = "other" });
        Assert.Equal("other", (await person.GetFromJsonAsync<JsonElement>("/me")).GetProperty("org").GetString());

        var otherOrg = await person.GetAsync(connectUrl);
        Assert.Equal(HttpStatusCode.Forbidden, otherOrg.StatusCode);

        await SignInForms.SignInAsync(person, new Dictionary<string, string> { ["token"] = ValetTestServer.AdminToken, ["org"] = "default" });

        // Opening the link signed in shows what is asked and goes nowhere by itself (a page elsewhere can send a signed-in
        // operator here, SameSite=Lax lets the cookie through): no redirect to the provider, the flow not armed.
        var page = await person.GetAsync(connectUrl);
        var html = await page.Content.ReadAsStringAsync();
        Assert.Equal(HttpStatusCode.OK, page.StatusCode);
        Assert.Contains("id=\"connect-continue\"", html, StringComparison.Ordinal);
        Assert.Contains("default", html, StringComparison.Ordinal);

        // A post without the page's antiforgery token is refused.
        var forged = await person.PostAsync("/connect-authorize", new FormUrlEncodedContent(new Dictionary<string, string>
        {
            ["flow"] = envelope.GetProperty("flow_id").GetString()!,
        }));
        Assert.Equal(HttpStatusCode.BadRequest, forged.StatusCode);

        // Only an envelope's flow is a connect link: an operator's API flow (or a CLI's) keeps the state its owner polls.
        Assert.Equal(HttpStatusCode.NotFound, (await person.GetAsync($"/connect-authorize?flow={apiFlowId}")).StatusCode);

        var ownOrg = await ConnectLinks.ContinueAsync(person, connectUrl);
        Assert.Equal(HttpStatusCode.Redirect, ownOrg.StatusCode);
        Assert.StartsWith(Idp.Issuer, ownOrg.Headers.Location!.ToString(), StringComparison.Ordinal);

        // Once the org turns headless, its old links lead nowhere: its people never use Valet's pages.
        (await admin.PatchAsJsonAsync("/v1/orgs/default", new { headless = true })).EnsureSuccessStatusCode();
        Assert.Equal(HttpStatusCode.Conflict, (await person.GetAsync(connectUrl)).StatusCode);
    }

    private static string QueryValue(string url, string name) =>
        System.Web.HttpUtility.ParseQueryString(new Uri(url).Query)[name] ?? throw new InvalidOperationException($"{name} missing in {url}");
}
