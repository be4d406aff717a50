using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using Valet.Tests.Infrastructure;

namespace Valet.Tests.Server;

/// <summary>
/// Runs the server through a realistic sequence (credential, key, import, refresh, token, bootstrap, disconnect, bad
/// calls) with every log line captured at every level, then asserts that no secret appears anywhere in the output.
/// </summary>
public sealed class SecretHygieneTests
{
    private const string ClientSecret = "client-secret-Do-Not-Log-7f3a";
    private const string ImportedAccess = "imported-access-Do-Not-Log-91c2";
    private const string ImportedRefresh = "imported-refresh-Do-Not-Log-44de";

    [Fact]
    public async Task NoSecret_ReachesAnyLog_ThroughARealisticSequence()
    {
        await using var provider = await FakeOAuthServer.StartAsync();
        await using var server = await ValetTestServer.StartAsync(provider.ProviderSettings("acme"));
        using var admin = server.Client();

        var credential = await (await admin.PostAsJsonAsync("/v1/orgs/default/credentials",
            new { provider = "acme", client_id = "acme-client", client_secret = ClientSecret })).Content.ReadFromJsonAsync<JsonElement>();
        var imported = await admin.PostAsJsonAsync("/v1/orgs/default/connections/import", new
        {
            provider = "acme",
            credential_id = credential.GetProperty("id").GetString(),
            access_token = ImportedAccess,
            refresh_token = ImportedRefresh,
            expires_in = 0,
            scopes = new[] { "read" },
            account = new { id = "user-1", login = "user-one" },
        });
        Assert.Equal(HttpStatusCode.Created, imported.StatusCode);
        var connectionId = (await imported.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("id").GetString()!;
        var (_, key) = await server.CreateKeyAsync("default", new { connection = connectionId });

        using var agent = server.Client(key);
        var token = await (await agent.PostAsync($"/v1/connections/{connectionId}/token", null)).Content.ReadFromJsonAsync<JsonElement>();
        Assert.Equal(FakeOAuthServer.AccessTokenAfterRefresh(1), token.GetProperty("access_token").GetString());
        Assert.Equal(HttpStatusCode.OK, (await agent.GetAsync("/v1/bootstrap")).StatusCode);
        using var forged = server.Client(key + "x");
        Assert.Equal(HttpStatusCode.Unauthorized, (await forged.GetAsync("/v1/bootstrap")).StatusCode);
        Assert.Equal(HttpStatusCode.OK, (await admin.GetAsync($"/v1/connections/{connectionId}")).StatusCode);
        Assert.Equal(HttpStatusCode.OK, (await admin.DeleteAsync($"/v1/connections/{connectionId}")).StatusCode);
        Assert.Contains(FakeOAuthServer.RefreshTokenAfterRefresh(1), provider.Revoked);

        var logs = server.Logs.All;
        Assert.NotEmpty(server.Logs.Lines);
        foreach (var secret in new[]
                 {
                     ClientSecret, ImportedAccess, ImportedRefresh, key, key[^20..], ValetTestServer.AdminToken, server.ServiceToken,
                     FakeOAuthServer.AccessTokenAfterRefresh(1), FakeOAuthServer.RefreshTokenAfterRefresh(1),
                 })
        {
            Assert.DoesNotContain(secret, logs, StringComparison.Ordinal);
        }
    }
}
