using System.Net;
using System.Net.Http.Json;
using System.Text;
using System.Text.Json;
using Valet.Tests.Infrastructure;

namespace Valet.Tests.Providers.Fidelity;

/// <summary>A Valet server whose catalog provider <c>notion</c> has its hosts moved onto a <see cref="NotionFake"/> (quirks untouched).</summary>
public sealed class NotionServer : IAsyncLifetime
{
    internal NotionFake Notion { get; private set; } = null!;

    public ValetTestServer Server { get; private set; } = null!;

    public async Task InitializeAsync()
    {
        Notion = await NotionFake.StartAsync();
        var fake = Notion.BaseUrl.AbsoluteUri.TrimEnd('/');
        Server = await ValetTestServer.StartAsync(new Dictionary<string, string?>
        {
            ["Providers:notion:AuthorizationEndpoint"] = fake + "/v1/oauth/authorize",
            ["Providers:notion:TokenEndpoint"] = fake + "/v1/oauth/token",
            ["Providers:notion:RevocationEndpoint"] = fake + "/v1/oauth/revoke",
            ["Providers:notion:UserInfoEndpoint"] = fake + "/v1/users/me",
            ["Providers:notion:ApiBaseUrl"] = fake,
            ["Providers:notion:ClientId"] = NotionFake.ClientId,
            ["Providers:notion:ClientSecret"] = NotionFake.ClientSecret,
            ["Providers:notion:AllowPrivateNetwork"] = "true",
        });
    }

    public async Task DisposeAsync()
    {
        await Server.DisposeAsync();
        await Notion.DisposeAsync();
    }
}

/// <summary>Issue 15, item 1: Notion's token endpoint takes JSON with HTTP Basic client authentication, for the code exchange and the refresh.</summary>
public sealed class NotionFidelityTests(NotionServer fixture) : IClassFixture<NotionServer>
{
    private NotionFake Notion => fixture.Notion;

    private ValetTestServer Server => fixture.Server;

    [Fact]
    public async Task Connect_ExchangesTheCodeAsJsonWithBasicAuth_AndReadsTheOwnerAsTheAccount()
    {
        var before = Notion.TokenRequests.Count;

        var (_, connection) = await FidelityConnect.ConnectAsync(Server, "notion");

        var exchange = Notion.TokenRequests.Skip(before).Single();
        Assert.Equal("application/json", exchange.ContentType);
        AssertBasic(exchange);
        Assert.Equal("2022-06-28", exchange.NotionVersion);
        var body = exchange.Json!.Value;
        Assert.Equal("authorization_code", body.GetProperty("grant_type").GetString());
        Assert.StartsWith("code-", body.GetProperty("code").GetString(), StringComparison.Ordinal);
        Assert.Equal(Server.BaseUrl.AbsoluteUri.TrimEnd('/') + "/oauth/callback", body.GetProperty("redirect_uri").GetString());
        Assert.False(body.TryGetProperty("client_secret", out _));
        Assert.False(body.TryGetProperty("client_id", out _));

        Assert.Equal(Notion.LastOwner, connection.GetProperty("account").GetProperty("id").GetString());
        Assert.Equal("christine@example.com", connection.GetProperty("account").GetProperty("email").GetString());
        Assert.Equal("active", connection.GetProperty("status").GetString());
        Assert.False(connection.TryGetProperty("expires_at", out var expiresAt) && expiresAt.ValueKind != JsonValueKind.Null); // Notion sends no expires_in
    }

