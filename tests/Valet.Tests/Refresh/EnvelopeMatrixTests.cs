using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using Valet.Tests.Infrastructure;

namespace Valet.Tests.Refresh;

/// <summary>
/// SPEC §5 against the real server: ordinary orgs get a gated connect_url and a flow the person really completes;
/// headless orgs get no URL and no flow row; missing_scopes lists exactly what is missing; unknown scopes never block.
/// </summary>
[Collection("idp")]
public sealed class EnvelopeMatrixTests(IdpFixture idp, BrowserFixture browser) : IAsyncLifetime
{
    private ValetTestServer _server = null!;

    private string Base => _server.BaseUrl.GetLeftPart(UriPartial.Authority);

    public async Task InitializeAsync()
    {
        await idp.ResetAsync();
        _server = await ValetTestServer.StartAsync(idp.ProviderSettings());
    }

    public async Task DisposeAsync()
    {
        await _server.DisposeAsync();
        await idp.ResetAsync();
    }

    [Fact]
    public async Task OrdinaryOrg_NeedsAuthentication_HasAGatedConnectUrl_WhoseFlowThePersonCompletes()
    {
        var (_, key) = await _server.CreateKeyAsync("default", new { provider = "idp" });
        using var agent = _server.Client(key);
        using var admin = _server.Client();
        var flowsBefore = await RefreshKit.FlowCountAsync(_server);

        var byProvider = await RefreshKit.TokenAsync(agent, new Uri(_server.BaseUrl, "/v1/providers/idp/token"));
        var bootstrap = await agent.GetFromJsonAsync<JsonElement>("/v1/bootstrap");

        RefreshKit.AssertEnvelope(byProvider, "needs_authentication");
        Assert.False(byProvider.Body.GetProperty("headless").GetBoolean());
        var need = Assert.Single(bootstrap.GetProperty("needs").EnumerateArray());
        Assert.Equal("needs_authentication", need.GetProperty("code").GetString());
        foreach (var envelope in new[] { byProvider.Body, need })
        {
            Assert.StartsWith(Base + "/connect-authorize?flow=", envelope.GetProperty("connect_url").GetString(), StringComparison.Ordinal);
            var flowId = envelope.GetProperty("flow_id").GetString()!;
            Assert.EndsWith("?flow=" + Uri.EscapeDataString(flowId), envelope.GetProperty("connect_url").GetString(), StringComparison.Ordinal);
            var flow = await admin.GetFromJsonAsync<JsonElement>($"/v1/flows/{flowId}");
            Assert.Equal("pending", flow.GetProperty("status").GetString());
        }

        // Both envelopes ask for the same thing: they share one flow (envelopes do not mint a row per call).
        Assert.Equal(byProvider.Body.GetProperty("flow_id").GetString(), need.GetProperty("flow_id").GetString());
        Assert.Equal(flowsBefore + 1, await RefreshKit.FlowCountAsync(_server));

        // The link is gated: no session → sign-in; signed in as an operator of the org → the IdP; consent completes THAT flow.
        var agentFlowId = byProvider.Body.GetProperty("flow_id").GetString()!;
        var connectUrl = new Uri(byProvider.Body.GetProperty("connect_url").GetString()!);
        using var handler = new HttpClientHandler { AllowAutoRedirect = false, UseCookies = true };
        using var person = new HttpClient(handler) { BaseAddress = _server.BaseUrl };

        var anonymous = await person.GetAsync(connectUrl);
        Assert.Equal(HttpStatusCode.Redirect, anonymous.StatusCode);
        Assert.StartsWith("/signin?return=", anonymous.Headers.Location!.OriginalString, StringComparison.Ordinal);

        var signIn = await SignInForms.SignInAsync(person, new Dictionary<string, string>
        {
            ["token"] = ValetTestServer.AdminToken,
            ["org"] = "default",
            ["return"] = connectUrl.PathAndQuery,
        });
        Assert.Equal(HttpStatusCode.Redirect, signIn.StatusCode);
        Assert.Equal(connectUrl.PathAndQuery, signIn.Headers.Location!.OriginalString);

        var signedIn = await ConnectLinks.ContinueAsync(person, connectUrl);
        Assert.Equal(HttpStatusCode.Redirect, signedIn.StatusCode);
        var authorizeUrl = signedIn.Headers.Location!.AbsoluteUri;
        Assert.StartsWith(idp.Issuer + "/", authorizeUrl, StringComparison.Ordinal);

        var page = await browser.AuthorizeAsync(authorizeUrl, "erin");
        Assert.Equal("true", await page.Locator("#result").GetAttributeAsync("data-success"));
        await page.Context.CloseAsync();

        var done = await admin.GetFromJsonAsync<JsonElement>($"/v1/flows/{agentFlowId}/wait?timeout=15");
        Assert.Equal("complete", done.GetProperty("status").GetString());
        var connectionId = done.GetProperty("connection_id").GetString()!;

        // The agent that asked now gets a live token by provider.
        var token = await RefreshKit.TokenAsync(agent, new Uri(_server.BaseUrl, "/v1/providers/idp/token"));
        Assert.True(token.Status == HttpStatusCode.OK, token.Text);
        Assert.Equal(connectionId, token.Body.GetProperty("connection_id").GetString());
        Assert.True(await idp.IsActiveAsync(token.AccessToken!));
    }

