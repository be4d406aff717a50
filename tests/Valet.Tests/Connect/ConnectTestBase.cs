using System.Net.Http.Json;
using System.Text.Json;
using Microsoft.Playwright;
using Valet.Tests.Infrastructure;

namespace Valet.Tests.Connect;

/// <summary>A Valet server whose provider <c>idp</c> is the real oidc-provider, found by discovery.</summary>
public abstract class ConnectTestBase(IdpFixture idp, BrowserFixture browser) : IAsyncLifetime
{
    protected IdpFixture Idp { get; } = idp;

    protected BrowserFixture Browser { get; } = browser;

    protected ValetTestServer Server { get; private set; } = null!;

    protected virtual IDictionary<string, string?> ExtraSettings => new Dictionary<string, string?>();

    public async Task InitializeAsync()
    {
        await Idp.ResetAsync();
        var settings = Idp.ProviderSettings();
        foreach (var (key, value) in ExtraSettings)
        {
            settings[key] = value;
        }

        Server = await ValetTestServer.StartAsync(settings);
    }

    public virtual async Task DisposeAsync()
    {
        await Server.DisposeAsync();
        await Idp.ResetAsync();
    }

    /// <summary>Starts a gateway flow through the operator API; returns (flow id, authorize URL).</summary>
    protected async Task<(string FlowId, string AuthorizeUrl)> StartGatewayFlowAsync(string org = "default", object? extra = null)
    {
        using var admin = Server.Client();
        var response = await admin.PostAsJsonAsync($"/v1/orgs/{org}/connect", extra ?? new { provider = "idp" });
        var body = await response.Content.ReadFromJsonAsync<JsonElement>();
        Assert.True(response.IsSuccessStatusCode, body.ToString());
        return (body.GetProperty("flow_id").GetString()!, body.GetProperty("authorize_url").GetString()!);
    }

    protected async Task<JsonElement> FlowAsync(string flowId)
    {
        using var admin = Server.Client();
        return await admin.GetFromJsonAsync<JsonElement>($"/v1/flows/{flowId}/wait?timeout=10");
    }

    protected async Task<(string ConnectionId, JsonElement Flow)> ConnectAsync(string login, string org = "default")
    {
        var (flowId, url) = await StartGatewayFlowAsync(org);
        var page = await Browser.AuthorizeAsync(url, login);
        Assert.Equal("true", await page.Locator("#result").GetAttributeAsync("data-success"));
        await page.Context.CloseAsync();
        var flow = await FlowAsync(flowId);
        Assert.Equal("complete", flow.GetProperty("status").GetString());
        return (flow.GetProperty("connection_id").GetString()!, flow);
    }

    protected static async Task<string> ResultCodeAsync(IPage page) =>
        (await page.Locator("code").First.TextContentAsync()) ?? string.Empty;
}
