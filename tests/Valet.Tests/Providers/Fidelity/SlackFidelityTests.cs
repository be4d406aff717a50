using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using Microsoft.AspNetCore.WebUtilities;
using Valet.Tests.Infrastructure;
using Valet.Tests.Refresh;

namespace Valet.Tests.Providers.Fidelity;

/// <summary>A Valet server whose catalog provider <c>slack</c> has its hosts moved onto a <see cref="SlackFake"/> (quirks untouched).</summary>
public sealed class SlackServer : IAsyncLifetime
{
    internal SlackFake Slack { get; private set; } = null!;

    public ValetTestServer Server { get; private set; } = null!;

    public async Task InitializeAsync()
    {
        Slack = await SlackFake.StartAsync();
        var fake = Slack.BaseUrl.AbsoluteUri.TrimEnd('/');
        Server = await ValetTestServer.StartAsync(new Dictionary<string, string?>
        {
            ["Providers:slack:AuthorizationEndpoint"] = fake + "/oauth/v2/authorize",
            ["Providers:slack:TokenEndpoint"] = fake + "/api/oauth.v2.access",
            ["Providers:slack:RevocationEndpoint"] = fake + "/api/auth.revoke",
            ["Providers:slack:UserInfoEndpoint"] = fake + "/api/auth.test",
            ["Providers:slack:ApiBaseUrl"] = fake + "/api",
            ["Providers:slack:ClientId"] = SlackFake.ClientId,
            ["Providers:slack:ClientSecret"] = SlackFake.ClientSecret,
            ["Providers:slack:AllowPrivateNetwork"] = "true",
        });
    }

    public async Task DisposeAsync()
    {
        await Server.DisposeAsync();
        await Slack.DisposeAsync();
    }
}

/// <summary>
/// Issue 15, item 6, quirk family "nested tokens": Slack's oauth.v2.access puts a user token under <c>authed_user</c> (with its
/// rotation's <c>refresh_token</c> and <c>expires_in</c>), answers a refresh at the top level, and reports every error as HTTP 200
/// with <c>ok: false</c>.
/// </summary>
public sealed class SlackFidelityTests(SlackServer fixture) : IClassFixture<SlackServer>
{
    private SlackFake Slack => fixture.Slack;

    private ValetTestServer Server => fixture.Server;

    [Fact]
    public async Task Connect_AsksForUserScopes_ReadsTheTokenUnderAuthedUser_AndAuthTestNamesTheAccount()
    {
        var before = Slack.TokenRequests.Count;
        var started = DateTimeOffset.UtcNow;

        var (id, connection) = await FidelityConnect.ConnectAsync(Server, "slack");

        var authorize = QueryHelpers.ParseQuery(Slack.AuthorizeQueries.Last());
        Assert.Equal("users:read", authorize["user_scope"].ToString());
        Assert.False(authorize.ContainsKey("scope")); // no bot scopes: no bot token at the top level
        var exchange = Slack.TokenRequests.Skip(before).Single();
        Assert.Equal("application/x-www-form-urlencoded", exchange.ContentType);
        Assert.Equal(SlackFake.ClientSecret, exchange.Form["client_secret"]);
        Assert.Equal(Server.BaseUrl.AbsoluteUri.TrimEnd('/') + "/oauth/callback", exchange.Form["redirect_uri"]);

        Assert.Equal(Slack.LastUser, connection.GetProperty("account").GetProperty("id").GetString());
        Assert.Equal("grace" + Slack.LastUser![^3..], connection.GetProperty("account").GetProperty("login").GetString());
        Assert.InRange(connection.GetProperty("expires_at").GetDateTimeOffset(), started.AddSeconds(43200 - 60), DateTimeOffset.UtcNow.AddSeconds(43200 + 60));

        // The token handed out is the nested user token, not a (missing) top-level one.
        using var service = Server.Client(Server.ServiceToken);
        var token = await (await service.PostAsync($"/v1/connections/{id}/token", null)).Content.ReadFromJsonAsync<JsonElement>();
        Assert.Equal(Slack.LastAccessToken, token.GetProperty("access_token").GetString());
    }

