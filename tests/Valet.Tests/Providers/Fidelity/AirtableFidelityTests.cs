using System.Net;
using System.Net.Http.Json;
using System.Text;
using System.Text.Json;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Time.Testing;
using Valet.Tests.Infrastructure;

namespace Valet.Tests.Providers.Fidelity;

/// <summary>
/// A Valet server whose catalog provider <c>airtable-oauth</c> has its hosts moved onto an <see cref="AirtableFake"/> (quirks
/// untouched), on a fake clock so that an hour-long token can expire within a test.
/// </summary>
public sealed class AirtableServer : IAsyncLifetime
{
    internal AirtableFake Airtable { get; private set; } = null!;

    public FakeTimeProvider Time { get; } = new(DateTimeOffset.UtcNow);

    public ValetTestServer Server { get; private set; } = null!;

    public async Task InitializeAsync()
    {
        Airtable = await AirtableFake.StartAsync();
        var fake = Airtable.BaseUrl.AbsoluteUri.TrimEnd('/');
        Server = await ValetTestServer.StartAsync(new Dictionary<string, string?>
        {
            ["Providers:airtable-oauth:AuthorizationEndpoint"] = fake + "/oauth2/v1/authorize",
            ["Providers:airtable-oauth:TokenEndpoint"] = fake + "/oauth2/v1/token",
            ["Providers:airtable-oauth:UserInfoEndpoint"] = fake + "/v0/meta/whoami",
            ["Providers:airtable-oauth:ApiBaseUrl"] = fake + "/v0",
            ["Providers:airtable-oauth:ClientId"] = AirtableFake.ClientId,
            ["Providers:airtable-oauth:ClientSecret"] = AirtableFake.ClientSecret,
            ["Providers:airtable-oauth:AllowPrivateNetwork"] = "true",
        }, configure: builder => builder.Services.AddSingleton<TimeProvider>(Time));
    }

    public async Task DisposeAsync()
    {
        await Server.DisposeAsync();
        await Airtable.DisposeAsync();
    }
}

/// <summary>
/// Issue 15, item 6, quirk family "rotating refresh tokens with a Basic-only client": Airtable requires PKCE, authenticates a
/// confidential integration with HTTP Basic only, and spends each refresh token on use. Connect, token route, refresh (by
/// expiry and after the API's 401), dead grant and outage, all through the real server.
/// </summary>
public sealed class AirtableFidelityTests(AirtableServer fixture) : IClassFixture<AirtableServer>
{
    private static readonly TimeSpan PastExpiry = TimeSpan.FromSeconds(AirtableFake.AccessTokenLifetime) + TimeSpan.FromMinutes(1);

    private AirtableFake Airtable => fixture.Airtable;

    private ValetTestServer Server => fixture.Server;

    [Fact]
    public async Task Connect_SendsPkceAndAScope_ExchangesWithBasicOnly_AndRecordsTheHourLifetime()
    {
        var before = Airtable.TokenRequests.Count;

        var (_, connection) = await FidelityConnect.ConnectAsync(Server, "airtable-oauth");

        var authorize = Airtable.AuthorizeRequests.Last();
        Assert.Equal("S256", authorize["code_challenge_method"]);
        Assert.Equal("user.email:read", authorize["scope"]); // "You must request at least one scope"
        var exchange = Airtable.TokenRequests.Skip(before).Single();
        Assert.StartsWith("application/x-www-form-urlencoded", exchange.ContentType, StringComparison.Ordinal);
        AssertBasic(exchange);
        Assert.Equal("authorization_code", exchange.Form["grant_type"]);
        Assert.False(exchange.Form.ContainsKey("client_secret"));
        Assert.Equal(Server.BaseUrl.AbsoluteUri.TrimEnd('/') + "/oauth/callback", exchange.Form["redirect_uri"]);
        Assert.InRange(exchange.Form["code_verifier"].Length, 43, 128); // RFC 7636 §4.1; the fake checked it against the challenge

        Assert.Equal(Airtable.LastUser, connection.GetProperty("account").GetProperty("id").GetString());
        Assert.Equal("ada@example.com", connection.GetProperty("account").GetProperty("email").GetString());
        var expiresAt = connection.GetProperty("expires_at").GetDateTimeOffset();
        Assert.Equal(fixture.Time.GetUtcNow().AddSeconds(AirtableFake.AccessTokenLifetime), expiresAt, TimeSpan.FromSeconds(1));
    }

