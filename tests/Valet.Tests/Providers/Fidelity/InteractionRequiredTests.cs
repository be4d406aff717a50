using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using Valet.Tests.Infrastructure;
using Valet.Tests.Refresh;

namespace Valet.Tests.Providers.Fidelity;

/// <summary>A Valet server whose catalog provider <c>microsoft</c> has its login host moved onto a <see cref="MicrosoftFake"/>.</summary>
public sealed class MicrosoftServer : IAsyncLifetime
{
    internal MicrosoftFake Microsoft { get; private set; } = null!;

    public ValetTestServer Server { get; private set; } = null!;

    public async Task InitializeAsync()
    {
        Microsoft = await MicrosoftFake.StartAsync();
        var fake = Microsoft.BaseUrl.AbsoluteUri.TrimEnd('/');
        Server = await ValetTestServer.StartAsync(new Dictionary<string, string?>
        {
            ["Providers:microsoft:AuthorizationEndpoint"] = fake + "/common/oauth2/v2.0/authorize",
            ["Providers:microsoft:TokenEndpoint"] = fake + "/common/oauth2/v2.0/token",
            ["Providers:microsoft:UserInfoEndpoint"] = fake + "/v1.0/me",
            ["Providers:microsoft:ClientId"] = MicrosoftFake.ClientId,
            ["Providers:microsoft:ClientSecret"] = MicrosoftFake.ClientSecret,
            ["Providers:microsoft:AllowPrivateNetwork"] = "true",
        });
    }

    public async Task DisposeAsync()
    {
        await Server.DisposeAsync();
        await Microsoft.DisposeAsync();
    }
}

/// <summary>
/// Issue 15, item 3: refresh errors that mean "a person must act" give <c>reauth_required</c> with the reason, at once and
/// for good (no backoff loop of provider_unavailable); genuinely unknown errors stay transient.
/// </summary>
public sealed class InteractionRequiredTests(MicrosoftServer fixture) : IClassFixture<MicrosoftServer>
{
    private MicrosoftFake Microsoft => fixture.Microsoft;

    private ValetTestServer Server => fixture.Server;

    public static TheoryData<string, long[], string> PersonMustAct => new()
    {
        // Entra's answers (reference-error-codes: AADSTS50076 UserStrongAuthClientAuthNRequired, 50079
        // UserStrongAuthEnrollmentRequired, 65001 DelegationDoesNotExist, 53003 BlockedByConditionalAccess).
        { "invalid_grant", [50076], "mfa_required" },
        { "interaction_required", [50079], "mfa_required" },
        { "invalid_grant", [65001], "consent_required" },
        { "interaction_required", [53003], "conditional_access" },

        // OpenID Connect Core 1.0 §3.1.2.6 codes, with no STS code to refine them.
        { "consent_required", [], "consent_required" },
        { "login_required", [], "login_required" },
        { "interaction_required", [], "interaction_required" },
    };