    [Fact]
    public async Task HeadlessOrg_Envelopes_CarryNoUrl_MintNoFlow_AndNameTheCredential()
    {
        using var admin = _server.Client();
        (await admin.PostAsJsonAsync("/v1/orgs", new { id = "acme", headless = true })).EnsureSuccessStatusCode();
        var credentialId = await CreateCredentialAsync(admin, "acme");
        var (_, key) = await _server.CreateKeyAsync("acme", new { provider = "idp" });
        using var agent = _server.Client(key);
        var flowsBefore = await RefreshKit.FlowCountAsync(_server);

        // Nothing connected yet: needs_authentication, by provider and in the bootstrap.
        var needs = await RefreshKit.TokenAsync(agent, new Uri(_server.BaseUrl, "/v1/providers/idp/token"), new { scopes = new[] { "read" } });
        RefreshKit.AssertEnvelope(needs, "needs_authentication");
        AssertHeadless(needs.Body, needs.Text, credentialId);
        Assert.Equal(["read"], RefreshKit.Strings(needs.Body.GetProperty("required_scopes")));
        var emptyBootstrap = await agent.GetStringAsync("/v1/bootstrap");
        AssertHeadless(JsonDocument.Parse(emptyBootstrap).RootElement.GetProperty("needs")[0], emptyBootstrap, credentialId);

        // An import whose refresh token the real IdP does not know: the refresh ends in invalid_grant → reauth_required.
        var connectionId = await ImportAsync(admin, "acme", credentialId, "acme-user", scopes: ["read"], refreshToken: "not-a-real-refresh-token",
            expiresAt: DateTimeOffset.UtcNow.AddMinutes(-5));
        var refreshes = await idp.RefreshRequestsAsync();
        var dead = await RefreshKit.TokenAsync(agent, connectionId);
        RefreshKit.AssertEnvelope(dead, "reauth_required");
        AssertHeadless(dead.Body, dead.Text, credentialId);
        Assert.Equal(connectionId, dead.Body.GetProperty("connection_id").GetString());
        Assert.Equal(1, await idp.RefreshRequestsAsync() - refreshes);

        var bootstrap = await agent.GetStringAsync("/v1/bootstrap");
        var listed = Assert.Single(JsonDocument.Parse(bootstrap).RootElement.GetProperty("connections").EnumerateArray());
        Assert.Equal("reauth_required", listed.GetProperty("status").GetString());
        AssertHeadless(listed.GetProperty("envelope"), bootstrap, credentialId);

        Assert.Equal(flowsBefore, await RefreshKit.FlowCountAsync(_server));
    }

