using System.Net.Http.Json;
using System.Text.Json;
using Valet.Tests.Infrastructure;

namespace Valet.Tests.Connect;

[Collection("idp")]
public sealed class ExpiredFlowTests(IdpFixture idp, BrowserFixture browser) : ConnectTestBase(idp, browser)
{
    protected override IDictionary<string, string?> ExtraSettings => new Dictionary<string, string?> { ["Flows:Lifetime"] = "00:00:02" };

    [Fact]
    public async Task AFlowPastItsLifetime_CannotBeFinished_AndReadsAsExpired()
    {
        var (flowId, url) = await StartGatewayFlowAsync();
        await Task.Delay(TimeSpan.FromSeconds(2.5));

        var page = await Browser.AuthorizeAsync(url, "peggy");

        Assert.Equal("flow_expired", await ResultCodeAsync(page));
        using var admin = Server.Client();
        var flow = await admin.GetFromJsonAsync<JsonElement>($"/v1/flows/{flowId}");
        Assert.Equal("expired", flow.GetProperty("status").GetString());
        Assert.Equal(0, (await admin.GetFromJsonAsync<JsonElement>("/v1/orgs/default/connections")).GetArrayLength());
    }
}