    [Fact]
    public async Task Refresh_AfterTheApis401_PostsJsonWithBasicAuth_AndKeepsTheRotatedRefreshToken()
    {
        var (id, _) = await FidelityConnect.ConnectAsync(Server, "notion");
        var firstRefreshToken = Notion.LastRefreshToken;
        var (_, key) = await Server.CreateKeyAsync("default", new { connection = id });
        using var agent = Server.Client(key);
        using (var fresh = await agent.GetAsync($"/v1/proxy/{id}/v1/users/me"))
        {
            Assert.Equal(HttpStatusCode.OK, fresh.StatusCode);
        }

        // Notion documents no lifetime: the API's 401 is the only sign the token stopped working.
        Notion.ExpireAccessTokens();
        var before = Notion.TokenRequests.Count;
        using var afterFirst = await agent.GetAsync($"/v1/proxy/{id}/v1/users/me");

        Assert.Equal(HttpStatusCode.OK, afterFirst.StatusCode);
        var refresh = Notion.TokenRequests.Skip(before).Single();
        Assert.Equal("application/json", refresh.ContentType);
        AssertBasic(refresh);
        Assert.Equal("2022-06-28", refresh.NotionVersion);
        Assert.Equal("refresh_token", refresh.Json!.Value.GetProperty("grant_type").GetString());
        Assert.Equal(firstRefreshToken, refresh.Json.Value.GetProperty("refresh_token").GetString());

        // The first refresh token is spent; only the rotated one, if Valet stored it, refreshes again.
        Notion.ExpireAccessTokens();
        using var afterSecond = await agent.GetAsync($"/v1/proxy/{id}/v1/users/me");
        Assert.Equal(HttpStatusCode.OK, afterSecond.StatusCode);
        Assert.Equal(before + 2, Notion.TokenRequests.Count);

        using var service = Server.Client(Server.ServiceToken);
        var token = await (await service.PostAsync($"/v1/connections/{id}/token", null)).Content.ReadFromJsonAsync<JsonElement>();
        Assert.Equal(Notion.LastAccessToken, token.GetProperty("access_token").GetString());
        Assert.DoesNotContain(NotionFake.ClientSecret, Server.Logs.All, StringComparison.Ordinal);
    }

    [Fact]
    public async Task DeadGrant_NotionsInvalidGrantInItsCodeMember_GivesReauthRequired()
    {
        var (id, _) = await FidelityConnect.ConnectAsync(Server, "notion");
        var (_, key) = await Server.CreateKeyAsync("default", new { connection = id });
        using var agent = Server.Client(key);

        Notion.RevokeGrant();
        using var response = await agent.GetAsync($"/v1/proxy/{id}/v1/users/me");

        Assert.Equal(HttpStatusCode.Conflict, response.StatusCode);
        Assert.Equal("reauth_required", (await response.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("code").GetString());
        using var admin = Server.Client();
        var connection = await admin.GetFromJsonAsync<JsonElement>($"/v1/connections/{id}");
        Assert.Equal("reauth_required", connection.GetProperty("status").GetString());
        Assert.Equal("invalid_grant", connection.GetProperty("status_reason").GetString());
    }

    [Fact]
    public async Task Disconnect_RevokesWithAJsonBodyAndBasicAuth()
    {
        var (id, _) = await FidelityConnect.ConnectAsync(Server, "notion");
        var accessToken = Notion.LastAccessToken;
        var before = Notion.RevokeRequests.Count;
        using var admin = Server.Client();

        (await admin.DeleteAsync($"/v1/connections/{id}")).EnsureSuccessStatusCode();

        var revoke = Assert.Single(Notion.RevokeRequests.Skip(before), r => r.Json?.GetProperty("token").GetString() == accessToken);
        Assert.Equal("application/json", revoke.ContentType);
        AssertBasic(revoke);
        Assert.Equal("2022-06-28", revoke.NotionVersion);
    }

    private static void AssertBasic(RecordedRequest request)
    {
        Assert.StartsWith("Basic ", request.Authorization, StringComparison.Ordinal);
        Assert.Equal($"{NotionFake.ClientId}:{NotionFake.ClientSecret}",
            Encoding.UTF8.GetString(Convert.FromBase64String(request.Authorization!["Basic ".Length..])));
    }
}