    [Fact]
    public async Task MissingScopes_ListsExactlyTheMissingOnes_AndUnknownScopesNeverBlock()
    {
        using var admin = _server.Client();
        var credentialId = await CreateCredentialAsync(admin, "default");
        var granted = await ImportAsync(admin, "default", credentialId, "reader", scopes: ["read"], accessToken: "at-granted-read");
        var unknown = await ImportAsync(admin, "default", credentialId, "unknown", scopes: null, accessToken: "at-unknown-scopes");
        var (_, key) = await _server.CreateKeyAsync("default", new { connection = granted }, new { connection = unknown });
        using var agent = _server.Client(key);

        var missing = await RefreshKit.TokenAsync(agent, granted, new { scopes = new[] { "write", "admin" } });
        RefreshKit.AssertEnvelope(missing, "missing_scopes");
        Assert.Equal(["write", "admin"], RefreshKit.Strings(missing.Body.GetProperty("missing_scopes")));
        Assert.Equal(["write", "admin"], RefreshKit.Strings(missing.Body.GetProperty("required_scopes")));
        Assert.Equal(granted, missing.Body.GetProperty("connection_id").GetString());
        Assert.StartsWith(Base + "/connect-authorize?flow=", missing.Body.GetProperty("connect_url").GetString(), StringComparison.Ordinal);

        var partly = await RefreshKit.TokenAsync(agent, granted, new { scopes = new[] { "read", "write" } });
        RefreshKit.AssertEnvelope(partly, "missing_scopes");
        Assert.Equal(["write"], RefreshKit.Strings(partly.Body.GetProperty("missing_scopes")));

        var satisfied = await RefreshKit.TokenAsync(agent, granted, new { scopes = new[] { "read" } });
        Assert.True(satisfied.Status == HttpStatusCode.OK, satisfied.Text);
        Assert.Equal("at-granted-read", satisfied.AccessToken);

        var unknownScopes = await RefreshKit.TokenAsync(agent, unknown, new { scopes = new[] { "write", "admin" } });
        Assert.True(unknownScopes.Status == HttpStatusCode.OK, unknownScopes.Text);
        Assert.Equal("at-unknown-scopes", unknownScopes.AccessToken);
    }

    [Fact]
    public async Task HeadlessOrg_WithoutItsOwnClient_TheEnvelopeSaysToRegisterOneFirst()
    {
        using var admin = _server.Client();
        (await admin.PostAsJsonAsync("/v1/orgs", new { id = "noclient", headless = true })).EnsureSuccessStatusCode();
        var (_, key) = await _server.CreateKeyAsync("noclient", new { provider = "idp" });
        using var agent = _server.Client(key);

        var needs = await RefreshKit.TokenAsync(agent, new Uri(_server.BaseUrl, "/v1/providers/idp/token"));

        RefreshKit.AssertEnvelope(needs, "needs_authentication");
        Assert.Equal(JsonValueKind.Null, needs.Body.GetProperty("credential_id").ValueKind);
        Assert.Contains("POST /v1/orgs/noclient/credentials", needs.Body.GetProperty("detail").GetString(), StringComparison.Ordinal);
        Assert.DoesNotContain("http", needs.Text, StringComparison.OrdinalIgnoreCase);

        // An API-key provider has no OAuth client to register: its secret is stored as a connection.
        var (_, keyedKey) = await _server.CreateKeyAsync("noclient", new { provider = "openai" });
        using var keyedAgent = _server.Client(keyedKey);
        var secret = await RefreshKit.TokenAsync(keyedAgent, new Uri(_server.BaseUrl, "/v1/providers/openai/token"));
        Assert.Equal(HttpStatusCode.Conflict, secret.Status);
        Assert.Equal("needs_authentication", secret.Code);
        var detail = secret.Body.GetProperty("detail").GetString();
        Assert.Contains("POST /v1/orgs/noclient/connections", detail, StringComparison.Ordinal);
        Assert.DoesNotContain("credentials", detail, StringComparison.Ordinal);
    }

    [Fact]
    public async Task OrdinaryOrg_ApiKeyProvider_HasNoConnectLink_AndTheDetailNamesTheOperatorsRoute_NotAPersonsStep()
    {
        // Before: "a person must connect an account", with neither a connect_url nor a way forward (no flow can start).
        var (_, key) = await _server.CreateKeyAsync("default", new { provider = "openai" });
        using var agent = _server.Client(key);

        var needs = await RefreshKit.TokenAsync(agent, new Uri(_server.BaseUrl, "/v1/providers/openai/token"));

        Assert.Equal(HttpStatusCode.Conflict, needs.Status);
        Assert.Equal("needs_authentication", needs.Code);
        Assert.False(needs.Body.TryGetProperty("connect_url", out _));
        Assert.False(needs.Body.TryGetProperty("flow_id", out _));
        var detail = needs.Body.GetProperty("detail").GetString()!;
        Assert.Contains("connected by an operator", detail, StringComparison.Ordinal);
        Assert.Contains("POST /v1/orgs/default/connections", detail, StringComparison.Ordinal);
        Assert.DoesNotContain("a person must", detail, StringComparison.Ordinal);
    }

