using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using Npgsql;
using Valet.Tests.Infrastructure;

namespace Valet.Tests.Refresh;

/// <summary>
/// Races that could lose a rotated refresh token (the real IdP rotates on every refresh and revokes the whole grant when a
/// spent one is presented again). Both were found by a reliability review and failed before their fixes.
/// </summary>
[Collection(RefreshPostgresCollection.Name)]
public sealed class RotatedTokenRaceTests(PostgresFixture postgres, IdpFixture idp, BrowserFixture browser) : IAsyncLifetime
{
    public Task InitializeAsync() => idp.ResetAsync();

    public Task DisposeAsync() => idp.ResetAsync();

    /// <summary>
    /// SQLite (local mode): an import of a new access token without a refresh token (Valet keeps the stored one) lands
    /// while a refresh is at the IdP. The import's grant wins, but the refresh token it kept is the one the refresh just
    /// spent: the rotated one must take its place, or the next refresh presents a dead token and the IdP revokes the grant.
    /// </summary>
    [Fact]
    public async Task AnImportWithoutARefreshToken_DuringARefresh_KeepsTheRotatedRefreshToken()
    {
        await using var server = await ValetTestServer.StartAsync(idp.ProviderSettings());
        using var admin = server.Client();
        var credentialId = await EnvelopeMatrixTests.CreateCredentialAsync(admin, "default");

        // A real grant made with the org's own client (the import below must name the same credential).
        var start = await admin.PostAsJsonAsync("/v1/orgs/default/connect", new { provider = "idp", credential_id = credentialId });
        var started = await start.Content.ReadFromJsonAsync<JsonElement>();
        Assert.True(start.IsSuccessStatusCode, started.ToString());
        var page = await browser.AuthorizeAsync(started.GetProperty("authorize_url").GetString()!, "racer");
        await page.Context.CloseAsync();
        var flow = await admin.GetFromJsonAsync<JsonElement>($"/v1/flows/{started.GetProperty("flow_id").GetString()}/wait?timeout=15");
        Assert.Equal("complete", flow.GetProperty("status").GetString());
        var connectionId = flow.GetProperty("connection_id").GetString()!;

        var (_, key) = await server.CreateKeyAsync("default", new { connection = connectionId });
        using var agent = server.Client(key);
        await RefreshKit.ExpireAsync(server.Services, connectionId);
        var before = await RefreshKit.StoredAsync(server.Services, connectionId);

        await idp.SetSlowAsync(2000);
        var refreshes = await idp.RefreshRequestsAsync();
        var answerTask = RefreshKit.TokenAsync(agent, connectionId);
        Assert.True(await RefreshKit.EventuallyAsync(async () => await idp.RefreshRequestsAsync() > refreshes, TimeSpan.FromSeconds(10)));

        // The integrator imports a new access token for the same account while the IdP is answering the refresh.
        var import = await admin.PostAsJsonAsync("/v1/orgs/default/connections/import", new Dictionary<string, object?>
        {
            ["provider"] = "idp",
            ["credential_id"] = credentialId,
            ["access_token"] = "at-reimported-0123456789",
            ["expires_in"] = 3600,
            ["account"] = new { id = before.AccountId },
        });
        Assert.True(import.IsSuccessStatusCode, await import.Content.ReadAsStringAsync());

        var answer = await answerTask;
        Assert.Equal(HttpStatusCode.OK, answer.Status);
        Assert.Equal("at-reimported-0123456789", answer.Body.GetProperty("access_token").GetString()); // the newer grant wins
        var stored = await RefreshKit.StoredAsync(server.Services, connectionId);
        Assert.Equal("at-reimported-0123456789", stored.AccessToken.Reveal());
        Assert.NotEqual(before.RefreshToken, stored.RefreshToken);
        Assert.False(await idp.IsActiveAsync(before.RefreshToken!.Value.Reveal()), "the refresh spent the old refresh token");
        Assert.True(await idp.IsActiveAsync(stored.RefreshToken!.Value.Reveal()), "the stored refresh token is dead at the IdP: the rotated one was dropped");

        // And the grant goes on: the next refresh uses the rotated token.
        await idp.SetFaultAsync("none");
        await RefreshKit.ExpireAsync(server.Services, connectionId);
        var next = await RefreshKit.TokenAsync(agent, connectionId);
        Assert.Equal(HttpStatusCode.OK, next.Status);
        Assert.NotEqual("at-reimported-0123456789", next.Body.GetProperty("access_token").GetString());
    }

