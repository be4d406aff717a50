using System.Net;
using Npgsql;
using Valet.Tests.Infrastructure;

namespace Valet.Tests.Dashboard;

/// <summary>Two nodes on one PostgreSQL: one Data Protection key ring and one session table for both.</summary>
[Collection(PostgresCollection.Name)]
public sealed class SessionPostgresTests(PostgresFixture postgres)
{
    [Fact]
    public async Task ACookieIssuedByOneNode_IsAcceptedByTheOther_AndSignOutOnEitherEndsItOnBoth()
    {
        var database = await postgres.CreateDatabaseAsync();
        try
        {
            var settings = new Dictionary<string, string?> { ["DATABASE"] = database, ["ENCRYPTION_KEY"] = ValetTestServer.RandomKey() };
            await using var nodeA = await ValetTestServer.StartAsync(settings);
            await using var nodeB = await ValetTestServer.StartAsync(settings);
            using var browserA = SessionKit.Client(nodeA.BaseUrl);
            using var browserB = SessionKit.Client(nodeB.BaseUrl);

            var cookie = await SessionKit.SessionCookieAsync(browserA);

            Assert.Equal(HttpStatusCode.OK, await SessionKit.MeAsync(browserB, cookie));
            using (await SessionKit.SignOutAsync(browserB, cookie))
            {
            }

            Assert.Equal(HttpStatusCode.Unauthorized, await SessionKit.MeAsync(browserA, cookie));
            Assert.Equal(HttpStatusCode.Unauthorized, await SessionKit.MeAsync(browserB, cookie));

            // The key ring is in the database, sealed by the vault: no key material in the clear.
            await using var db = new NpgsqlConnection(database);
            await db.OpenAsync();
            await using var command = new NpgsqlCommand("SELECT xml FROM data_protection_keys", db);
            await using var rows = await command.ExecuteReaderAsync();
            var count = 0;
            while (await rows.ReadAsync())
            {
                count++;
                var stored = System.Text.Encoding.UTF8.GetString((byte[])rows.GetValue(0));
                Assert.DoesNotContain("<key", stored, StringComparison.Ordinal);
                Assert.DoesNotContain("masterKey", stored, StringComparison.Ordinal);
            }

            Assert.Equal(1, count);
        }
        finally
        {
            await postgres.DropDatabaseAsync(database);
        }
    }
}