    [Fact]
    public async Task Refresh_ByExpiry_OnTheTokenRoute_PostsWithBasic_AndEachRefreshUsesTheRotatedToken()
    {
        var (id, _) = await FidelityConnect.ConnectAsync(Server, "airtable-oauth");
        using var service = Server.Client(Server.ServiceToken);
        var user = Airtable.LastUser!;
        var reusedBefore = Airtable.ReusedRefreshTokens;

        // Fresh: served as stored, no call to Airtable.
        var (first, _) = Airtable.Latest(user);
        Assert.Equal(first, await AccessTokenAsync(service, id));

        for (var round = 0; round < 2; round++)
        {
            var (_, spent) = Airtable.Latest(user);
            fixture.Time.Advance(PastExpiry);

            var token = await AccessTokenAsync(service, id);

            var refresh = Assert.Single(Airtable.TokenRequests, r => r.Form.GetValueOrDefault("refresh_token") == spent);
            AssertBasic(refresh);
            Assert.Equal("refresh_token", refresh.Form["grant_type"]);
            Assert.False(refresh.Form.ContainsKey("client_secret"));
            Assert.NotEqual(spent, Airtable.Latest(user).RefreshToken);
            Assert.Equal(Airtable.Latest(user).AccessToken, token);
        }

        // Had Valet kept the first refresh token, the second round would have presented a spent one.
        Assert.Equal(reusedBefore, Airtable.ReusedRefreshTokens);
        Assert.NotEqual(first, await AccessTokenAsync(service, id));
        Assert.DoesNotContain(AirtableFake.ClientSecret, Server.Logs.All, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Refresh_AfterTheApis401_ThroughTheProxy_RetriesWithTheNewToken()
    {
        var (id, _) = await FidelityConnect.ConnectAsync(Server, "airtable-oauth");
        var user = Airtable.LastUser!;
        var (_, spent) = Airtable.Latest(user);
        var (_, key) = await Server.CreateKeyAsync("default", new { connection = id });
        using var agent = Server.Client(key);

        Airtable.ExpireAccessTokens(user);
        using var response = await agent.GetAsync($"/v1/proxy/{id}/meta/whoami");

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal(user, (await response.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("id").GetString());
        AssertBasic(Assert.Single(Airtable.TokenRequests, r => r.Form.GetValueOrDefault("refresh_token") == spent));
    }

    [Fact]
    public async Task DeadGrant_InvalidGrantOnRefresh_GivesReauthRequired_OnTheTokenRouteAndTheProxy()
    {
        var (id, _) = await FidelityConnect.ConnectAsync(Server, "airtable-oauth");
        var (_, key) = await Server.CreateKeyAsync("default", new { connection = id });
        using var agent = Server.Client(key);
        using var service = Server.Client(Server.ServiceToken);

        Airtable.RevokeGrant(Airtable.LastUser!);
        fixture.Time.Advance(PastExpiry);
        using var token = await service.PostAsync($"/v1/connections/{id}/token", null);
        using var proxied = await agent.GetAsync($"/v1/proxy/{id}/meta/whoami");

        foreach (var response in new[] { token, proxied })
        {
            Assert.Equal(HttpStatusCode.Conflict, response.StatusCode);
            Assert.Equal("reauth_required", (await response.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("code").GetString());
        }

        using var admin = Server.Client();
        var connection = await admin.GetFromJsonAsync<JsonElement>($"/v1/connections/{id}");
        Assert.Equal("reauth_required", connection.GetProperty("status").GetString());
        Assert.Equal("invalid_grant", connection.GetProperty("status_reason").GetString());
    }

    [Fact]
    public async Task Outage_DuringTheRefresh_IsProviderUnavailableWithRetryAfter_AndTheConnectionHealsAfterwards()
    {
        var (id, _) = await FidelityConnect.ConnectAsync(Server, "airtable-oauth");
        var (_, key) = await Server.CreateKeyAsync("default", new { connection = id });
        using var agent = Server.Client(key);
        using var service = Server.Client(Server.ServiceToken);
        var user = Airtable.LastUser!;
        var (_, spent) = Airtable.Latest(user);

        Airtable.Outage = 503;
        try
        {
            fixture.Time.Advance(PastExpiry);
            using var token = await service.PostAsync($"/v1/connections/{id}/token", null);
            using var proxied = await agent.GetAsync($"/v1/proxy/{id}/meta/whoami");

            foreach (var response in new[] { token, proxied })
            {
                Assert.Equal(HttpStatusCode.BadGateway, response.StatusCode);
                Assert.Equal("provider_unavailable", (await response.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("code").GetString());
                Assert.NotNull(response.Headers.RetryAfter);
            }
        }
        finally
        {
            Airtable.Outage = null;
        }

        using var admin = Server.Client();
        Assert.Equal("active", (await admin.GetFromJsonAsync<JsonElement>($"/v1/connections/{id}")).GetProperty("status").GetString());

        // Airtable never saw a successful refresh: the stored refresh token is still the unspent one, and works.
        fixture.Time.Advance(TimeSpan.FromMinutes(20)); // past any backoff
        var healed = await AccessTokenAsync(service, id);
        Assert.Equal(Airtable.Latest(user).AccessToken, healed);
        Assert.Contains(Airtable.TokenRequests, r => r.Form.GetValueOrDefault("refresh_token") == spent);
    }

    private static async Task<string> AccessTokenAsync(HttpClient service, string id)
    {
        using var response = await service.PostAsync($"/v1/connections/{id}/token", null);
        var body = await response.Content.ReadFromJsonAsync<JsonElement>();
        Assert.True(response.IsSuccessStatusCode, body.ToString());
        return body.GetProperty("access_token").GetString()!;
    }

    private static void AssertBasic(RecordedRequest request)
    {
        Assert.StartsWith("Basic ", request.Authorization, StringComparison.Ordinal);
        Assert.Equal($"{AirtableFake.ClientId}:{AirtableFake.ClientSecret}",
            Encoding.UTF8.GetString(Convert.FromBase64String(request.Authorization!["Basic ".Length..])));
    }
}
