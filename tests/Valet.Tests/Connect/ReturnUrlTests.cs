using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using Microsoft.Data.Sqlite;
using Valet.Tests.Infrastructure;
using Valet.Tests.Refresh;

namespace Valet.Tests.Connect;

/// <summary>A return_url becomes a Location header: what cannot be one is refused at the start, and never fails the callback.</summary>
[Collection(IdpPagesCollection.Name)]
public sealed class ReturnUrlTests(IdpFixture idp, BrowserFixture browser) : ConnectTestBase(idp, browser)
{
    private const string App = "https://app.example";

    protected override IDictionary<string, string?> ExtraSettings => new Dictionary<string, string?> { ["Flows:ReturnUrlOrigins:0"] = App };

    [Theory]
    [InlineData(App + "/caf\u00e9")]
    [InlineData(App + "/done\n")]
    [InlineData(App + "/a b")]
    public async Task ReturnUrl_WithRawNonAsciiOrControlCharacters_Is400_BeforeAnyFlowExists(string returnUrl)
    {
        using var admin = Server.Client();
        var flowsBefore = await RefreshKit.FlowCountAsync(Server);

        var response = await admin.PostAsJsonAsync("/v1/orgs/default/connect", new { provider = "idp", return_url = returnUrl });

        Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
        Assert.Equal("invalid_return_url", (await response.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("code").GetString());
        Assert.Equal(flowsBefore, await RefreshKit.FlowCountAsync(Server));
    }

    /// <summary>A flow stored before this check existed (simulated by editing its row) still ends on a clean page.</summary>
    [Fact]
    public async Task Callback_WithAStoredReturnUrlThatCannotBeALocation_SavesTheConnection_AndShowsTheResultPage()
    {
        var (flowId, url) = await StartGatewayFlowAsync(extra: new { provider = "idp", return_url = App + "/done" });
        await using (var db = new SqliteConnection($"Data Source={Path.Combine(Server.DataDirectory, "valet.db")};Pooling=False"))
        {
            await db.OpenAsync();
            await using var command = db.CreateCommand();
            command.CommandText = "UPDATE flows SET return_url = $url WHERE id = $id";
            command.Parameters.AddWithValue("$url", App + "/caf\u00e9");
            command.Parameters.AddWithValue("$id", flowId);
            Assert.Equal(1, await command.ExecuteNonQueryAsync());
        }

        var page = await Browser.AuthorizeAsync(url, "olga");

        Assert.Equal("true", await page.Locator("#result").GetAttributeAsync("data-success"));
        await page.Context.CloseAsync();
        Assert.Equal("complete", (await FlowAsync(flowId)).GetProperty("status").GetString());
    }
}