    /// <summary>
    /// A rolling deploy: SIGTERM reaches a node while its background refresher's provider call is in flight. The node
    /// must store the IdP's answer (a rotated refresh token) before it exits, so the next node refreshes with a live one.
    /// </summary>
    [Fact]
    public async Task AGracefulStop_DuringABackgroundRefresh_StoresTheRotatedRefreshTokenBeforeExiting()
    {
        var database = await postgres.CreateDatabaseAsync();
        try
        {
            var settings = new Dictionary<string, string?>(idp.ProviderSettings())
            {
                ["DATABASE"] = database,
                ["ENCRYPTION_KEY"] = ValetTestServer.RandomKey(),
                ["ADMIN_TOKEN"] = ValetTestServer.AdminToken,
                ["Refresh:ProactiveInterval"] = "00:00:01",
                ["Refresh:Jitter"] = "00:00:00",
            };
            string connectionId;
            var node = await ServeProcess.StartAsync(settings);
            try
            {
                connectionId = await RefreshKit.ConnectAsync(node.BaseUrl, ValetTestServer.AdminToken, browser, "deploy");
                await idp.SetSlowAsync(3000);
                var refreshes = await idp.RefreshRequestsAsync();
                await ExecAsync(database,
                    "UPDATE connections SET expires_at = now() + interval '3 minutes', next_refresh_at = now() - interval '1 second' WHERE id = @id", connectionId);
                Assert.True(await RefreshKit.EventuallyAsync(async () => await idp.RefreshRequestsAsync() > refreshes, TimeSpan.FromSeconds(10)),
                    "the background refresher never called the IdP");

                var took = await node.TerminateAsync(TimeSpan.FromSeconds(40));
                Assert.True(took > TimeSpan.FromSeconds(1), $"the node exited after {took.TotalSeconds:F1} s, before the IdP answered");
                Assert.Contains("waiting up to", node.Output, StringComparison.Ordinal);
            }
            finally
            {
                await node.DisposeAsync();
            }

            await idp.SetFaultAsync("none");

            // The next node of the deploy: an expired token refreshes with the stored (rotated) refresh token.
            await using var next = await ServeProcess.StartAsync(settings);
            using var admin = RefreshKit.Client(next.BaseUrl, ValetTestServer.AdminToken);
            var created = await admin.PostAsJsonAsync("/v1/orgs/default/keys", new { name = "agent", permissions = new[] { new { connection = connectionId } } });
            var key = (await created.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("key").GetString()!;
            using var agent = RefreshKit.Client(next.BaseUrl, key);
            await RefreshKit.ExpireInPostgresAsync(database, connectionId);
            var answer = await RefreshKit.TokenAsync(agent, new Uri(next.BaseUrl, $"/v1/connections/{connectionId}/token"));
            Assert.True(answer.Status == HttpStatusCode.OK, $"{answer.Status}: {answer.Text}");
        }
        finally
        {
            await postgres.DropDatabaseAsync(database);
        }
    }

    private static async Task ExecAsync(string database, string sql, string id)
    {
        await using var db = new NpgsqlConnection(database);
        await db.OpenAsync();
        await using var command = new NpgsqlCommand(sql, db);
        command.Parameters.AddWithValue("id", id);
        Assert.Equal(1, await command.ExecuteNonQueryAsync());
    }
}
