using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using Valet.Tests.Infrastructure;

namespace Valet.Tests.Refresh;

/// <summary>A key of org A against every agent and operator route of org B: 403 or 404, problem+json, never B's data.</summary>
[Collection("idp")]
public sealed class OrgIsolationTests(IdpFixture idp) : IAsyncLifetime
{
    private const string SecretOfB = "at-of-org-b-must-never-leak";
    private ValetTestServer _server = null!;

    public async Task InitializeAsync() => _server = await ValetTestServer.StartAsync(idp.ProviderSettings());

    public async Task DisposeAsync() => await _server.DisposeAsync();

    [Fact]
    public async Task KeyOfOrgA_AgainstEveryRouteOfOrgB_Gets403Or404_AndNeverBsData()
    {
        using var admin = _server.Client();
        foreach (var org in new[] { "orga", "orgb" })
        {
            (await admin.PostAsJsonAsync("/v1/orgs", new { id = org })).EnsureSuccessStatusCode();
        }

        var credentialB = await EnvelopeMatrixTests.CreateCredentialAsync(admin, "orgb");
        var connectionB = await EnvelopeMatrixTests.ImportAsync(admin, "orgb", credentialB, "bob-of-b", ["read"], SecretOfB, "rt-of-org-b");
        var (keyBId, keyB) = await _server.CreateKeyAsync("orgb", new { connection = connectionB });
        var flowB = (await (await admin.PostAsJsonAsync("/v1/orgs/orgb/connect", new { provider = "idp" })).Content.ReadFromJsonAsync<JsonElement>())
            .GetProperty("flow_id").GetString()!;

        // A key of A cannot even be granted B's connection.
        var crossGrant = await admin.PostAsJsonAsync("/v1/orgs/orga/keys", new { name = "sneaky", permissions = new[] { new { connection = connectionB } } });
        Assert.False(crossGrant.IsSuccessStatusCode);

        var (_, keyA) = await _server.CreateKeyAsync("orga", new { provider = "idp" });
        using var agentA = _server.Client(keyA);
        var forbiddenData = new[] { connectionB, credentialB, keyBId, flowB, SecretOfB, "bob-of-b" };

        var routes = new (HttpMethod Method, string Path, object? Body)[]
        {
            (HttpMethod.Post, $"/v1/connections/{connectionB}/token", null),
            (HttpMethod.Post, $"/v1/connections/{connectionB}/token", new { scopes = new[] { "read" } }),
            (HttpMethod.Get, $"/v1/proxy/{connectionB}/api/me", null),
            (HttpMethod.Get, "/v1/orgs/orgb", null),
            (HttpMethod.Patch, "/v1/orgs/orgb", new { headless = true }),
            (HttpMethod.Get, "/v1/orgs/orgb/connections", null),
            (HttpMethod.Post, "/v1/orgs/orgb/connections/import", new { provider = "idp", credential_id = credentialB, access_token = "x", account = new { id = "x" } }),
            (HttpMethod.Get, $"/v1/connections/{connectionB}", null),
            (HttpMethod.Delete, $"/v1/connections/{connectionB}", null),
            (HttpMethod.Post, "/v1/orgs/orgb/credentials", new { provider = "idp", client_id = "x", client_secret = "y" }),
            (HttpMethod.Get, "/v1/orgs/orgb/credentials", null),
            (HttpMethod.Get, $"/v1/credentials/{credentialB}", null),
            (HttpMethod.Post, "/v1/orgs/orgb/keys", new { name = "mine", permissions = new[] { new { connection = connectionB } } }),
            (HttpMethod.Get, "/v1/orgs/orgb/keys", null),
            (HttpMethod.Get, $"/v1/keys/{keyBId}", null),
            (HttpMethod.Put, $"/v1/keys/{keyBId}/permissions", new { permissions = new[] { new { connection = connectionB } } }),
            (HttpMethod.Delete, $"/v1/keys/{keyBId}", null),
            (HttpMethod.Post, "/v1/orgs/orgb/connect", new { provider = "idp" }),
            (HttpMethod.Get, $"/v1/flows/{flowB}", null),
            (HttpMethod.Get, $"/v1/flows/{flowB}/wait?timeout=0", null),
            (HttpMethod.Put, "/v1/orgs/orgb/defaults/idp", new { connection_id = connectionB }),
        };

        foreach (var (method, path, body) in routes)
        {
            using var request = new HttpRequestMessage(method, path) { Content = body is null ? null : JsonContent.Create(body) };
            using var response = await agentA.SendAsync(request);
            var answer = await RefreshKit.ReadAsync(response);

            Assert.True(answer.Status is HttpStatusCode.NotFound or HttpStatusCode.Forbidden, $"{method} {path}: {answer.Status} {answer.Text}");
            Assert.True(answer.MediaType == "application/problem+json", $"{method} {path}: {answer.MediaType}");

            foreach (var data in forbiddenData)
            {
                Assert.DoesNotContain(data, answer.Text, StringComparison.Ordinal);
            }
        }

        // By provider and in the bootstrap, A sees only its own (empty) org.
        var byProvider = await RefreshKit.TokenAsync(agentA, new Uri(_server.BaseUrl, "/v1/providers/idp/token"));
        RefreshKit.AssertEnvelope(byProvider, "needs_authentication");
        Assert.Equal(JsonValueKind.Null, byProvider.Body.GetProperty("connection_id").ValueKind);
        var bootstrap = await agentA.GetStringAsync("/v1/bootstrap");
        Assert.Equal("orga", JsonDocument.Parse(bootstrap).RootElement.GetProperty("org").GetString());
        Assert.Empty(JsonDocument.Parse(bootstrap).RootElement.GetProperty("connections").EnumerateArray());
        foreach (var data in forbiddenData)
        {
            Assert.DoesNotContain(data, byProvider.Text + bootstrap, StringComparison.Ordinal);
        }

        // Nothing A tried changed B: B's connection, key and org are as they were.
        using var agentB = _server.Client(keyB);
        var tokenB = await RefreshKit.TokenAsync(agentB, connectionB);
        Assert.Equal(SecretOfB, tokenB.AccessToken);
        var orgB = await admin.GetFromJsonAsync<JsonElement>("/v1/orgs/orgb");
        Assert.False(orgB.GetProperty("headless").GetBoolean());
    }

    [Fact]
    public async Task KeyWithoutPermission_OnAConnectionOfItsOwnOrg_Gets403Forbidden()
    {
        using var admin = _server.Client();
        var credential = await EnvelopeMatrixTests.CreateCredentialAsync(admin, "default");
        var mine = await EnvelopeMatrixTests.ImportAsync(admin, "default", credential, "mine", ["read"], "at-mine");
        var other = await EnvelopeMatrixTests.ImportAsync(admin, "default", credential, "other", ["read"], "at-other");
        var (_, key) = await _server.CreateKeyAsync("default", new { connection = mine });
        using var agent = _server.Client(key);

        var refused = await RefreshKit.TokenAsync(agent, other);

        Assert.Equal(HttpStatusCode.Forbidden, refused.Status);
        Assert.Equal("application/problem+json", refused.MediaType);
        Assert.Equal("forbidden", refused.Code);
        Assert.DoesNotContain("at-other", refused.Text, StringComparison.Ordinal);
        Assert.Equal("at-mine", (await RefreshKit.TokenAsync(agent, mine)).AccessToken);
    }
}
