using System.Net;
using Microsoft.Data.Sqlite;
using Npgsql;
using Valet.Core.Domain;
using Valet.Storage;
using Valet.Tests.Infrastructure;

namespace Valet.Tests.Refresh;

/// <summary>
/// The real IdP rotates the refresh token on every refresh and revokes the grant when a rotated one is used again; so a
/// refresh whose answer is not stored loses the connection. Here the database fails exactly when that answer is being
/// stored — PostgreSQL drops the lease's connection, SQLite refuses the write — and the answer is
/// stored on a later attempt: the caller gets the new token, and the stored refresh token is the new one, live at the IdP.
/// </summary>
[Collection(RefreshPostgresCollection.Name)]
public sealed class RefreshCommitFailureTests(PostgresFixture postgres, IdpFixture idp, BrowserFixture browser) : IAsyncLifetime
{
    public Task InitializeAsync() => idp.ResetAsync();

    public Task DisposeAsync() => idp.ResetAsync();

    [Fact]
    public async Task PostgresDropsTheLeaseConnection_WhileTheProviderRotates_TheNewRefreshTokenIsStoredAnyway()
    {
        var database = await postgres.CreateDatabaseAsync();
        var name = new NpgsqlConnectionStringBuilder(database).Database!;
        try
        {
            var settings = new Dictionary<string, string?>(idp.ProviderSettings())
            {
                ["DATABASE"] = database,
                ["ENCRYPTION_KEY"] = ValetTestServer.RandomKey(),
            };
            await using var server = await ValetTestServer.StartAsync(settings);
            var (agent, connectionId, before) = await ConnectExpiredAsync(server, "pg-commit");

            // The refresh holds its row lock in an open transaction across the provider call: that backend is the only one
            // "idle in transaction" in this database while the IdP waits. Kill it then; the commit after the answer fails.
            await idp.SetSlowAsync(1500);
            var refreshes = await idp.RefreshRequestsAsync();
            var answerTask = RefreshKit.TokenAsync(agent, connectionId);
            Assert.True(await RefreshKit.EventuallyAsync(async () => await KillIdleInTransactionAsync(name) == 1, TimeSpan.FromSeconds(10)),
                "the refresh's lease never showed up as idle in transaction");

            await AssertStoredAfterRetryAsync(server, await answerTask, connectionId, before, refreshes);
        }
        finally
        {
            await postgres.DropDatabaseAsync(database);
        }
    }

    [Fact]
    public async Task SqliteRefusesTheWrite_WhileTheProviderRotates_TheNewRefreshTokenIsStoredAnyway()
    {
        await using var server = await ValetTestServer.StartAsync(idp.ProviderSettings());
        var (agent, connectionId, before) = await ConnectExpiredAsync(server, "sqlite-commit");

        // A write that fails in SQLite itself, at once: a trigger that aborts every UPDATE of the connections table, put in
        // the database file while the IdP is answering and taken out once the first commit has failed. (A writer holding
        // the lock does the same more slowly: busy_timeout and Microsoft.Data.Sqlite's own retries add up to about 30 s.)
        await using var db = new SqliteConnection(new SqliteConnectionStringBuilder
        {
            DataSource = Path.Combine(server.DataDirectory, DatabaseTarget.DefaultSqliteFileName),
            Pooling = false,
        }.ToString());
        await db.OpenAsync();
        await idp.SetSlowAsync(500);
        var refreshes = await idp.RefreshRequestsAsync();
        var answerTask = RefreshKit.TokenAsync(agent, connectionId);
        Assert.True(await RefreshKit.EventuallyAsync(async () => await idp.RefreshRequestsAsync() > refreshes, TimeSpan.FromSeconds(10)));
        await ExecuteAsync(db, "CREATE TRIGGER refuse_update BEFORE UPDATE ON connections BEGIN SELECT RAISE(ABORT, 'refused by the test'); END");

        Assert.True(await RefreshKit.EventuallyAsync(() => Task.FromResult(server.Logs.Lines.Any(l => l.Contains("[3108]", StringComparison.Ordinal))),
            TimeSpan.FromSeconds(10)), "the first commit never failed");
        await ExecuteAsync(db, "DROP TRIGGER refuse_update");

        await AssertStoredAfterRetryAsync(server, await answerTask, connectionId, before, refreshes);
    }

    private static async Task ExecuteAsync(SqliteConnection db, string sql)
    {
        await using var command = db.CreateCommand();
        command.CommandText = sql;
        await command.ExecuteNonQueryAsync();
    }

    private async Task<(HttpClient Agent, string ConnectionId, Connection Before)> ConnectExpiredAsync(ValetTestServer server, string login)
    {
        var connectionId = await RefreshKit.ConnectAsync(server, browser, login);
        var (_, key) = await server.CreateKeyAsync("default", new { connection = connectionId });
        await RefreshKit.ExpireAsync(server.Services, connectionId);
        return (server.Client(key), connectionId, await RefreshKit.StoredAsync(server.Services, connectionId));
    }

    private async Task AssertStoredAfterRetryAsync(ValetTestServer server, TokenAnswer answer, string connectionId, Connection before, int refreshesBefore)
    {
        Assert.True(answer.Status == HttpStatusCode.OK, $"{answer.Status}: {answer.Text}");
        Assert.True(await idp.IsActiveAsync(answer.AccessToken!), "the new access token is live");
        Assert.Equal(1, await idp.RefreshRequestsAsync() - refreshesBefore);

        var stored = await RefreshKit.StoredAsync(server.Services, connectionId);
        Assert.Equal(answer.AccessToken, stored.AccessToken.Reveal());
        Assert.NotEqual(before.RefreshToken, stored.RefreshToken);
        Assert.True(await idp.IsActiveAsync(stored.RefreshToken!.Value.Reveal()), "the stored refresh token is the rotated one, live at the IdP");
        Assert.False(await idp.IsActiveAsync(before.RefreshToken!.Value.Reveal()), "the old refresh token was rotated away");
        Assert.Contains(server.Logs.Lines, l => l.Contains("[3108]", StringComparison.Ordinal));
        Assert.Contains(server.Logs.Lines, l => l.Contains("[3113]", StringComparison.Ordinal));

        // And the grant still works: the next refresh uses the stored (rotated) token.
        await idp.SetFaultAsync("none");
        await RefreshKit.ExpireAsync(server.Services, connectionId);
        using var again = server.Client((await server.CreateKeyAsync("default", new { connection = connectionId })).Key);
        var next = await RefreshKit.TokenAsync(again, connectionId);
        Assert.True(next.Status == HttpStatusCode.OK, $"{next.Status}: {next.Text}");
        Assert.NotEqual(answer.AccessToken, next.AccessToken);
    }

    private async Task<int> KillIdleInTransactionAsync(string database)
    {
        await using var connection = new NpgsqlConnection(postgres.AdminConnectionString);
        await connection.OpenAsync();
        await using var command = new NpgsqlCommand(
            "SELECT count(pg_terminate_backend(pid))::int FROM pg_stat_activity WHERE datname = @db AND state = 'idle in transaction' AND pid <> pg_backend_pid()",
            connection);
        command.Parameters.AddWithValue("db", database);
        return (int)(await command.ExecuteScalarAsync())!;
    }
}