    [Fact]
    public async Task HeadlessOrg_WithItsOwnClient_TheEnvelopeSaysToRunTheAuthorizationWithIt_AndImport()
    {
        using var admin = _server.Client();
        (await admin.PostAsJsonAsync("/v1/orgs", new { id = "ownclient", headless = true })).EnsureSuccessStatusCode();
        var credentialId = await CreateCredentialAsync(admin, "ownclient");
        var (_, key) = await _server.CreateKeyAsync("ownclient", new { provider = "idp" });
        using var agent = _server.Client(key);

        var needs = await RefreshKit.TokenAsync(agent, new Uri(_server.BaseUrl, "/v1/providers/idp/token"));

        RefreshKit.AssertEnvelope(needs, "needs_authentication");
        Assert.Equal(credentialId, needs.Body.GetProperty("credential_id").GetString());
        var detail = needs.Body.GetProperty("detail").GetString()!;
        Assert.Contains($"credential {credentialId}", detail, StringComparison.Ordinal);
        Assert.Contains("POST /v1/orgs/ownclient/connections/import", detail, StringComparison.Ordinal);
        Assert.DoesNotContain("http", needs.Text, StringComparison.OrdinalIgnoreCase);
    }

    [Fact]
    public async Task HeadlessMissingScopes_AsksForTheWholeGrant_SoFollowingItNeverNarrowsIt()
    {
        using var admin = _server.Client();
        (await admin.PostAsJsonAsync("/v1/orgs", new { id = "wl", headless = true })).EnsureSuccessStatusCode();
        var credentialId = await CreateCredentialAsync(admin, "wl");
        var connectionId = await ImportAsync(admin, "wl", credentialId, "wl-user", scopes: ["read"], refreshToken: "rt-wl-1");
        var (_, key) = await _server.CreateKeyAsync("wl", new { connection = connectionId }, new { provider = "idp" });
        using var agent = _server.Client(key);

        // The integrator runs the OAuth dance itself with required_scopes: stored ∪ missing, as a connect link would ask.
        var missing = await RefreshKit.TokenAsync(agent, connectionId, new { scopes = new[] { "write" } });
        RefreshKit.AssertEnvelope(missing, "missing_scopes");
        AssertHeadless(missing.Body, missing.Text, credentialId);
        Assert.Equal(["write"], RefreshKit.Strings(missing.Body.GetProperty("missing_scopes")));
        Assert.Equal(["read", "write"], RefreshKit.Strings(missing.Body.GetProperty("required_scopes")));

        // Re-imported with exactly those scopes, both needs are met: no back and forth.
        await ImportAsync(admin, "wl", credentialId, "wl-user", scopes: ["read", "write"], accessToken: "at-wl-2", refreshToken: "rt-wl-2");
        Assert.Equal(HttpStatusCode.OK, (await RefreshKit.TokenAsync(agent, connectionId, new { scopes = new[] { "write" } })).Status);
        Assert.Equal(HttpStatusCode.OK, (await RefreshKit.TokenAsync(agent, connectionId, new { scopes = new[] { "read" } })).Status);

        // Nothing connected yet and no scopes asked: the provider's default scopes, not an empty list.
        (await admin.PostAsJsonAsync("/v1/orgs", new { id = "wl2", headless = true })).EnsureSuccessStatusCode();
        var otherCredential = await CreateCredentialAsync(admin, "wl2");
        var (_, newcomerKey) = await _server.CreateKeyAsync("wl2", new { provider = "idp" });
        using var newcomer = _server.Client(newcomerKey);
        var nothing = await RefreshKit.TokenAsync(newcomer, new Uri(_server.BaseUrl, "/v1/providers/idp/token"));
        RefreshKit.AssertEnvelope(nothing, "needs_authentication");
        AssertHeadless(nothing.Body, nothing.Text, otherCredential);
        Assert.Equal(["openid", "offline_access", "profile", "read"], RefreshKit.Strings(nothing.Body.GetProperty("required_scopes")));
    }

