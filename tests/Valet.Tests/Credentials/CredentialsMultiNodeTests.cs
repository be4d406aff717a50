using System.Diagnostics;
using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using Valet.Tests.Infrastructure;
using Valet.Tests.Refresh;

namespace Valet.Tests.Credentials;

/// <summary>One real PostgreSQL, the real IdP, and Chromium for the device flow. Alone: storms and timings do not share two cores well.</summary>
[CollectionDefinition(Name, DisableParallelization = true)]
public sealed class CredentialsPostgresCollection : ICollectionFixture<PostgresFixture>, ICollectionFixture<IdpFixture>, ICollectionFixture<BrowserFixture>
{
    public const string Name = "credentials-postgres";
}

/// <summary>
/// Three <c>valet serve</c> processes on one PostgreSQL database: a provider registered on one node is usable on the
/// others within a second, and a client-credentials connection fetches its token once however many callers race on
/// every node — first use, after expiry, and when the client is refused.
/// </summary>
[Collection(CredentialsPostgresCollection.Name)]
public sealed class CredentialsMultiNodeTests(PostgresFixture postgres, IdpFixture idp, BrowserFixture browser) : IAsyncLifetime
{
    private const string ServiceToken = "multi-node-service-token-0123456789abcdef";

    private readonly List<ServeProcess> _nodes = [];
    private string _database = null!;
    private KeyedApi _api = null!;

    public async Task InitializeAsync()
    {
        await idp.ResetAsync();
        _api = await KeyedApi.StartAsync();
        _database = await postgres.CreateDatabaseAsync();
        var settings = new Dictionary<string, string?>
        {
            ["DATABASE"] = _database + ";Maximum Pool Size=60",
            ["ENCRYPTION_KEY"] = ValetTestServer.RandomKey(),
            ["ADMIN_TOKEN"] = ValetTestServer.AdminToken,
            ["SERVICE_TOKEN"] = ServiceToken, // the CLI's principal, for the device flow's /internal routes
            ["RateLimits:AgentRequestsPerSecond"] = "100000",
            ["RateLimits:AgentBurst"] = "100000",
        };
        _nodes.Add(await ServeProcess.StartAsync(settings));
        _nodes.AddRange(await Task.WhenAll(ServeProcess.StartAsync(settings), ServeProcess.StartAsync(settings)));
    }

    public async Task DisposeAsync()
    {
        foreach (var node in _nodes)
        {
            await node.DisposeAsync();
        }

        await postgres.DropDatabaseAsync(_database);
        await _api.DisposeAsync();
        await idp.ResetAsync();
    }

