using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using Valet.Tests.Infrastructure;

namespace Valet.Tests.Providers.Fidelity;

/// <summary>A Valet server whose catalog provider <c>todoist</c> has its hosts moved onto a <see cref="TodoistFake"/> (quirks untouched).</summary>
public sealed class TodoistServer : IAsyncLifetime
{
    internal TodoistFake Todoist { get; private set; } = null!;

    public ValetTestServer Server { get; private set; } = null!;

    public async Task InitializeAsync()
    {
        Todoist = await TodoistFake.StartAsync();
        var fake = Todoist.BaseUrl.AbsoluteUri.TrimEnd('/');
        Server = await ValetTestServer.StartAsync(new Dictionary<string, string?>
        {
            ["Providers:todoist:AuthorizationEndpoint"] = fake + "/oauth/authorize",
            ["Providers:todoist:TokenEndpoint"] = fake + "/oauth/access_token",
            ["Providers:todoist:UserInfoEndpoint"] = fake + "/api/v1/user",
            ["Providers:todoist:ApiBaseUrl"] = fake + "/api/v1",
            ["Providers:todoist:ClientId"] = TodoistFake.ClientId,
            ["Providers:todoist:ClientSecret"] = TodoistFake.ClientSecret,
            ["Providers:todoist:AllowPrivateNetwork"] = "true",
        });
    }

    public async Task DisposeAsync()
    {
        await Server.DisposeAsync();
        await Todoist.DisposeAsync();
    }
}

/// <summary>
/// Issue 15, item 6, quirk family "non-expiring tokens": Todoist answers an access token with neither a refresh token nor an
/// <c>expires_in</c>. Valet stores it without an expiry (Refresh:NoExpiryPolicy NonExpiring, docs/refresh.md), serves it as
/// long as it lives, never calls the token endpoint again, and turns the API's 401 into the reauth_required envelope
/// (no_refresh_token, not persisted: docs/refresh.md step 6).
/// </summary>
public sealed class TodoistFidelityTests(TodoistServer fixture) : IClassFixture<TodoistServer>
{
    private TodoistFake Todoist => fixture.Todoist;

    private ValetTestServer Server => fixture.Server;

    [Fact]
    public async Task Connect_JoinsScopesWithCommas_PostsTheSecretInTheForm_AndStoresNoExpiryNorRefreshToken()
    {
        var before = Todoist.TokenRequests.Count;

        var (_, connection) = await FidelityConnect.ConnectAsync(Server, "todoist", scopes: ["data:read", "task:add"]);

        Assert.Equal("data:read,task:add", Todoist.AuthorizeRequests.Last()["scope"]);
        var exchange = Todoist.TokenRequests.Skip(before).Single();
        Assert.StartsWith("application/x-www-form-urlencoded", exchange.ContentType, StringComparison.Ordinal);
        Assert.Null(exchange.Authorization);
        Assert.Equal(TodoistFake.ClientId, exchange.Form["client_id"]);
        Assert.Equal(TodoistFake.ClientSecret, exchange.Form["client_secret"]);

        Assert.Equal(Todoist.LastUser, connection.GetProperty("account").GetProperty("id").GetString());
        Assert.Equal("grace@example.com", connection.GetProperty("account").GetProperty("email").GetString());
        Assert.Equal("active", connection.GetProperty("status").GetString());
        Assert.False(connection.TryGetProperty("expires_at", out var expiresAt) && expiresAt.ValueKind != JsonValueKind.Null);
    }

    [Fact]
    public async Task TokenRoute_KeepsServingTheSameToken_WithoutEverCallingTheTokenEndpoint()
    {
        var (id, _) = await FidelityConnect.ConnectAsync(Server, "todoist");
        var issued = Todoist.TokenOf(Todoist.LastUser!);
        var before = Todoist.TokenRequests.Count;
        using var service = Server.Client(Server.ServiceToken);

        for (var i = 0; i < 3; i++)
        {
            using var response = await service.PostAsync($"/v1/connections/{id}/token", null);
            var body = await response.Content.ReadFromJsonAsync<JsonElement>();

            Assert.Equal(HttpStatusCode.OK, response.StatusCode);
            Assert.Equal(issued, body.GetProperty("access_token").GetString());
            Assert.False(body.TryGetProperty("expires_at", out var expiresAt) && expiresAt.ValueKind != JsonValueKind.Null);
        }

        var (_, key) = await Server.CreateKeyAsync("default", new { connection = id });
        using var agent = Server.Client(key);
        using var proxied = await agent.GetAsync($"/v1/proxy/{id}/user");
        Assert.Equal(HttpStatusCode.OK, proxied.StatusCode);
        Assert.Equal(before, Todoist.TokenRequests.Count);
    }