    [Fact]
    public async Task ReImport_UnderAnotherClient_WithoutARefreshToken_IsRefused_TheOldTokenBelongsToTheOldClient()
    {
        using var admin = _server.Client();
        var first = await CreateCredentialAsync(admin, "default");
        var connectionId = await ImportAsync(admin, "default", first, "switcher", scopes: ["read"], refreshToken: "rt-of-the-first-client");
        var second = (await (await admin.PostAsJsonAsync("/v1/orgs/default/credentials",
            new { provider = "idp", client_id = IdpFixture.BasicClientId, client_secret = IdpFixture.BasicClientSecret })).Content.ReadFromJsonAsync<JsonElement>())
            .GetProperty("id").GetString()!;

        var refused = await admin.PostAsJsonAsync("/v1/orgs/default/connections/import", new Dictionary<string, object?>
        {
            ["provider"] = "idp",
            ["credential_id"] = second,
            ["access_token"] = "at-of-the-second-client",
            ["expires_in"] = 3600,
            ["account"] = new { id = "switcher" },
        });
        var problem = await refused.Content.ReadFromJsonAsync<JsonElement>();
        Assert.Equal(HttpStatusCode.BadRequest, refused.StatusCode);
        Assert.Equal("refresh_token_required", problem.GetProperty("code").GetString());
        var stored = await RefreshKit.StoredAsync(_server.Services, connectionId);
        Assert.Equal(first, stored.CredentialId);
        Assert.Equal("rt-of-the-first-client", stored.RefreshToken!.Value.Reveal());

        // The same client without a refresh token keeps the stored one (and its background refresh schedule).
        Assert.Equal(connectionId, await ImportAsync(admin, "default", first, "switcher", scopes: ["read"], accessToken: "at-again"));
        stored = await RefreshKit.StoredAsync(_server.Services, connectionId);
        Assert.Equal("rt-of-the-first-client", stored.RefreshToken!.Value.Reveal());
        Assert.NotNull(stored.NextRefreshAt);

        // With the new grant's refresh token, the switch is accepted.
        Assert.Equal(connectionId, await ImportAsync(admin, "default", second, "switcher", scopes: ["read"], refreshToken: "rt-of-the-second-client"));
        Assert.Equal(second, (await RefreshKit.StoredAsync(_server.Services, connectionId)).CredentialId);
    }

    private static void AssertHeadless(JsonElement envelope, string wholeText, string credentialId)
    {
        Assert.DoesNotContain("http", wholeText, StringComparison.OrdinalIgnoreCase);
        Assert.True(envelope.GetProperty("headless").GetBoolean());
        Assert.Equal(credentialId, envelope.GetProperty("credential_id").GetString());
        Assert.Equal("idp", envelope.GetProperty("provider").GetString());
        Assert.Equal(JsonValueKind.Array, envelope.GetProperty("required_scopes").ValueKind);
        Assert.False(envelope.TryGetProperty("connect_url", out _));
        Assert.False(envelope.TryGetProperty("flow_id", out _));
    }

    internal static async Task<string> CreateCredentialAsync(HttpClient admin, string org)
    {
        var response = await admin.PostAsJsonAsync($"/v1/orgs/{org}/credentials",
            new { provider = "idp", client_id = IdpFixture.ClientId, client_secret = IdpFixture.ClientSecret });
        var body = await response.Content.ReadFromJsonAsync<JsonElement>();
        Assert.True(response.IsSuccessStatusCode, body.ToString());
        return body.GetProperty("id").GetString()!;
    }

    internal static async Task<string> ImportAsync(HttpClient admin, string org, string credentialId, string account, string[]? scopes,
        string accessToken = "at-imported", string? refreshToken = null, DateTimeOffset? expiresAt = null)
    {
        var response = await admin.PostAsJsonAsync($"/v1/orgs/{org}/connections/import", new Dictionary<string, object?>
        {
            ["provider"] = "idp",
            ["credential_id"] = credentialId,
            ["access_token"] = accessToken,
            ["refresh_token"] = refreshToken,
            ["expires_at"] = expiresAt ?? DateTimeOffset.UtcNow.AddHours(1),
            ["scopes"] = scopes,
            ["account"] = new { id = account },
        });
        var body = await response.Content.ReadFromJsonAsync<JsonElement>();
        Assert.True(response.IsSuccessStatusCode, body.ToString());
        return body.GetProperty("id").GetString()!;
    }
}
