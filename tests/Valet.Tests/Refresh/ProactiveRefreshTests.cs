using Npgsql;
using Valet.Tests.Infrastructure;

namespace Valet.Tests.Refresh;

/// <summary>
/// The background refresher against the real IdP with 30-second access tokens: tokens are renewed before they expire
/// with no caller at all, and two nodes on one PostgreSQL never both renew the same connection.
/// </summary>
[Collection(RefreshPostgresCollection.Name)]
public sealed class ProactiveRefreshTests(PostgresFixture postgres, ShortLivedIdpFixture idp, BrowserFixture browser) : IAsyncLifetime
{
    public Task InitializeAsync() => idp.ResetAsync();

    public Task DisposeAsync() => idp.ResetAsync();

    /// <summary>A 30 s token is renewed 15 s before expiry (half its life); the refresher polls every second.</summary>
    private Dictionary<string, string?> Settings(string? database = null, string? key = null)
    {
        var settings = idp.ProviderSettings();
        settings["Refresh:Skew"] = "00:00:05";
        settings["Refresh:ProactiveLead"] = "00:00:25";
        settings["Refresh:ProactiveInterval"] = "00:00:01";
        settings["Refresh:Jitter"] = "00:00:00.200";
        if (database is not null)
        {
            settings["DATABASE"] = database;
            settings["ENCRYPTION_KEY"] = key;
        }

        return settings;
    }

    [Fact]
    public async Task BackgroundRefresher_RenewsATokenBeforeItExpires_WithoutAnyCaller()
    {
        await using var server = await ValetTestServer.StartAsync(Settings());
        var connectionId = await RefreshKit.ConnectAsync(server, browser, "early-bird");
        var refreshesBefore = await idp.RefreshRequestsAsync();
        var observer = new RefreshObserver([connectionId], async id =>
        {
            var stored = await RefreshKit.StoredAsync(server.Services, id);
            return (stored.LastRefreshedAt, stored.ExpiresAt);
        });

        // Two background renewals, each while the previous token was still valid.
        Assert.True(await RefreshKit.EventuallyAsync(async () => (await observer.SampleAsync())[connectionId] >= 2, TimeSpan.FromSeconds(45)),
            "the background refresher did not renew the token twice in 45 s");

        observer.AssertEachRefreshBeforeExpiry();
        Assert.Equal(observer.Total, await idp.RefreshRequestsAsync() - refreshesBefore);
        var stored = await RefreshKit.StoredAsync(server.Services, connectionId);
        Assert.True(stored.ExpiresAt > DateTimeOffset.UtcNow);
        Assert.True(await idp.IsActiveAsync(stored.AccessToken.Reveal()));
        Assert.True(await idp.IsActiveAsync(stored.RefreshToken!.Value.Reveal()));
    }

    [Fact]
    public async Task BackgroundRefreshers_OnTwoNodes_OnePostgres_NeverBothRenewTheSameConnection()
    {
        var database = await postgres.CreateDatabaseAsync();
        var key = ValetTestServer.RandomKey();
        var node1 = await ValetTestServer.StartAsync(Settings(database, key));
        var node2 = await ValetTestServer.StartAsync(Settings(database, key));
        var running = true;
        try
        {
            string[] connections =
            [
                await RefreshKit.ConnectAsync(node1, browser, "pg-one"),
                await RefreshKit.ConnectAsync(node1, browser, "pg-two"),
            ];
            var refreshesBefore = await idp.RefreshRequestsAsync();
            var observer = new RefreshObserver(connections, id => ReadScheduleAsync(database, id));

            Assert.True(await RefreshKit.EventuallyAsync(async () => (await observer.SampleAsync()).Values.All(n => n >= 2), TimeSpan.FromSeconds(45)),
                "the background refreshers did not renew each connection twice in 45 s");

            // Stop both nodes, then compare: every renewal the IdP saw is one stored renewal by one node (none doubled, none lost).
            running = false;
            await node2.DisposeAsync();
            await node1.DisposeAsync();
            await observer.SampleAsync();

            observer.AssertEachRefreshBeforeExpiry();
            Assert.Equal(observer.Total, await idp.RefreshRequestsAsync() - refreshesBefore);
            var byNode1 = node1.Logs.Lines.Count(l => l.Contains("[3100]", StringComparison.Ordinal));
            var byNode2 = node2.Logs.Lines.Count(l => l.Contains("[3100]", StringComparison.Ordinal));
            Assert.True(byNode1 + byNode2 == observer.Total, $"node 1 renewed {byNode1}, node 2 {byNode2}; {observer.Total} renewals stored");
        }
        finally
        {
            if (running)
            {
                await node2.DisposeAsync();
                await node1.DisposeAsync();
            }

            await postgres.DropDatabaseAsync(database);
        }
    }

    private static async Task<(DateTimeOffset? RefreshedAt, DateTimeOffset? ExpiresAt)> ReadScheduleAsync(string database, string connectionId)
    {
        await using var db = new NpgsqlConnection(database);
        await db.OpenAsync();
        await using var command = new NpgsqlCommand("SELECT last_refreshed_at, expires_at FROM connections WHERE id = @id", db);
        command.Parameters.AddWithValue("id", connectionId);
        await using var row = await command.ExecuteReaderAsync();
        Assert.True(await row.ReadAsync());
        return (row.IsDBNull(0) ? null : row.GetFieldValue<DateTimeOffset>(0), row.IsDBNull(1) ? null : row.GetFieldValue<DateTimeOffset>(1));
    }
}