    [Fact]
    public async Task DeadGrant_TheApis401_CannotBeRefreshed_AndIsTheReauthEnvelope_WithoutATokenCall()
    {
        var (id, _) = await FidelityConnect.ConnectAsync(Server, "todoist");
        var (_, key) = await Server.CreateKeyAsync("default", new { connection = id });
        using var agent = Server.Client(key);
        var before = Todoist.TokenRequests.Count;

        Todoist.RevokeGrant(Todoist.LastUser!);
        using var response = await agent.GetAsync($"/v1/proxy/{id}/user");

        Assert.Equal(HttpStatusCode.Conflict, response.StatusCode);
        Assert.Equal("application/problem+json", response.Content.Headers.ContentType?.MediaType);
        var envelope = await response.Content.ReadFromJsonAsync<JsonElement>();
        Assert.Equal("reauth_required", envelope.GetProperty("code").GetString());
        Assert.Equal("todoist", envelope.GetProperty("provider").GetString());
        Assert.Equal(id, envelope.GetProperty("connection_id").GetString());
        Assert.Equal("no_refresh_token", envelope.GetProperty("reason").GetString());
        Assert.Equal(before, Todoist.TokenRequests.Count); // nothing to refresh with: the token endpoint is not called

        // One 401 is weaker evidence than a provider's invalid_grant: the connection is not marked dead (docs/refresh.md, step 6).
        using var admin = Server.Client();
        Assert.Equal("active", (await admin.GetFromJsonAsync<JsonElement>($"/v1/connections/{id}")).GetProperty("status").GetString());
    }

    [Fact]
    public async Task Outage_AtTheCodeExchange_FailsTheFlowAsProviderUnavailable_AndAnApiOutageIsPassedOnWithoutARefresh()
    {
        using var admin = Server.Client();
        var connectionsBefore = (await admin.GetFromJsonAsync<JsonElement>("/v1/orgs/default/connections")).GetArrayLength();
        Todoist.TokenOutage = 503;
        try
        {
            using var started = await admin.PostAsJsonAsync("/v1/orgs/default/connect", new { provider = "todoist" });
            var flow = await started.Content.ReadFromJsonAsync<JsonElement>();
            using var browser = new HttpClient(new SocketsHttpHandler { AllowAutoRedirect = false, UseCookies = false });
            using var consent = await browser.GetAsync(flow.GetProperty("authorize_url").GetString());
            using var callback = await browser.GetAsync(consent.Headers.Location);

            var done = await admin.GetFromJsonAsync<JsonElement>($"/v1/flows/{flow.GetProperty("flow_id").GetString()}/wait?timeout=10");
            Assert.Equal("error", done.GetProperty("status").GetString());
            Assert.Equal("provider_unavailable", done.GetProperty("error").GetString());
        }
        finally
        {
            Todoist.TokenOutage = null;
        }

        Assert.Equal(connectionsBefore, (await admin.GetFromJsonAsync<JsonElement>("/v1/orgs/default/connections")).GetArrayLength());

        // The API itself down: its 503 is the answer (only a 401 calls for a refresh, and there is nothing to refresh with).
        var (id, _) = await FidelityConnect.ConnectAsync(Server, "todoist");
        var (_, key) = await Server.CreateKeyAsync("default", new { connection = id });
        using var agent = Server.Client(key);
        var before = Todoist.TokenRequests.Count;
        Todoist.ApiOutage = 503;
        try
        {
            using var response = await agent.GetAsync($"/v1/proxy/{id}/user");
            Assert.Equal(HttpStatusCode.ServiceUnavailable, response.StatusCode);
        }
        finally
        {
            Todoist.ApiOutage = null;
        }

        Assert.Equal(before, Todoist.TokenRequests.Count);
        Assert.Equal("active", (await admin.GetFromJsonAsync<JsonElement>($"/v1/connections/{id}")).GetProperty("status").GetString());
    }
}
