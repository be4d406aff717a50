using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using Valet.Tests.Infrastructure;
using Valet.Tests.Refresh;

namespace Valet.Tests.Providers.Fidelity;

/// <summary>A Valet server whose catalog provider <c>github</c> has its hosts moved onto a <see cref="GitHubFake"/> (quirks untouched).</summary>
public sealed class GitHubServer : IAsyncLifetime
{
    internal GitHubFake GitHub { get; private set; } = null!;

    public ValetTestServer Server { get; private set; } = null!;

    public async Task InitializeAsync()
    {
        GitHub = await GitHubFake.StartAsync();
        var fake = GitHub.BaseUrl.AbsoluteUri.TrimEnd('/');
        Server = await ValetTestServer.StartAsync(new Dictionary<string, string?>
        {
            ["Providers:github:AuthorizationEndpoint"] = fake + "/login/oauth/authorize",
            ["Providers:github:TokenEndpoint"] = fake + "/login/oauth/access_token",
            ["Providers:github:UserInfoEndpoint"] = fake + "/user",
            ["Providers:github:ApiBaseUrl"] = fake,
            ["Providers:github:ClientId"] = GitHubFake.ClientId,
            ["Providers:github:ClientSecret"] = GitHubFake.ClientSecret,
            ["Providers:github:AllowPrivateNetwork"] = "true",
        });
    }

    public async Task DisposeAsync()
    {
        await Server.DisposeAsync();
        await GitHub.DisposeAsync();
    }
}

/// <summary>
/// Issue 15, item 6, quirk family "HTTP-200 errors": github.com answers its token endpoint's errors (<c>bad_verification_code</c>,
/// <c>bad_refresh_token</c>, <c>incorrect_client_credentials</c>) with HTTP 200 and an <c>error</c> member, and answers form-encoded
/// unless asked for JSON; GitHub Apps' user tokens expire after eight hours and rotate their refresh token.
/// </summary>
public sealed class GitHubFidelityTests(GitHubServer fixture) : IClassFixture<GitHubServer>
{
    private GitHubFake GitHub => fixture.GitHub;

    private ValetTestServer Server => fixture.Server;

    [Fact]
    public async Task Connect_PostsTheFormWithTheSecret_AsksForJson_AndKeepsTheEightHourExpiry()
    {
        var before = GitHub.TokenRequests.Count;
        var started = DateTimeOffset.UtcNow;

        var (_, connection) = await FidelityConnect.ConnectAsync(Server, "github");

        var (exchange, accept) = GitHub.TokenRequests.Skip(before).Single();
        Assert.Contains("application/json", accept, StringComparison.Ordinal); // else github.com answers form-encoded
        Assert.Equal("application/x-www-form-urlencoded", exchange.ContentType);
        Assert.Equal(GitHubFake.ClientSecret, exchange.Form["client_secret"]);
        Assert.Equal(GitHubFake.ClientId, exchange.Form["client_id"]);
        Assert.Equal(Server.BaseUrl.AbsoluteUri.TrimEnd('/') + "/oauth/callback", exchange.Form["redirect_uri"]);
        Assert.Null(exchange.Authorization);

        var account = connection.GetProperty("account");
        Assert.Equal(GitHub.LastUser.ToString(System.Globalization.CultureInfo.InvariantCulture), account.GetProperty("id").GetString());
        Assert.Equal($"octocat{GitHub.LastUser}", account.GetProperty("login").GetString());
        var expiresAt = connection.GetProperty("expires_at").GetDateTimeOffset();
        Assert.InRange(expiresAt, started.AddSeconds(28800 - 60), DateTimeOffset.UtcNow.AddSeconds(28800 + 60));
    }

    [Fact]
    public async Task Connect_BadVerificationCodeInAnHttp200_EndsTheFlowInError_AndStoresNothing()
    {
        using var admin = Server.Client();
        var connectionsBefore = (await admin.GetFromJsonAsync<JsonElement>("/v1/orgs/default/connections")).GetArrayLength();
        using var start = await admin.PostAsJsonAsync("/v1/orgs/default/connect", new { provider = "github" });
        var flow = await start.Content.ReadFromJsonAsync<JsonElement>();
        using var browser = new HttpClient(new SocketsHttpHandler { AllowAutoRedirect = false, UseCookies = false });
        using var consent = await browser.GetAsync(flow.GetProperty("authorize_url").GetString());
        var location = consent.Headers.Location!.AbsoluteUri;

        // The code is spent before Valet presents it (a replayed or expired code): GitHub says bad_verification_code, with HTTP 200.
        var code = Microsoft.AspNetCore.WebUtilities.QueryHelpers.ParseQuery(new Uri(location).Query)["code"].ToString();
        using (var spend = new HttpClient())
        {
            await spend.PostAsync(new Uri(GitHub.BaseUrl, "login/oauth/access_token"), new FormUrlEncodedContent(new Dictionary<string, string>
            {
                ["client_id"] = GitHubFake.ClientId, ["client_secret"] = GitHubFake.ClientSecret, ["code"] = code,
            }));
        }

        var answers = GitHub.TokenAnswers.Count;
        using var callback = await browser.GetAsync(location);
        var page = await callback.Content.ReadAsStringAsync();
        var done = await admin.GetFromJsonAsync<JsonElement>($"/v1/flows/{flow.GetProperty("flow_id").GetString()}/wait?timeout=10");

        var answer = GitHub.TokenAnswers.Skip(answers).Single();
        Assert.Equal(200, answer.Status);
        Assert.Contains("bad_verification_code", answer.Body, StringComparison.Ordinal);
        Assert.DoesNotContain("data-success=\"true\"", page, StringComparison.Ordinal);
        Assert.Equal("error", done.GetProperty("status").GetString());
        Assert.Equal("token_exchange_failed", done.GetProperty("error").GetString());
        Assert.Equal(connectionsBefore, (await admin.GetFromJsonAsync<JsonElement>("/v1/orgs/default/connections")).GetArrayLength());
    }

