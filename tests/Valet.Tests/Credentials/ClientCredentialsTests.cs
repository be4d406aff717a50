using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using Valet.Tests.Infrastructure;

namespace Valet.Tests.Credentials;

/// <summary>
/// <c>oauth2_cc</c> connections against the real oidc-provider (clientCredentials feature, 10-second tokens): the token is
/// fetched on first use, reused, renewed before expiry by the background refresher, <c>invalid_client</c> ends in
/// <c>reauth_required</c> and a 5xx does not.
/// </summary>
public sealed class ClientCredentialsTests(ShortClientCredentialsIdpFixture idp) : IClassFixture<ShortClientCredentialsIdpFixture>, IAsyncLifetime
{
    private KeyedApi _api = null!;
    private ValetTestServer _server = null!;

    public async Task InitializeAsync()
    {
        await idp.ResetAsync();
        _api = await KeyedApi.StartAsync();
        _server = await ValetTestServer.StartAsync(new Dictionary<string, string?>
        {
            // 10-second tokens: fresh for 8 s, renewed in the background after 5 s (half their life).
            ["Refresh:Skew"] = "00:00:02",
            ["Refresh:ProactiveInterval"] = "00:00:01",
            ["Refresh:Jitter"] = "00:00:00",

            // The same IdP with a platform client, as an operator configures one.
            ["Providers:platformcc:AuthMode"] = "oauth2_cc",
            ["Providers:platformcc:Issuer"] = idp.Issuer,
            ["Providers:platformcc:ClientId"] = CredentialsKit.CcClientId,
            ["Providers:platformcc:ClientSecret"] = CredentialsKit.CcClientSecret,
            ["Providers:platformcc:Scopes"] = "read",
            ["Providers:platformcc:ApiBaseUrl"] = _api.BaseUrl.ToString(),
            ["Providers:platformcc:AllowPrivateNetwork"] = "true",
        });
        using var admin = _server.Client();
        var put = await admin.PutAsJsonAsync("/v1/providers/machine", CredentialsKit.ClientCredentialsProvider(idp, _api.BaseUrl.ToString()));
        Assert.True(put.IsSuccessStatusCode, await put.Content.ReadAsStringAsync());
    }

    public async Task DisposeAsync()
    {
        await _server.DisposeAsync();
        await _api.DisposeAsync();
        await idp.ResetAsync();
    }

    [Fact]
    public async Task Token_IsFetchedOnFirstUse_Reused_AndRenewedBeforeExpiry()
    {
        using var admin = _server.Client();
        var credential = await CredentialsKit.RegisterClientAsync(admin, "machine");
        var id = await CredentialsKit.CreateConnectionAsync(admin, new { provider = "machine", credential_id = credential });
        Assert.Equal(0, await CredentialsKit.ClientCredentialsCallsAsync(idp)); // not before first use

        var (_, key) = await _server.CreateKeyAsync("default", new { connection = id });
        using var agent = _server.Client(key);
        var first = await TokenAsync(agent, id);
        Assert.Equal(1, await CredentialsKit.ClientCredentialsCallsAsync(idp));
        Assert.True(await idp.IsActiveAsync(first.GetProperty("access_token").GetString()!));
        Assert.Equal(["read", "write"], first.GetProperty("scopes").EnumerateArray().Select(s => s.GetString()));

        // Reused from the stored row, through the token route and the proxy alike.
        var token = first.GetProperty("access_token").GetString()!;
        _api.Accepts = r => r.Header("Authorization") == "Bearer " + token;
        Assert.Equal(token, (await TokenAsync(agent, id)).GetProperty("access_token").GetString());
        Assert.Equal(HttpStatusCode.OK, (await agent.GetAsync($"/v1/proxy/{id}/jobs")).StatusCode);
        Assert.Equal(1, await CredentialsKit.ClientCredentialsCallsAsync(idp));

        // The background refresher renews it before it expires, with nobody asking.
        var expiresAt = first.GetProperty("expires_at").GetDateTimeOffset();
        // Nobody calls the token route meanwhile: only the refresher can make the IdP count a second grant, and it must
        // do so before the route's own window (the last Refresh:Skew = 2 s of the token's life) opens.
        Assert.True(await CredentialsKit.EventuallyAsync(async () => await CredentialsKit.ClientCredentialsCallsAsync(idp) >= 2, TimeSpan.FromSeconds(15)));
        Assert.True(DateTimeOffset.UtcNow < expiresAt - TimeSpan.FromSeconds(2), "renewed only in the token route's own window, not ahead of it");

        // The IdP counts the grant before Valet has stored its answer (CI once served the old token in that gap): wait
        // for the stored token an agent sees, briefly.
        JsonElement renewed = default;
        Assert.True(await CredentialsKit.EventuallyAsync(async () =>
        {
            renewed = await TokenAsync(agent, id);
            return renewed.GetProperty("access_token").GetString() != token;
        }, TimeSpan.FromSeconds(2)), "the renewed token was not stored within 2 s of the grant");
        Assert.Equal(2, await CredentialsKit.ClientCredentialsCallsAsync(idp));
        Assert.True(renewed.GetProperty("expires_at").GetDateTimeOffset() > expiresAt);
    }