    [Fact]
    public async Task Refresh_ByExpiry_SendsTheNestedRefreshToken_ReadsTheTopLevelAnswer_AndKeepsTheRotatedOne()
    {
        var (id, _) = await FidelityConnect.ConnectAsync(Server, "slack");
        var firstRefreshToken = Slack.LastRefreshToken;
        var (_, key) = await Server.CreateKeyAsync("default", new { connection = id });
        using var agent = Server.Client(key);

        // Slack's expired token is an HTTP 200 {"ok":false,"error":"token_expired"}, never a 401: the expiry is what triggers the refresh.
        await RefreshKit.ExpireAsync(Server.Services, id);
        Slack.ExpireAccessTokens();
        var before = Slack.TokenRequests.Count;
        using var first = await agent.GetAsync($"/v1/proxy/{id}/users.info?user={Slack.LastUser}");

        Assert.Equal(HttpStatusCode.OK, first.StatusCode);
        Assert.True((await first.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("ok").GetBoolean());
        var refresh = Slack.TokenRequests.Skip(before).Single();
        Assert.Equal("refresh_token", refresh.Form["grant_type"]);
        Assert.Equal(firstRefreshToken, refresh.Form["refresh_token"]);
        Assert.Equal(SlackFake.ClientSecret, refresh.Form["client_secret"]);

        // The first refresh token was revoked by its use; the second round works only with the rotated one Valet stored.
        await RefreshKit.ExpireAsync(Server.Services, id);
        Slack.ExpireAccessTokens();
        using var second = await agent.PostAsync($"/v1/connections/{id}/token", null);
        Assert.Equal(HttpStatusCode.OK, second.StatusCode);
        Assert.Equal(Slack.LastAccessToken, (await second.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("access_token").GetString());
        Assert.Equal(before + 2, Slack.TokenRequests.Count);
        Assert.DoesNotContain("\"ok\":false", Slack.TokenAnswers.Last().Body, StringComparison.Ordinal);
        Assert.DoesNotContain(SlackFake.ClientSecret, Server.Logs.All, StringComparison.Ordinal);
    }

    [Fact]
    public async Task DeadGrant_OkFalseInvalidRefreshTokenWithHttp200_GivesReauthRequired()
    {
        var (id, _) = await FidelityConnect.ConnectAsync(Server, "slack");
        var (_, key) = await Server.CreateKeyAsync("default", new { connection = id });
        using var agent = Server.Client(key);
        await RefreshKit.ExpireAsync(Server.Services, id);
        Slack.RevokeGrant();
        var answers = Slack.TokenAnswers.Count;

        using var response = await agent.PostAsync($"/v1/connections/{id}/token", null);

        var answer = Slack.TokenAnswers.Skip(answers).Single();
        Assert.Equal(200, answer.Status);
        Assert.Equal("""{"ok":false,"error":"invalid_refresh_token"}""", answer.Body);
        Assert.Equal(HttpStatusCode.Conflict, response.StatusCode);
        var envelope = await response.Content.ReadFromJsonAsync<JsonElement>();
        Assert.Equal("reauth_required", envelope.GetProperty("code").GetString());
        Assert.Equal(id, envelope.GetProperty("connection_id").GetString());
        using var admin = Server.Client();
        Assert.Equal("reauth_required", (await admin.GetFromJsonAsync<JsonElement>($"/v1/connections/{id}")).GetProperty("status").GetString());
    }

    [Fact]
    public async Task Outage_DuringRefresh_IsProviderUnavailableWithRetryAfter_AndTheConnectionStaysActive()
    {
        var (id, _) = await FidelityConnect.ConnectAsync(Server, "slack");
        var (_, key) = await Server.CreateKeyAsync("default", new { connection = id });
        using var agent = Server.Client(key);
        await RefreshKit.ExpireAsync(Server.Services, id);
        Slack.Outage = 503;
        try
        {
            using var response = await agent.GetAsync($"/v1/proxy/{id}/users.info");

            Assert.Contains(response.StatusCode, new[] { HttpStatusCode.BadGateway, HttpStatusCode.GatewayTimeout });
            Assert.Equal("provider_unavailable", (await response.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("code").GetString());
            Assert.NotNull(response.Headers.RetryAfter?.Delta);
            using var admin = Server.Client();
            Assert.Equal("active", (await admin.GetFromJsonAsync<JsonElement>($"/v1/connections/{id}")).GetProperty("status").GetString());
        }
        finally
        {
            Slack.Outage = null;
        }
    }

    [Fact]
    public async Task Disconnect_RevokesWithAuthRevoke_TheTokenStopsWorking()
    {
        var (id, _) = await FidelityConnect.ConnectAsync(Server, "slack");
        var accessToken = Slack.LastAccessToken!;
        using var admin = Server.Client();

        (await admin.DeleteAsync($"/v1/connections/{id}")).EnsureSuccessStatusCode();

        using var probe = new HttpClient();
        probe.DefaultRequestHeaders.Authorization = new System.Net.Http.Headers.AuthenticationHeaderValue("Bearer", accessToken);
        var test = await (await probe.PostAsync(new Uri(Slack.BaseUrl, "api/auth.test"), null)).Content.ReadFromJsonAsync<JsonElement>();
        Assert.False(test.GetProperty("ok").GetBoolean());
    }
}