    [Theory]
    [MemberData(nameof(PersonMustAct))]
    public async Task Refresh_PersonMustAct_IsReauthRequiredWithTheReason_StoredAndReturned_AndNeverRetried(string error, long[] codes, string reason)
    {
        var (id, agent) = await ConnectedExpiredAsync();
        Microsoft.Interrupt(Microsoft.LastUser!, error, codes);
        var calls = Microsoft.TokenRequests.Count;

        using var first = await agent.PostAsync($"/v1/connections/{id}/token", null);

        Assert.Equal(HttpStatusCode.Conflict, first.StatusCode);
        var envelope = await first.Content.ReadFromJsonAsync<JsonElement>();
        Assert.Equal("reauth_required", envelope.GetProperty("code").GetString());
        Assert.Equal(reason, envelope.GetProperty("reason").GetString());
        Assert.Equal(id, envelope.GetProperty("connection_id").GetString());
        Assert.Equal(calls + 1, Microsoft.TokenRequests.Count);

        using var admin = Server.Client();
        var connection = await admin.GetFromJsonAsync<JsonElement>($"/v1/connections/{id}");
        Assert.Equal("reauth_required", connection.GetProperty("status").GetString());
        Assert.Equal(reason, connection.GetProperty("status_reason").GetString());

        // Retrying never helps: the next caller is answered from the row, with no call to the provider.
        using var second = await agent.PostAsync($"/v1/connections/{id}/token", null);
        Assert.Equal(HttpStatusCode.Conflict, second.StatusCode);
        Assert.Equal(reason, (await second.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("reason").GetString());
        Assert.Equal(calls + 1, Microsoft.TokenRequests.Count);
    }

    [Fact]
    public async Task Refresh_ExpiredGrant_AADSTS70008_StaysInvalidGrant()
    {
        var (id, agent) = await ConnectedExpiredAsync();
        Microsoft.Interrupt(Microsoft.LastUser!, "invalid_grant", 70008);

        using var response = await agent.PostAsync($"/v1/connections/{id}/token", null);

        Assert.Equal(HttpStatusCode.Conflict, response.StatusCode);
        Assert.Equal("invalid_grant", (await response.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("reason").GetString());
    }

    [Fact]
    public async Task Refresh_UnknownError_StaysTransient_TheConnectionStaysActive()
    {
        var (id, agent) = await ConnectedExpiredAsync();
        Microsoft.Interrupt(Microsoft.LastUser!, "invalid_request", 90014); // a protocol error no table names: not a person's to fix

        using var response = await agent.PostAsync($"/v1/connections/{id}/token", null);

        Assert.Equal(HttpStatusCode.BadGateway, response.StatusCode);
        Assert.Equal("provider_unavailable", (await response.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("code").GetString());
        using var admin = Server.Client();
        var connection = await admin.GetFromJsonAsync<JsonElement>($"/v1/connections/{id}");
        Assert.Equal("active", connection.GetProperty("status").GetString());
    }

    [Fact]
    public async Task Connect_FollowsTheV2CodeFlow_FormBodyWithTheSecretAndPkce()
    {
        var before = Microsoft.TokenRequests.Count;

        var (_, connection) = await FidelityConnect.ConnectAsync(Server, "microsoft");

        var exchange = Microsoft.TokenRequests.Skip(before).Single();
        Assert.Equal("application/x-www-form-urlencoded", exchange.ContentType);
        Assert.Equal(MicrosoftFake.ClientSecret, exchange.Form["client_secret"]); // the fake checked the PKCE verifier too
        Assert.Equal(Microsoft.LastUser, connection.GetProperty("account").GetProperty("id").GetString());
        Assert.Contains("offline_access", connection.GetProperty("scopes").EnumerateArray().Select(s => s.GetString()));
    }

    [Fact]
    public async Task Connect_AskingOnlyForAnApiScope_StillAsksForRefreshAndIdentity_AndTheConnectionRefreshes()
    {
        // `valet connect microsoft --scopes Mail.Read`: without offline_access Entra issues no refresh token, and without
        // User.Read Graph refuses /me, so the connect used to end in identity_unavailable.
        var (id, connection) = await FidelityConnect.ConnectAsync(Server, "microsoft", scopes: ["Mail.Read"]);

        var granted = connection.GetProperty("scopes").EnumerateArray().Select(s => s.GetString()).ToList();
        Assert.Equal(["offline_access", "User.Read", "Mail.Read"], granted);
        Assert.Equal(Microsoft.LastUser, connection.GetProperty("account").GetProperty("id").GetString());
        await RefreshKit.ExpireAsync(Server.Services, id);
        var (_, key) = await Server.CreateKeyAsync("default", new { connection = id });
        using var agent = Server.Client(key);
        using var token = await agent.PostAsync($"/v1/connections/{id}/token", null);
        Assert.Equal(HttpStatusCode.OK, token.StatusCode); // refreshed with the refresh token that offline_access brought
        Assert.Equal("refresh_token", Microsoft.TokenRequests.Last().Form["grant_type"]);
        Assert.Equal(Microsoft.LastAccessToken, (await token.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("access_token").GetString());
    }

    private async Task<(string Id, HttpClient Agent)> ConnectedExpiredAsync()
    {
        var (id, _) = await FidelityConnect.ConnectAsync(Server, "microsoft");
        await RefreshKit.ExpireAsync(Server.Services, id);
        var (_, key) = await Server.CreateKeyAsync("default", new { connection = id });
        return (id, Server.Client(key));
    }
}
