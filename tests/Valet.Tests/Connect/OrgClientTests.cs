using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using Microsoft.AspNetCore.WebUtilities;
using Valet.Tests.Infrastructure;

namespace Valet.Tests.Connect;

/// <summary>
/// Which OAuth client a grant uses when nobody names one (docs/decisions.md, "Which client"): the org's own (BYOC)
/// credential for the provider, else the platform client. Against the real oidc-provider: <c>idp</c> has no platform
/// client at all, <c>idp2</c> has one (the IdP's basic-auth client) and the org registers its own.
/// </summary>
[Collection(IdpPagesCollection.Name)]
public sealed class OrgClientTests(IdpFixture idp, BrowserFixture browser) : ConnectTestBase(idp, browser)
{
    protected override IDictionary<string, string?> ExtraSettings
    {
        get
        {
            var settings = new Dictionary<string, string?>(Idp.ProviderSettings("idp2", basic: true))
            {
                ["Providers:idp:ClientId"] = null,
                ["Providers:idp:ClientSecret"] = null,
            };
            return settings;
        }
    }

    [Fact]
    public async Task WithoutAPlatformClient_TheOrgsOwnClient_GivesTheEnvelopeItsLink_AndConnects()
    {
        using var admin = Server.Client();
        var credentialId = await RegisterAsync(admin, "idp");
        var (_, key) = await Server.CreateKeyAsync("default", new { provider = "idp" });
        using var agent = Server.Client(key);

        // The envelope of an ordinary org carries a link that can work: the flow behind it uses the org's client.
        var needs = await agent.PostAsync("/v1/providers/idp/token", null);
        var envelope = await needs.Content.ReadFromJsonAsync<JsonElement>();
        Assert.Equal(HttpStatusCode.Conflict, needs.StatusCode);
        Assert.Equal("needs_authentication", envelope.GetProperty("code").GetString());
        Assert.StartsWith(Server.BaseUrl.ToString().TrimEnd('/') + "/connect-authorize?flow=", envelope.GetProperty("connect_url").GetString(), StringComparison.Ordinal);
        Assert.True(envelope.TryGetProperty("flow_id", out _), envelope.ToString());

        // Connect without naming a credential: the org's own client, pinned on the connection (it refreshes with it).
        var (flowId, url) = await StartGatewayFlowAsync();
        Assert.Equal(IdpFixture.ClientId, QueryHelpers.ParseQuery(new Uri(url).Query)["client_id"].ToString());
        var page = await Browser.AuthorizeAsync(url, "byoc-user");
        Assert.Equal("true", await page.Locator("#result").GetAttributeAsync("data-success"));
        await page.Context.CloseAsync();
        var flow = await FlowAsync(flowId);
        Assert.Equal("complete", flow.GetProperty("status").GetString());
        var connection = await admin.GetFromJsonAsync<JsonElement>("/v1/connections/" + flow.GetProperty("connection_id").GetString());
        Assert.Equal(credentialId, connection.GetProperty("credential_id").GetString());

        var token = await agent.PostAsync("/v1/providers/idp/token", null);
        Assert.Equal(HttpStatusCode.OK, token.StatusCode);
    }

    [Fact]
    public async Task OrgsNewestClient_GoesBeforeThePlatformClient_AndANamedOneBeforeEither()
    {
        using var admin = Server.Client();
        var (_, platformUrl) = await StartGatewayFlowAsync(extra: new { provider = "idp2" });
        Assert.Equal(IdpFixture.BasicClientId, ClientIdOf(platformUrl));

        await RegisterAsync(admin, "idp2");
        var (_, orgUrl) = await StartGatewayFlowAsync(extra: new { provider = "idp2" });
        Assert.Equal(IdpFixture.ClientId, ClientIdOf(orgUrl));

        await Task.Delay(20); // "newest" is by registration time (millisecond precision)
        var later = await admin.PostAsJsonAsync("/v1/orgs/default/credentials", new { provider = "idp2", client_id = "named-client", client_secret = "s" });
        Assert.Equal(HttpStatusCode.Created, later.StatusCode);
        var (_, newestUrl) = await StartGatewayFlowAsync(extra: new { provider = "idp2" });
        Assert.Equal("named-client", ClientIdOf(newestUrl)); // the org's newest client

        var first = (await (await admin.GetAsync("/v1/orgs/default/credentials")).Content.ReadFromJsonAsync<JsonElement>())
            .EnumerateArray().Single(c => c.GetProperty("client_id").GetString() == IdpFixture.ClientId && c.GetProperty("provider").GetString() == "idp2");
        var (_, namedUrl) = await StartGatewayFlowAsync(extra: new { provider = "idp2", credential_id = first.GetProperty("id").GetString() });
        Assert.Equal(IdpFixture.ClientId, ClientIdOf(namedUrl)); // a named one before both
    }

    [Fact]
    public async Task NoClientAnywhere_TheEnvelopeSaysWhyItHasNoLink()
    {
        var (_, key) = await Server.CreateKeyAsync("default", new { provider = "idp" });
        using var agent = Server.Client(key);
        var needs = await agent.PostAsync("/v1/providers/idp/token", null);
        var envelope = await needs.Content.ReadFromJsonAsync<JsonElement>();
        Assert.Equal(HttpStatusCode.Conflict, needs.StatusCode);
        Assert.False(envelope.TryGetProperty("connect_url", out _), envelope.ToString());
        Assert.Contains("no OAuth client", envelope.GetProperty("detail").GetString(), StringComparison.Ordinal);
    }

    private static string ClientIdOf(string authorizeUrl) => QueryHelpers.ParseQuery(new Uri(authorizeUrl).Query)["client_id"].ToString();

    private static async Task<string> RegisterAsync(HttpClient admin, string provider)
    {
        var response = await admin.PostAsJsonAsync("/v1/orgs/default/credentials",
            new { provider, client_id = IdpFixture.ClientId, client_secret = IdpFixture.ClientSecret });
        var body = await response.Content.ReadFromJsonAsync<JsonElement>();
        Assert.Equal(HttpStatusCode.Created, response.StatusCode);
        return body.GetProperty("id").GetString()!;
    }
}
