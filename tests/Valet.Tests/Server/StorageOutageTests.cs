using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using Npgsql;
using Valet.Tests.Infrastructure;

namespace Valet.Tests.Server;

/// <summary>
/// The database goes away under a running node (connections killed, new ones refused), then comes back. Callers get a
/// 503 problem with Retry-After while it is gone, never a 500, and the node serves again without a restart.
/// </summary>
[Collection(PostgresCollection.Name)]
public sealed class StorageOutageTests(PostgresFixture postgres)
{
    [Fact]
    public async Task DatabaseUnreachable_Answers503StorageUnavailable_ThenRecoversWithoutRestart()
    {
        var database = await postgres.CreateDatabaseAsync();
        var name = new NpgsqlConnectionStringBuilder(database).Database!;
        await using var server = await ValetTestServer.StartAsync(new Dictionary<string, string?>
        {
            ["DATABASE"] = database,
            ["ENCRYPTION_KEY"] = ValetTestServer.RandomKey(),
            ["SERVICE_TOKEN"] = ServiceToken,
        });
        using var admin = server.Client();
        Assert.Equal(HttpStatusCode.OK, (await admin.GetAsync("/v1/orgs/default/connections")).StatusCode);

        await AdminSqlAsync($"ALTER DATABASE {name} ALLOW_CONNECTIONS false");
        await AdminSqlAsync($"SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '{name}' AND pid <> pg_backend_pid()");
        try
        {
            // First call meets a killed pooled connection, the second a refused new one: both are an outage.
            for (var attempt = 0; attempt < 2; attempt++)
            {
                using var response = await admin.GetAsync("/v1/orgs/default/connections");
                var problem = await response.Content.ReadFromJsonAsync<JsonElement>();
                Assert.Equal(HttpStatusCode.ServiceUnavailable, response.StatusCode);
                Assert.Equal("storage_unavailable", problem.GetProperty("code").GetString());
                Assert.NotNull(response.Headers.RetryAfter);
            }

            // A sign-in link that fails on the database is not used up: its token must not reach the log with the path.
            using var nobody = server.Client(null);
            using var link = await nobody.GetAsync("/signin/link/unspent-link-token-0123456789");
            Assert.Equal(HttpStatusCode.ServiceUnavailable, link.StatusCode);
            // (Valet's own lines: the framework's request logging, which would print every path, is off in valet serve.)
            var valetLines = server.Logs.Lines.Where(line => line.Contains(" Valet.", StringComparison.Ordinal)).ToList();
            Assert.Contains(valetLines, line => line.Contains("/signin/link/…", StringComparison.Ordinal));
            Assert.DoesNotContain(valetLines, line => line.Contains("unspent-link-token", StringComparison.Ordinal));

            // Nor the OAuth state of a CLI's connect poll, which the failed request did not spend either.
            using var cli = server.Client(ServiceToken);
            using var status = await cli.GetAsync("/internal/oauth/connect/status/unspent-oauth-state-0123456789");
            Assert.Equal(HttpStatusCode.ServiceUnavailable, status.StatusCode);
            valetLines = server.Logs.Lines.Where(line => line.Contains(" Valet.", StringComparison.Ordinal)).ToList();
            Assert.Contains(valetLines, line => line.Contains("/internal/oauth/connect/status/…", StringComparison.Ordinal));
            Assert.DoesNotContain(valetLines, line => line.Contains("unspent-oauth-state", StringComparison.Ordinal));
        }
        finally
        {
            await AdminSqlAsync($"ALTER DATABASE {name} ALLOW_CONNECTIONS true");
        }

        Assert.Equal(HttpStatusCode.OK, (await admin.GetAsync("/v1/orgs/default/connections")).StatusCode);
        Assert.DoesNotContain(server.Logs.Lines, line => line.Contains(ValetTestServer.AdminToken, StringComparison.Ordinal));
    }

    private const string ServiceToken = "outage-test-service-token-0123456789abcdef";

    private async Task AdminSqlAsync(string sql)
    {
        await using var connection = new NpgsqlConnection(postgres.AdminConnectionString);
        await connection.OpenAsync();
        await using var command = new NpgsqlCommand(sql, connection);
        await command.ExecuteNonQueryAsync();
    }
}