    [Fact]
    public async Task InvalidClient_MarksReauthRequired_AndA5xxDoesNot()
    {
        using var admin = _server.Client();
        var good = await CredentialsKit.RegisterClientAsync(admin, "machine");
        var goodId = await CredentialsKit.CreateConnectionAsync(admin, new { provider = "machine", credential_id = good, account = new { id = "good" } });
        var bad = await CredentialsKit.RegisterClientAsync(admin, "machine", secret: "not-the-secret");
        var badId = await CredentialsKit.CreateConnectionAsync(admin, new { provider = "machine", credential_id = bad, account = new { id = "bad" }, scopes = new[] { "write" } });
        var (_, key) = await _server.CreateKeyAsync("default", new { provider = "machine" });
        using var agent = _server.Client(key);

        // A 5xx at the IdP: 502 provider_unavailable, the connection stays active (and is asked again later).
        await idp.SetFaultAsync("500", grant: "client_credentials", times: 1);
        var outage = await agent.PostAsync($"/v1/connections/{goodId}/token", null);
        Assert.Equal(HttpStatusCode.BadGateway, outage.StatusCode);
        Assert.Equal("provider_unavailable", (await outage.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("code").GetString());
        Assert.Equal("active", (await admin.GetFromJsonAsync<JsonElement>($"/v1/connections/{goodId}")).GetProperty("status").GetString());

        // The real IdP refuses the wrong secret with invalid_client: reauth_required, an operator must fix the client.
        var refused = await agent.PostAsync($"/v1/connections/{badId}/token", null);
        var envelope = await refused.Content.ReadFromJsonAsync<JsonElement>();
        Assert.Equal(HttpStatusCode.Conflict, refused.StatusCode);
        Assert.Equal("reauth_required", envelope.GetProperty("code").GetString());
        var dead = await admin.GetFromJsonAsync<JsonElement>($"/v1/connections/{badId}");
        Assert.Equal("reauth_required", dead.GetProperty("status").GetString());
        Assert.Equal("invalid_client", dead.GetProperty("status_reason").GetString());
        Assert.Equal(HttpStatusCode.Conflict, (await agent.GetAsync($"/v1/proxy/{badId}/jobs")).StatusCode);

        // From the CLI: one line, the operator's step from the envelope's detail, and no `valet connect` (nobody connects
        // a client-credentials provider in a browser; the CLI asks the provider's auth_mode, not the detail's wording).
        var cli = await CliRunner.RunAsync(["token", badId], new Dictionary<string, string?>
        {
            ["VALET_URL"] = _server.BaseUrl.ToString(), ["VALET_DATA_DIR"] = _server.DataDirectory,
        });
        Assert.Equal(1, cli.ExitCode);
        var line = Assert.Single(cli.StdErr.Split('\n', StringSplitOptions.RemoveEmptyEntries));
        Assert.Contains("invalid_client", line, StringComparison.Ordinal);
        Assert.Contains("valet connections add machine", line, StringComparison.Ordinal);
        Assert.DoesNotContain("valet connect ", line, StringComparison.Ordinal);

        // Fixing the client (posting the connection again with a good one) brings it back, same id.
        var fixedId = await CredentialsKit.CreateConnectionAsync(admin, new { provider = "machine", credential_id = good, account = new { id = "bad" } });
        Assert.Equal(badId, fixedId);
        var revived = await agent.PostAsync($"/v1/connections/{badId}/token", null);
        Assert.Equal(HttpStatusCode.OK, revived.StatusCode);
        // The re-post named no scopes: the connection keeps the ones it was created with, not the provider's defaults.
        Assert.Equal(["write"], (await revived.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("scopes").EnumerateArray().Select(s => s.GetString()));
        Assert.DoesNotContain("valet-cc-secret", _server.Logs.All, StringComparison.Ordinal);
    }

    [Fact]
    public async Task InvalidScope_IsReauthRequiredWithThatReason_NotAnOutageRetriedForever_AndARepostWithOtherScopesFixesIt()
    {
        using var admin = _server.Client();
        var credential = await CredentialsKit.RegisterClientAsync(admin, "machine");
        var id = await CredentialsKit.CreateConnectionAsync(admin, new { provider = "machine", credential_id = credential, scopes = new[] { "openid" } });
        var (_, key) = await _server.CreateKeyAsync("default", new { connection = id });
        using var agent = _server.Client(key);

        var refused = await agent.PostAsync($"/v1/connections/{id}/token", null);
        var again = await agent.PostAsync($"/v1/connections/{id}/token", null);

        Assert.Equal(HttpStatusCode.Conflict, refused.StatusCode);
        var envelope = await refused.Content.ReadFromJsonAsync<JsonElement>();
        Assert.Equal(("reauth_required", "invalid_scope"), (envelope.GetProperty("code").GetString(), envelope.GetProperty("reason").GetString()));
        Assert.Equal(HttpStatusCode.Conflict, again.StatusCode);
        Assert.Equal(1, await CredentialsKit.ClientCredentialsCallsAsync(idp)); // answered from the row the second time
        Assert.Equal("invalid_scope", (await admin.GetFromJsonAsync<JsonElement>($"/v1/connections/{id}")).GetProperty("status_reason").GetString());

        Assert.Equal(id, await CredentialsKit.CreateConnectionAsync(admin, new { provider = "machine", credential_id = credential, scopes = new[] { "read" } }));
        Assert.Equal(HttpStatusCode.OK, (await agent.PostAsync($"/v1/connections/{id}/token", null)).StatusCode);
    }

    [Fact]
    public async Task Create_WithoutAClient_OrWithSecrets_IsA422()
    {
        using var admin = _server.Client();
        var noClient = await admin.PostAsJsonAsync("/v1/orgs/default/connections", new { provider = "machine" });
        var body = await noClient.Content.ReadFromJsonAsync<JsonElement>();
        Assert.Equal(HttpStatusCode.UnprocessableEntity, noClient.StatusCode);
        Assert.True(body.GetProperty("errors").TryGetProperty("credential_id", out _), body.ToString());

        var withSecret = await admin.PostAsJsonAsync("/v1/orgs/default/connections",
            new { provider = "machine", api_key = "x", credential_id = "cred_unknown", scopes = new[] { "a b" } });
        var errors = (await withSecret.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("errors");
        Assert.True(errors.TryGetProperty("api_key", out _) && errors.TryGetProperty("credential_id", out _) && errors.TryGetProperty("scopes", out _),
            errors.ToString());
    }

    [Fact]
    public async Task HeadlessOrg_IsNotLentThePlatformsClient_ItsOwnIsRequired()
    {
        using var admin = _server.Client();
        (await admin.PostAsJsonAsync("/v1/orgs", new { id = "whitelabel", headless = true })).EnsureSuccessStatusCode();

        // An ordinary org may use the platform's client; a headless one may not: that token is the operator's machine
        // identity, the same for every org.
        var ordinary = await admin.PostAsJsonAsync("/v1/orgs/default/connections", new { provider = "platformcc" });
        var headless = await admin.PostAsJsonAsync("/v1/orgs/whitelabel/connections", new { provider = "platformcc" });

        Assert.Equal(HttpStatusCode.Created, ordinary.StatusCode);
        Assert.Equal(HttpStatusCode.UnprocessableEntity, headless.StatusCode);
        var errors = (await headless.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("errors");
        Assert.Contains("POST /v1/orgs/whitelabel/credentials", errors.GetProperty("credential_id")[0].GetString(), StringComparison.Ordinal);

        // With its own client registered, it connects.
        var own = await admin.PostAsJsonAsync("/v1/orgs/whitelabel/credentials",
            new { provider = "platformcc", client_id = CredentialsKit.CcClientId, client_secret = CredentialsKit.CcClientSecret });
        Assert.True(own.IsSuccessStatusCode, await own.Content.ReadAsStringAsync());
        Assert.Equal(HttpStatusCode.Created, (await admin.PostAsJsonAsync("/v1/orgs/whitelabel/connections", new { provider = "platformcc" })).StatusCode);
    }

    [Fact]
    public async Task AConnectionOnThePlatformsClient_IsNotRenewedWithIt_OnceItsOrgTurnsHeadless()
    {
        using var admin = _server.Client();
        (await admin.PostAsJsonAsync("/v1/orgs", new { id = "turning" })).EnsureSuccessStatusCode();
        var id = await CredentialsKit.CreateConnectionAsync(admin, new { provider = "platformcc" }, org: "turning");
        var patched = await admin.PatchAsync("/v1/orgs/turning", JsonContent.Create(new { headless = true }));
        Assert.True(patched.IsSuccessStatusCode, await patched.Content.ReadAsStringAsync());
        var (_, key) = await _server.CreateKeyAsync("turning", new { connection = id });
        using var agent = _server.Client(key);

        // The first fetch would have used the platform's client: refused, not persisted (the org can register its own).
        var refused = await agent.PostAsync($"/v1/connections/{id}/token", null);
        var envelope = await refused.Content.ReadFromJsonAsync<JsonElement>();
        Assert.Equal(HttpStatusCode.Conflict, refused.StatusCode);
        Assert.Equal(("reauth_required", "no_client"), (envelope.GetProperty("code").GetString(), envelope.GetProperty("reason").GetString()));
        Assert.Equal(0, await CredentialsKit.ClientCredentialsCallsAsync(idp));
        Assert.Equal("active", (await admin.GetFromJsonAsync<JsonElement>($"/v1/connections/{id}")).GetProperty("status").GetString());

        // Posted again with the org's own client, it renews with that one.
        var own = await CredentialsKit.RegisterClientAsync(admin, "platformcc", org: "turning");
        Assert.Equal(id, await CredentialsKit.CreateConnectionAsync(admin, new { provider = "platformcc", credential_id = own }, org: "turning"));
        Assert.Equal(HttpStatusCode.OK, (await agent.PostAsync($"/v1/connections/{id}/token", null)).StatusCode);
    }

    private static async Task<JsonElement> TokenAsync(HttpClient agent, string id)
    {
        var response = await agent.PostAsync($"/v1/connections/{id}/token", null);
        var body = await response.Content.ReadFromJsonAsync<JsonElement>();
        Assert.True(response.StatusCode == HttpStatusCode.OK, body.ToString());
        return body;
    }
}
