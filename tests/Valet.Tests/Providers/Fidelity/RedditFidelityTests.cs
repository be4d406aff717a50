using System.Net;
using System.Net.Http.Json;
using System.Text;
using System.Text.Json;
using Valet.Tests.Infrastructure;
using Valet.Tests.Refresh;

namespace Valet.Tests.Providers.Fidelity;

/// <summary>A Valet server whose catalog provider <c>reddit</c> has its hosts moved onto a <see cref="RedditFake"/> (quirks untouched).</summary>
public sealed class RedditServer : IAsyncLifetime
{
    internal RedditFake Reddit { get; private set; } = null!;

    public ValetTestServer Server { get; private set; } = null!;

    public async Task InitializeAsync()
    {
        Reddit = await RedditFake.StartAsync();
        var fake = Reddit.BaseUrl.AbsoluteUri.TrimEnd('/');
        Server = await ValetTestServer.StartAsync(new Dictionary<string, string?>
        {
            ["Providers:reddit:AuthorizationEndpoint"] = fake + "/api/v1/authorize",
            ["Providers:reddit:TokenEndpoint"] = fake + "/api/v1/access_token",
            ["Providers:reddit:RevocationEndpoint"] = fake + "/api/v1/revoke_token",
            ["Providers:reddit:UserInfoEndpoint"] = fake + "/api/v1/me",
            ["Providers:reddit:ApiBaseUrl"] = fake,
            ["Providers:reddit:ClientId"] = RedditFake.ClientId,
            ["Providers:reddit:ClientSecret"] = RedditFake.ClientSecret,
            ["Providers:reddit:AllowPrivateNetwork"] = "true",
        });
    }

    public async Task DisposeAsync()
    {
        await Server.DisposeAsync();
        await Reddit.DisposeAsync();
    }
}

/// <summary>
/// Issue 15, item 6, quirk family "Basic-only clients": Reddit takes its client id and secret only as HTTP Basic (a secret in the
/// body is a 401), gives a refresh token only for <c>duration=permanent</c>, and keeps the refresh token across refreshes.
/// </summary>
public sealed class RedditFidelityTests(RedditServer fixture) : IClassFixture<RedditServer>
{
    private RedditFake Reddit => fixture.Reddit;

    private ValetTestServer Server => fixture.Server;

    [Fact]
    public async Task Connect_AsksForAPermanentGrant_AndAuthenticatesWithBasicOnly()
    {
        var before = Reddit.TokenRequests.Count;

        var (_, connection) = await FidelityConnect.ConnectAsync(Server, "reddit");

        Assert.Equal("permanent", Reddit.Durations.Last());
        var exchange = Reddit.TokenRequests.Skip(before).Single();
        AssertBasicOnly(exchange);
        Assert.Equal("authorization_code", exchange.Form["grant_type"]);
        Assert.Equal(Reddit.LastUser, connection.GetProperty("account").GetProperty("id").GetString());
        Assert.Equal("spez_" + Reddit.LastUser, connection.GetProperty("account").GetProperty("login").GetString());
    }

    [Fact]
    public async Task Refresh_AfterTheApis401_IsBasicOnly_AndKeepsTheRefreshTokenRedditDidNotReplace()
    {
        var (id, _) = await FidelityConnect.ConnectAsync(Server, "reddit");
        var refreshToken = Reddit.LastRefreshToken;
        var (_, key) = await Server.CreateKeyAsync("default", new { connection = id });
        using var agent = Server.Client(key);

        for (var round = 0; round < 2; round++)
        {
            Reddit.ExpireAccessTokens();
            var before = Reddit.TokenRequests.Count;
            using var response = await agent.GetAsync($"/v1/proxy/{id}/api/v1/me");

            Assert.Equal(HttpStatusCode.OK, response.StatusCode);
            var refresh = Reddit.TokenRequests.Skip(before).Single();
            AssertBasicOnly(refresh);
            Assert.Equal(refreshToken, refresh.Form["refresh_token"]); // the answer had no refresh_token: the stored one stays
        }
    }

    [Fact]
    public async Task DeadGrant_InvalidGrant_GivesReauthRequired()
    {
        var (id, _) = await FidelityConnect.ConnectAsync(Server, "reddit");
        var (_, key) = await Server.CreateKeyAsync("default", new { connection = id });
        using var agent = Server.Client(key);
        await RefreshKit.ExpireAsync(Server.Services, id);
        Reddit.RevokeGrant();

        using var response = await agent.PostAsync($"/v1/connections/{id}/token", null);

        Assert.Equal(HttpStatusCode.Conflict, response.StatusCode);
        var envelope = await response.Content.ReadFromJsonAsync<JsonElement>();
        Assert.Equal("reauth_required", envelope.GetProperty("code").GetString());
        Assert.Equal("invalid_grant", envelope.GetProperty("reason").GetString());
    }

    [Fact]
    public async Task Outage_DuringRefresh_IsProviderUnavailableWithRetryAfter()
    {
        var (id, _) = await FidelityConnect.ConnectAsync(Server, "reddit");
        var (_, key) = await Server.CreateKeyAsync("default", new { connection = id });
        using var agent = Server.Client(key);
        await RefreshKit.ExpireAsync(Server.Services, id);
        Reddit.Outage = 503;
        try
        {
            using var response = await agent.PostAsync($"/v1/connections/{id}/token", null);

            Assert.Contains(response.StatusCode, new[] { HttpStatusCode.BadGateway, HttpStatusCode.GatewayTimeout });
            Assert.Equal("provider_unavailable", (await response.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("code").GetString());
            Assert.NotNull(response.Headers.RetryAfter?.Delta);
        }
        finally
        {
            Reddit.Outage = null;
        }
    }

    [Fact]
    public async Task Disconnect_RevokesWithBasic()
    {
        var (id, _) = await FidelityConnect.ConnectAsync(Server, "reddit");
        var before = Reddit.RevokeRequests.Count;
        using var admin = Server.Client();

        (await admin.DeleteAsync($"/v1/connections/{id}")).EnsureSuccessStatusCode();

        var revokes = Reddit.RevokeRequests.Skip(before).ToList();
        Assert.NotEmpty(revokes);
        Assert.All(revokes, AssertBasicOnly);
    }

    private static void AssertBasicOnly(RecordedRequest request)
    {
        Assert.StartsWith("Basic ", request.Authorization, StringComparison.Ordinal);
        Assert.Equal($"{RedditFake.ClientId}:{RedditFake.ClientSecret}", Encoding.UTF8.GetString(Convert.FromBase64String(request.Authorization!["Basic ".Length..])));
        Assert.False(request.Form.ContainsKey("client_secret"));
        Assert.False(request.Form.ContainsKey("client_id"));
    }
}
