using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using Npgsql;
using Valet.Tests.Infrastructure;

namespace Valet.Tests.Refresh;

/// <summary>
/// Three real <c>valet serve</c> processes with their default pool settings on a PostgreSQL configured as it ships
/// (<c>max_connections</c> = 100), connecting as an ordinary role: a storm on cold caches must not crowd the server.
/// </summary>
[Collection(RefreshPostgresCollection.Name)]
public sealed class StockPostgresStormTests(StockPostgresFixture postgres, IdpFixture idp, BrowserFixture browser) : IAsyncLifetime
{
    private readonly List<ServeProcess> _nodes = [];
    private string _database = null!;

    public async Task InitializeAsync()
    {
        await idp.ResetAsync();
        _database = await postgres.CreateApplicationDatabaseAsync();
        var settings = new Dictionary<string, string?>(idp.ProviderSettings())
        {
            // No Maximum Pool Size: the default must fit three nodes on a stock server.
            ["DATABASE"] = _database,
            ["ENCRYPTION_KEY"] = ValetTestServer.RandomKey(),
            ["ADMIN_TOKEN"] = ValetTestServer.AdminToken,
            ["RateLimits:AgentRequestsPerSecond"] = "100000", // a storm with one key
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
        await idp.ResetAsync();
    }

    [Fact]
    public async Task Storm_OnColdCaches_ThreeNodes_StockPostgres_AnswersEveryCaller_WithOneRefresh()
    {
        Assert.Equal(StockPostgresFixture.StockMaxConnections, await MaxConnectionsAsync());
        var connectionId = await RefreshKit.ConnectAsync(_nodes[0].BaseUrl, ValetTestServer.AdminToken, browser, "stock");
        using var admin = RefreshKit.Client(_nodes[0].BaseUrl, ValetTestServer.AdminToken);
        var created = await admin.PostAsJsonAsync("/v1/orgs/default/keys", new { name = "agent", permissions = new[] { new { connection = connectionId } } });
        var key = (await created.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("key").GetString()!;
        // Counted before the expiry: a node's proactive refresher may take the row the moment it is due, and that refresh
        // is the one refresh the storm must then share.
        var refreshesBefore = await idp.RefreshRequestsAsync();
        await RefreshKit.ExpireInPostgresAsync(_database, connectionId);
        using var agent = RefreshKit.StormClient(key);

        // No node has read the key or the connection yet: every cache is cold when the storm starts.
        var answers = await RefreshKit.StormAsync(agent, [.. _nodes.Select(n => n.BaseUrl)], connectionId, 1000);

        Assert.All(answers, a => Assert.True(a.Status == HttpStatusCode.OK, $"{a.Status}: {a.Text}"));
        Assert.Single(answers.Select(a => a.AccessToken).Distinct());
        Assert.Equal(1, await idp.RefreshRequestsAsync() - refreshesBefore);
        foreach (var node in _nodes)
        {
            Assert.DoesNotContain("   at ", node.Output, StringComparison.Ordinal);
            Assert.DoesNotContain("storage_unavailable", node.Output, StringComparison.Ordinal);
            Assert.DoesNotContain("Storage unavailable", node.Output, StringComparison.Ordinal);
        }
    }

    private async Task<int> MaxConnectionsAsync()
    {
        await using var db = new NpgsqlConnection(_database);
        await db.OpenAsync();
        await using var command = new NpgsqlCommand("SHOW max_connections", db);
        return int.Parse((string)(await command.ExecuteScalarAsync())!, System.Globalization.CultureInfo.InvariantCulture);
    }
}
