using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using Valet.Tests.Infrastructure;

namespace Valet.Tests.Refresh;

/// <summary>Exactly-once refresh across three real <c>valet serve</c> processes sharing one PostgreSQL database.</summary>
[Collection(RefreshPostgresCollection.Name)]
public sealed class MultiNodeRefreshTests(PostgresFixture postgres, IdpFixture idp, BrowserFixture browser) : IAsyncLifetime
{
    private readonly List<ServeProcess> _nodes = [];
    private string _database = null!;

    public async Task InitializeAsync()
    {
        await idp.ResetAsync();
        _database = await postgres.CreateDatabaseAsync();
        var settings = new Dictionary<string, string?>(idp.ProviderSettings())
        {
            // Sized as an operator must: nodes × pool ≤ the server's max_connections (300 in the fixture). With Npgsql's
            // default of 100 per node, three nodes under a 1,000-request storm exhaust it ("too many clients").
            ["DATABASE"] = _database + ";Maximum Pool Size=60",
            ["ENCRYPTION_KEY"] = ValetTestServer.RandomKey(),
            ["ADMIN_TOKEN"] = ValetTestServer.AdminToken,
            ["RateLimits:AgentRequestsPerSecond"] = "100000", // a 1,000-call storm with one key
            ["RateLimits:AgentBurst"] = "100000",
        };

        // The first node migrates; the others then boot together (they queue on the migration lock anyway).
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
        await idp.ResetAsync();
    }

    [Fact]
    public async Task Refresh_IsSingleFlight_AcrossThreeServeProcesses_OnOnePostgres()
    {
        var connectionId = await RefreshKit.ConnectAsync(_nodes[0].BaseUrl, ValetTestServer.AdminToken, browser, "hosted");
        using var admin = RefreshKit.Client(_nodes[0].BaseUrl, ValetTestServer.AdminToken);
        var created = await admin.PostAsJsonAsync("/v1/orgs/default/keys", new { name = "agent", permissions = new[] { new { connection = connectionId } } });
        var key = (await created.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("key").GetString()!;
        using var agent = RefreshKit.StormClient(key);
        var oldToken = (await RefreshKit.TokenAsync(agent, new Uri(_nodes[2].BaseUrl, $"/v1/connections/{connectionId}/token"))).AccessToken;
        // Node 2 has the row cached; the others learn of this out-of-band UPDATE by NOTIFY, asynchronously. A storm started
        // before it arrives is served the old row by node 2 (correct, the token is still valid, but not what this measures).
        var refreshesBefore = await idp.RefreshRequestsAsync(); // before the expiry: a proactive refresh of it counts as the one refresh
        await RefreshKit.ExpireOnEveryNodeAsync(_database, [.. _nodes.Select(n => n.BaseUrl)], connectionId);

        var answers = await RefreshKit.StormAsync(agent, [.. _nodes.Select(n => n.BaseUrl)], connectionId, 1000);

        Assert.All(answers, a => Assert.True(a.Status == HttpStatusCode.OK, $"{a.Status}: {a.Text}"));
        var token = Assert.Single(answers.Select(a => a.AccessToken).Distinct());
        Assert.NotEqual(oldToken, token);
        Assert.Equal(1, await idp.RefreshRequestsAsync() - refreshesBefore);
        Assert.True(await idp.IsActiveAsync(token!));

        // Every node now serves the stored token from its hot path, with no further provider call.
        foreach (var node in _nodes)
        {
            Assert.Equal(token, (await RefreshKit.TokenAsync(agent, new Uri(node.BaseUrl, $"/v1/connections/{connectionId}/token"))).AccessToken);
        }

        Assert.Equal(1, await idp.RefreshRequestsAsync() - refreshesBefore);
    }
}