    [Fact]
    public async Task Refresh_ByExpiry_PostsTheRefreshGrantWithTheSecret_AndUsesTheRotatedRefreshTokenNextTime()
    {
        var (id, _) = await FidelityConnect.ConnectAsync(Server, "github");
        var firstRefreshToken = GitHub.LastRefreshToken;
        var (_, key) = await Server.CreateKeyAsync("default", new { connection = id });
        using var agent = Server.Client(key);

        // Eight hours pass: Valet refreshes before handing out the token.
        await RefreshKit.ExpireAsync(Server.Services, id);
        GitHub.ExpireAccessTokens();
        var before = GitHub.TokenRequests.Count;
        using var first = await agent.PostAsync($"/v1/connections/{id}/token", null);

        Assert.Equal(HttpStatusCode.OK, first.StatusCode);
        var (refresh, accept) = GitHub.TokenRequests.Skip(before).Single();
        Assert.Contains("application/json", accept, StringComparison.Ordinal);
        Assert.Equal("refresh_token", refresh.Form["grant_type"]);
        Assert.Equal(firstRefreshToken, refresh.Form["refresh_token"]);
        Assert.Equal(GitHubFake.ClientSecret, refresh.Form["client_secret"]);
        Assert.Equal(GitHub.LastAccessToken, (await first.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("access_token").GetString());

        // The first refresh token is spent; only the rotated one refreshes again — and the proxy reaches /user with the new token.
        await RefreshKit.ExpireAsync(Server.Services, id);
        using var viaProxy = await agent.GetAsync($"/v1/proxy/{id}/user");
        Assert.Equal(HttpStatusCode.OK, viaProxy.StatusCode);
        Assert.Equal(before + 2, GitHub.TokenRequests.Count);
        Assert.Equal(200, GitHub.TokenAnswers.Last().Status);
        Assert.DoesNotContain("\"error\"", GitHub.TokenAnswers.Last().Body, StringComparison.Ordinal);
        Assert.DoesNotContain(GitHubFake.ClientSecret, Server.Logs.All, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Refresh_AfterTheApis401_UsesTheRefreshToken_AndRetriesTheCall()
    {
        var (id, _) = await FidelityConnect.ConnectAsync(Server, "github");
        var (_, key) = await Server.CreateKeyAsync("default", new { connection = id });
        using var agent = Server.Client(key);

        GitHub.ExpireAccessTokens(); // the stored expiry has not passed, but github.com says "Bad credentials"
        var before = GitHub.TokenRequests.Count;
        using var response = await agent.GetAsync($"/v1/proxy/{id}/user");

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal("refresh_token", GitHub.TokenRequests.Skip(before).Single().Request.Form["grant_type"]);
    }

    [Fact]
    public async Task DeadGrant_BadRefreshTokenInAnHttp200_GivesReauthRequired_NotATokenOrAnOutage()
    {
        var (id, _) = await FidelityConnect.ConnectAsync(Server, "github");
        var (_, key) = await Server.CreateKeyAsync("default", new { connection = id });
        using var agent = Server.Client(key);
        await RefreshKit.ExpireAsync(Server.Services, id);
        GitHub.RevokeGrant();
        var answers = GitHub.TokenAnswers.Count;

        using var response = await agent.PostAsync($"/v1/connections/{id}/token", null);

        var answer = GitHub.TokenAnswers.Skip(answers).Single();
        Assert.Equal(200, answer.Status); // GitHub's way: the error is in the body
        Assert.Contains("bad_refresh_token", answer.Body, StringComparison.Ordinal);
        Assert.Equal(HttpStatusCode.Conflict, response.StatusCode);
        var envelope = await response.Content.ReadFromJsonAsync<JsonElement>();
        Assert.Equal("reauth_required", envelope.GetProperty("code").GetString());
        Assert.Equal("invalid_grant", envelope.GetProperty("reason").GetString()); // GitHub's spelling, read as the RFC 6749 code
        Assert.Equal(id, envelope.GetProperty("connection_id").GetString());
        using var admin = Server.Client();
        var connection = await admin.GetFromJsonAsync<JsonElement>($"/v1/connections/{id}");
        Assert.Equal("reauth_required", connection.GetProperty("status").GetString());
    }

    [Fact]
    public async Task Outage_DuringRefresh_IsProviderUnavailableWithRetryAfter_AndTheConnectionStaysActive()
    {
        var (id, _) = await FidelityConnect.ConnectAsync(Server, "github");
        var (_, key) = await Server.CreateKeyAsync("default", new { connection = id });
        using var agent = Server.Client(key);
        await RefreshKit.ExpireAsync(Server.Services, id);
        GitHub.Outage = 503;
        try
        {
            using var response = await agent.PostAsync($"/v1/connections/{id}/token", null);

            Assert.Contains(response.StatusCode, new[] { HttpStatusCode.BadGateway, HttpStatusCode.GatewayTimeout });
            Assert.Equal("provider_unavailable", (await response.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("code").GetString());
            Assert.NotNull(response.Headers.RetryAfter?.Delta);
            using var admin = Server.Client();
            var connection = await admin.GetFromJsonAsync<JsonElement>($"/v1/connections/{id}");
            Assert.Equal("active", connection.GetProperty("status").GetString());
        }
        finally
        {
            GitHub.Outage = null;
        }
    }
}