    [Fact]
    public async Task RuntimeProvider_PutOnNodeA_IsUsableOnNodeB_WithinASecond_AndDeletedEverywhere()
    {
        using var adminA = Admin(0);
        using var adminB = Admin(1);
        using var adminC = Admin(2);
        _api.Accepts = r => r.Header("x-api-key") == "multi-node-key";

        var put = await adminA.PutAsJsonAsync("/v1/providers/internal", new
        {
            auth_mode = "api_key", api_key_header = "x-api-key: {secret}", api_base_url = _api.BaseUrl.ToString(), allow_private_network = true,
        });
        Assert.Equal(HttpStatusCode.Created, put.StatusCode);
        var seenAfter = await VisibleAsync(adminB, "/v1/providers/internal", HttpStatusCode.OK);
        Assert.True(seenAfter < TimeSpan.FromSeconds(1), $"node B saw the provider after {seenAfter.TotalMilliseconds} ms");

        // Used on node B, proxied through node C.
        var connectionId = await CredentialsKit.CreateConnectionAsync(adminB, new { provider = "internal", api_key = "multi-node-key" });
        var created = await adminB.PostAsJsonAsync("/v1/orgs/default/keys", new { name = "agent", permissions = new[] { new { provider = "internal" } } });
        var key = (await created.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("key").GetString()!;
        using var agent = RefreshKit.Client(_nodes[2].BaseUrl, key);
        Assert.Equal(HttpStatusCode.OK, (await agent.GetAsync($"/v1/proxy/{connectionId}/status")).StatusCode);
        Assert.Equal("multi-node-key", _api.Last.Header("x-api-key"));

        // In use (a connection made on another node): refused on node C; once unused, deleted there and gone on node A.
        var refused = await adminC.DeleteAsync("/v1/providers/internal");
        Assert.Equal(HttpStatusCode.Conflict, refused.StatusCode);
        Assert.Equal("provider_in_use", (await refused.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("code").GetString());
        Assert.Equal(HttpStatusCode.OK, (await adminA.DeleteAsync($"/v1/connections/{connectionId}")).StatusCode);
        Assert.Equal(HttpStatusCode.OK, (await adminC.DeleteAsync("/v1/providers/internal")).StatusCode);
        var goneAfter = await VisibleAsync(adminA, "/v1/providers/internal", HttpStatusCode.NotFound);
        Assert.True(goneAfter < TimeSpan.FromSeconds(1), $"node A still had the provider after {goneAfter.TotalMilliseconds} ms");
    }

    [Fact]
    public async Task ClientCredentials_StormOnThreeNodes_IsOneTokenCall_OnFirstUse_AfterExpiry_AndOnInvalidClient()
    {
        using var adminA = Admin(0);
        var put = await adminA.PutAsJsonAsync("/v1/providers/machine", CredentialsKit.ClientCredentialsProvider(idp, _api.BaseUrl.ToString()));
        Assert.True(put.IsSuccessStatusCode, await put.Content.ReadAsStringAsync());
        foreach (var i in new[] { 1, 2 })
        {
            using var admin = Admin(i);
            await VisibleAsync(admin, "/v1/providers/machine", HttpStatusCode.OK);
        }

        using var adminB = Admin(1);
        var credential = await CredentialsKit.RegisterClientAsync(adminB, "machine");
        var connectionId = await CredentialsKit.CreateConnectionAsync(adminB, new { provider = "machine", credential_id = credential });
        var created = await adminB.PostAsJsonAsync("/v1/orgs/default/keys", new { name = "agent", permissions = new[] { new { provider = "machine" } } });
        var key = (await created.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("key").GetString()!;
        using var agent = RefreshKit.StormClient(key);
        var bases = _nodes.Select(n => n.BaseUrl).ToList();

        // First use: 1,000 callers over three nodes, one token call at the IdP.
        var before = await CredentialsKit.ClientCredentialsCallsAsync(idp);
        var first = await RefreshKit.StormAsync(agent, bases, connectionId, 1000);
        Assert.All(first, a => Assert.True(a.Status == HttpStatusCode.OK, $"{a.Status}: {a.Text}"));
        var token = Assert.Single(first.Select(a => a.AccessToken).Distinct());
        Assert.Equal(1, await CredentialsKit.ClientCredentialsCallsAsync(idp) - before);
        Assert.True(await idp.IsActiveAsync(token!));

        // After expiry: renewed once more, however many ask.
        await RefreshKit.ExpireOnEveryNodeAsync(_database, bases, connectionId); // every node has evicted its cached row
        var renewed = await RefreshKit.StormAsync(agent, bases, connectionId, 300);
        Assert.All(renewed, a => Assert.True(a.Status == HttpStatusCode.OK, $"{a.Status}: {a.Text}"));
        var second = Assert.Single(renewed.Select(a => a.AccessToken).Distinct());
        Assert.NotEqual(token, second);
        Assert.Equal(2, await CredentialsKit.ClientCredentialsCallsAsync(idp) - before);

        // A refused client: one call, every caller on every node gets reauth_required.
        var bad = await CredentialsKit.RegisterClientAsync(adminB, "machine", secret: "wrong-secret");
        var badId = await CredentialsKit.CreateConnectionAsync(adminB, new { provider = "machine", credential_id = bad, account = new { id = "bad" } });
        var refused = await RefreshKit.StormAsync(agent, bases, badId, 300);
        Assert.All(refused, a => Assert.Equal("reauth_required", a.Code));
        Assert.Equal(3, await CredentialsKit.ClientCredentialsCallsAsync(idp) - before);
    }

    [Fact]
    public async Task DeviceFlow_StartedOnNodeA_IsFinishedByAnotherNode_AfterNodeAStops()
    {
        using var adminA = Admin(0);
        var put = await adminA.PutAsJsonAsync("/v1/providers/devidp", new
        {
            issuer = idp.Issuer, scopes = "openid offline_access profile", api_base_url = idp.Issuer + "/api", allow_private_network = true,
        });
        Assert.True(put.IsSuccessStatusCode, await put.Content.ReadAsStringAsync());
        var provider = (await put.Content.ReadFromJsonAsync<JsonElement>());
        Assert.EndsWith("/device/auth", provider.GetProperty("device_authorization_endpoint").GetString(), StringComparison.Ordinal);
        using (var adminB = Admin(1))
        {
            await VisibleAsync(adminB, "/v1/providers/devidp", HttpStatusCode.OK);
        }

        using var serviceA = RefreshKit.Client(_nodes[0].BaseUrl, ServiceToken);
        var start = await serviceA.PostAsJsonAsync("/internal/oauth/connect/device",
            new { provider = "devidp", client_id = CredentialsKit.DeviceClientId, client_secret = CredentialsKit.DeviceClientSecret });
        var started = await start.Content.ReadFromJsonAsync<JsonElement>();
        Assert.True(start.IsSuccessStatusCode, started.ToString());

        // Node A goes away before the person acts: the flow lives in PostgreSQL, and the other nodes poll it.
        await _nodes[0].DisposeAsync();
        _nodes.RemoveAt(0);
        await DeviceFlowTests.EnterCodeAsync(browser, started.GetProperty("verification_uri").GetString()!, started.GetProperty("user_code").GetString()!, "nina");

        using var serviceB = RefreshKit.Client(_nodes[0].BaseUrl, ServiceToken);
        var state = Uri.EscapeDataString(started.GetProperty("state").GetString()!);
        JsonElement status = default;
        Assert.True(await CredentialsKit.EventuallyAsync(async () =>
        {
            status = await serviceB.GetFromJsonAsync<JsonElement>($"/internal/oauth/connect/device/{state}");
            return status.GetProperty("status").GetString() != "pending";
        }, TimeSpan.FromSeconds(30)));
        Assert.Equal("complete", status.GetProperty("status").GetString());
        using var adminC = Admin(1);
        var connection = await adminC.GetFromJsonAsync<JsonElement>($"/v1/connections/{status.GetProperty("connection_id").GetString()}");
        Assert.Equal("nina", connection.GetProperty("account").GetProperty("login").GetString());
        Assert.Equal("active", connection.GetProperty("status").GetString());
    }

    private HttpClient Admin(int node) => RefreshKit.Client(_nodes[node].BaseUrl, ValetTestServer.AdminToken);

    /// <summary>How long until <paramref name="path"/> answers <paramref name="status"/> on that node (polled every 10 ms, at most 5 s).</summary>
    private static async Task<TimeSpan> VisibleAsync(HttpClient admin, string path, HttpStatusCode status)
    {
        var watch = Stopwatch.StartNew();
        while (watch.Elapsed < TimeSpan.FromSeconds(5))
        {
            using var response = await admin.GetAsync(path);
            if (response.StatusCode == status)
            {
                return watch.Elapsed;
            }

            await Task.Delay(10);
        }

        Assert.Fail($"{path} never answered {status}");
        return watch.Elapsed;
    }
}
