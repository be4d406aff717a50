using Valet.Core;
using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using Microsoft.AspNetCore.WebUtilities;
using Microsoft.Extensions.DependencyInjection;
using Valet.Core.Domain;
using Valet.Core.Flows;
using Valet.Core.OAuth;
using Valet.Core.Providers;
using Valet.Tests.Infrastructure;

namespace Valet.Tests.OAuth;

/// <summary>One server whose operator providers <c>r302</c>, <c>r307</c>, <c>r308</c> answer every OAuth call with that redirect.</summary>
public sealed class RedirectingProviderServer : IAsyncLifetime
{
    internal RedirectingProvider Fake { get; private set; } = null!;

    public ValetTestServer Server { get; private set; } = null!;

    public async Task InitializeAsync()
    {
        Fake = await RedirectingProvider.StartAsync();
        var settings = new Dictionary<string, string?>();
        foreach (var status in new[] { 302, 307, 308 })
        {
            foreach (var (key, value) in Fake.Settings($"r{status}", status))
            {
                settings[key] = value;
            }
        }

        Server = await ValetTestServer.StartAsync(settings);
    }

    public async Task DisposeAsync()
    {
        await Server.DisposeAsync();
        await Fake.DisposeAsync();
    }
}

/// <summary>
/// The same refusals through the server as it is built (<c>ValetHost</c>'s registration), so that a future
/// default-handler registration fails here: callback, on-demand refresh, disconnect and boot-time discovery.
/// </summary>
public sealed class RedirectRefusalServerTests : IClassFixture<RedirectingProviderServer>
{
    private readonly RedirectingProviderServer _fixture;

    public RedirectRefusalServerTests(RedirectingProviderServer fixture)
    {
        _fixture = fixture;
        fixture.Fake.ClearReceived(); // tests of one class run one at a time
    }

    private ValetTestServer Server => _fixture.Server;

    private RedirectingProvider Fake => _fixture.Fake;

    public static TheoryData<int> Redirects => RedirectRefusalTests.Redirects;

    [Theory]
    [MemberData(nameof(Redirects))]
    public async Task TheServersOAuthClient_FollowsNoRedirect_OnAnyEndpoint(int status)
    {
        var oauth = Server.Services.GetRequiredService<IOAuthClient>();
        var provider = Server.Services.GetRequiredService<IProviderCatalog>().Find($"r{status}")!;
        var client = new ClientCredentials("client-id", new Secret("client-secret"));

        var exchange = await oauth.ExchangeCodeAsync(provider, client, "code", "http://127.0.0.1/cb", "verifier", default);
        var refresh = await oauth.RefreshAsync(provider, client, "refresh-token", default);
        var revoked = await oauth.RevokeAsync(provider, client, "refresh-token", "refresh_token", default);
        var identity = await oauth.GetIdentityAsync(provider, new TokenSet { AccessToken = new Secret("access-token") }, default);

        Assert.Equal(TokenResponseReader.ProviderRedirect, exchange.Error?.Code);
        Assert.Equal(TokenResponseReader.ProviderRedirect, refresh.Error?.Code);
        Assert.False(revoked);
        Assert.Null(identity);
        Assert.Empty(Fake.Received);
    }

    [Theory]
    [MemberData(nameof(Redirects))]
    public async Task Callback_TokenEndpointRedirect_FailsTheFlow_NothingStored_NothingSentElsewhere(int status)
    {
        var provider = $"r{status}";
        using var admin = Server.Client();
        var started = await (await admin.PostAsJsonAsync("/v1/orgs/default/connect", new { provider })).Content.ReadFromJsonAsync<JsonElement>();
        var state = QueryHelpers.ParseQuery(new Uri(started.GetProperty("authorize_url").GetString()!).Query)["state"].ToString();
        using var anonymous = Server.Client(null);

        var callback = await anonymous.GetAsync($"/oauth/callback?code=the-code&state={Uri.EscapeDataString(state)}");

        Assert.True((int)callback.StatusCode < 500, $"callback answered {(int)callback.StatusCode}");
        Assert.Contains(FlowErrors.ProviderUnavailable, await callback.Content.ReadAsStringAsync(), StringComparison.Ordinal);
        var flow = await admin.GetFromJsonAsync<JsonElement>($"/v1/flows/{started.GetProperty("flow_id").GetString()}");
        Assert.Equal("error", flow.GetProperty("status").GetString());
        Assert.Equal(FlowErrors.ProviderUnavailable, flow.GetProperty("error").GetString());
        Assert.Empty(await ConnectionsOfAsync(admin, provider));
        Assert.Empty(Fake.Received);
    }

    [Theory]
    [MemberData(nameof(Redirects))]
    public async Task Refresh_TokenEndpointRedirect_IsProviderUnavailable_AndTheConnectionStaysActive(int status)
    {
        var provider = $"r{status}";
        using var admin = Server.Client();
        var credential = await (await admin.PostAsJsonAsync("/v1/orgs/default/credentials", new { provider, client_id = "c", client_secret = "s" }))
            .Content.ReadFromJsonAsync<JsonElement>();
        var imported = await admin.PostAsJsonAsync("/v1/orgs/default/connections/import", new
        {
            provider,
            credential_id = credential.GetProperty("id").GetString(),
            access_token = "expired-access-token",
            refresh_token = "the-refresh-token",
            expires_in = 0,
            account = new { id = "refresh-" + status },
        });
        Assert.True(imported.IsSuccessStatusCode, await imported.Content.ReadAsStringAsync());
        var id = (await imported.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("id").GetString();
        using var service = Server.Client(Server.ServiceToken);

        var token = await service.PostAsync($"/v1/connections/{id}/token", null);

        Assert.Equal(HttpStatusCode.BadGateway, token.StatusCode);
        Assert.Equal("provider_unavailable", (await token.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("code").GetString());
        var connection = await admin.GetFromJsonAsync<JsonElement>($"/v1/connections/{id}");
        Assert.Equal("active", connection.GetProperty("status").GetString());
        Assert.Empty(Fake.Received);

        // Disconnecting tries the revocation endpoint, which redirects too: nothing goes elsewhere either.
        var deleted = await admin.DeleteAsync($"/v1/connections/{id}");
        Assert.True(deleted.IsSuccessStatusCode, $"delete answered {(int)deleted.StatusCode}");
        Assert.Empty(Fake.Received);
    }

    [Fact]
    public async Task Boot_DiscoveryRedirect_FailsWithOneReadableLine_NothingSentElsewhere()
    {
        var issuer = Fake.Redirector.Url("307").AbsoluteUri.TrimEnd('/');

        var error = await Assert.ThrowsAsync<ValetConfigurationException>(() => ValetTestServer.StartAsync(new Dictionary<string, string?>
        {
            ["Providers:disc:Issuer"] = issuer,
            ["Providers:disc:AllowPrivateNetwork"] = "true",
        }));

        Assert.Contains("provider 'disc'", error.Message, StringComparison.Ordinal);
        Assert.Contains("redirect (HTTP 307)", error.Message, StringComparison.Ordinal);
        Assert.DoesNotContain("   at ", error.Message, StringComparison.Ordinal);
        Assert.Empty(Fake.Received);
    }

    private static async Task<List<JsonElement>> ConnectionsOfAsync(HttpClient admin, string provider) =>
        [.. (await admin.GetFromJsonAsync<JsonElement>("/v1/orgs/default/connections")).EnumerateArray()
            .Where(c => c.GetProperty("provider").GetString() == provider)];
}
