using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
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
}
