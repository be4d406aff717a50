using System.Net;
using System.Net.Http.Json;
using System.Security.Cryptography;
using System.Text.Json;
using Microsoft.Extensions.DependencyInjection;
using Valet.Core.Domain;
using Valet.Core.Stores;
using Valet.Tests.Infrastructure;

namespace Valet.Tests.Server;

/// <summary>The admin verbs of the real `valet` executable against a real server, and `valet vault rotate` on the database.</summary>
public sealed class CliAdminTests
{
    private static Dictionary<string, string?> Env(ValetTestServer server) => new()
    {
        ["VALET_URL"] = server.BaseUrl.ToString(),
        ["VALET_DATA_DIR"] = server.DataDirectory,
    };

    [Fact]
    public async Task OrgsKeysCredentialsProviders_WorkThroughTheCli()
    {
        await using var server = await ValetTestServer.StartAsync();
        var env = Env(server);

        var org = await CliRunner.RunAsync(["orgs", "create", "acme", "--name", "Acme", "--json"], env);
        var headless = await CliRunner.RunAsync(["orgs", "set-headless", "acme", "true", "--json"], env);
        var credential = await CliRunner.RunAsync(["credentials", "add", "github", "--client-id", "Iv1.x", "--org", "acme"], env, stdin: "shh-secret\n");
        var key = await CliRunner.RunAsync(["keys", "create", "bot", "--allow", "provider:github", "--org", "acme"], env);
        var keys = await CliRunner.RunAsync(["keys", "list", "--org", "acme", "--json"], env);
        var badAllow = await CliRunner.RunAsync(["keys", "create", "bot", "--allow", "everything"], env);
        var typoAllow = await CliRunner.RunAsync(["keys", "create", "bot", "--allow", "provider:github:bogus"], env);
        var revealTarget = await CliRunner.RunAsync(["keys", "create", "bot", "--allow", "target:tgt_x:reveal"], env);
        var providers = await CliRunner.RunAsync(["providers", "list", "--json"], env);
        var providersTable = await CliRunner.RunAsync(["providers", "list"], env);

        Assert.Equal(0, org.ExitCode);
        Assert.True(JsonDocument.Parse(headless.StdOut).RootElement.GetProperty("headless").GetBoolean());
        Assert.StartsWith("cred_", credential.StdOut.Trim(), StringComparison.Ordinal);
        Assert.StartsWith("vk_", key.StdOut.Trim(), StringComparison.Ordinal);
        Assert.Contains("shown only once", key.StdErr, StringComparison.Ordinal);
        Assert.DoesNotContain(key.StdOut.Trim(), keys.StdOut, StringComparison.Ordinal);
        Assert.Equal("bot", JsonDocument.Parse(keys.StdOut).RootElement[0].GetProperty("name").GetString());
        Assert.Equal(2, badAllow.ExitCode);
        Assert.Equal(2, typoAllow.ExitCode); // usage, caught before the server: no id has a colon in it
        Assert.Equal(2, revealTarget.ExitCode);
        Assert.Contains(JsonDocument.Parse(providers.StdOut).RootElement.EnumerateArray(), p => p.GetProperty("id").GetString() == "microsoft");
        Assert.Contains("no (no client configured)", providersTable.StdOut, StringComparison.Ordinal);

        using var agent = server.Client(key.StdOut.Trim());
        Assert.Equal(System.Net.HttpStatusCode.OK, (await agent.GetAsync("/v1/bootstrap")).StatusCode);

        // Revoked, with --json like every other verb that deletes: one document, the key no longer works.
        var keyId = JsonDocument.Parse(keys.StdOut).RootElement[0].GetProperty("id").GetString()!;
        var revoked = await CliRunner.RunAsync(["keys", "revoke", keyId, "--json"], env);
        Assert.True(revoked.ExitCode == 0, revoked.StdErr);
        var document = JsonDocument.Parse(revoked.StdOut).RootElement;
        Assert.Equal((keyId, true), (document.GetProperty("id").GetString(), document.GetProperty("revoked").GetBoolean()));
        Assert.Equal(System.Net.HttpStatusCode.Unauthorized, (await agent.GetAsync("/v1/bootstrap")).StatusCode);
    }

    [Fact]
    public async Task AnUnknownProvider_IsOneLine_NamingTheVerbThatListsProviders_AsWellAsTheRoute()
    {
        await using var server = await ValetTestServer.StartAsync();
        var env = Env(server);

        var connection = await CliRunner.RunAsync(["connections", "add", "nosuch", "--secret", "-"], env, stdin: "sk_whatever\n");
        var credential = await CliRunner.RunAsync(["credentials", "add", "nosuch", "--client-id", "Iv1.x"], env, stdin: "shh\n");
        var key = await CliRunner.RunAsync(["keys", "create", "agent", "--allow", "provider:nosuch"], env);

        foreach (var run in new[] { connection, credential, key })
        {
            Assert.NotEqual(0, run.ExitCode);
            Assert.Contains("unknown provider 'nosuch'", run.StdErr, StringComparison.Ordinal);
            Assert.Contains("valet providers list", run.StdErr, StringComparison.Ordinal);
            Assert.DoesNotContain("   at ", run.StdErr, StringComparison.Ordinal);
        }
    }

    [Fact]
    public async Task KeysList_ShowsEveryPermissionShape_InTheSyntaxAllowTakes_RevealIncluded()
    {
        await using var server = await ValetTestServer.StartAsync();
        var env = Env(server);
        var connection = await CliRunner.RunAsync(["connections", "add", "stripe", "--secret", "-"], env, stdin: "sk_test_cli_permissions\n");
        var connectionId = connection.StdOut.Trim();
        await server.Services.GetRequiredService<ITargetStore>().CreateAsync(new Target
        {
            Id = "tgt_cli_permissions", OrgId = "default", ConnectionId = connectionId, Name = "charges", Provider = "stripe",
            BaseUrl = "https://api.stripe.com", CreatedAt = DateTimeOffset.UtcNow,
        }, CancellationToken.None);

        var create = await CliRunner.RunAsync(["keys", "create", "billing", "--allow", $"connection:{connectionId}:reveal", "--allow", "provider:stripe:reveal",
            "--allow", "provider:github", "--allow", "target:tgt_cli_permissions"], env);
        var list = await CliRunner.RunAsync(["keys", "list"], env);

        Assert.True(create.ExitCode == 0, create.StdErr);
        Assert.True(list.ExitCode == 0, list.StdErr);
        Assert.Equal(string.Empty, list.StdErr);
        var row = Assert.Single(list.StdOut.Split('\n'), l => l.Contains("billing", StringComparison.Ordinal));
        var columns = row.Split("  ", StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
        Assert.Equal("never", columns[^1]); // last used: this key has not been
        var permissions = columns[^2].Split(',');
        Assert.Equal(
            new[] { $"connection:{connectionId}:reveal", "provider:github", "provider:stripe:reveal", "target:tgt_cli_permissions" },
            permissions.Order(StringComparer.Ordinal));
    }

    [Fact]
    public async Task VaultRotate_ReencryptsEveryRow_UnderTheNewKey_ThenTheOldKeyCanGo()
    {
        var dir = Path.Combine(Path.GetTempPath(), "valet-rotate-" + Guid.NewGuid().ToString("N"));
        var oldKey = Convert.ToBase64String(RandomNumberGenerator.GetBytes(32));
        var newKey = Convert.ToBase64String(RandomNumberGenerator.GetBytes(32));
        string connectionId;
        await using (var provider = await FakeOAuthServer.StartAsync())
        {
            var settings = provider.ProviderSettings("acme");
            settings["ENCRYPTION_KEYS"] = $"old:{oldKey}";
            await using var server = await ValetTestServer.StartAsync(settings, dir);
            using var admin = server.Client();
            var credential = await (await admin.PostAsJsonAsync("/v1/orgs/default/credentials", new { provider = "acme", client_id = "c", client_secret = "rotate-me" }))
                .Content.ReadFromJsonAsync<JsonElement>();
            connectionId = (await (await admin.PostAsJsonAsync("/v1/orgs/default/connections/import", new
            {
                provider = "acme", credential_id = credential.GetProperty("id").GetString(), access_token = "at-rotate", refresh_token = "rt-rotate",
                account = new { id = "u" },
            })).Content.ReadFromJsonAsync<JsonElement>()).GetProperty("id").GetString()!;

            // Rotated under a server that was not given the new key first: what it can no longer open is a 503 with a
            // code and one log line, not a 500 and a stack trace.
            var early = await CliRunner.RunAsync(["vault", "rotate"],
                new Dictionary<string, string?> { ["VALET_DATA_DIR"] = dir, ["VALET_ENCRYPTION_KEYS"] = $"new:{newKey},old:{oldKey}" });
            Assert.True(early.ExitCode == 0, early.StdErr);
            using var stale = await admin.GetAsync("/v1/orgs/default/credentials");
            var problem = await stale.Content.ReadFromJsonAsync<JsonElement>();
            Assert.Equal(HttpStatusCode.ServiceUnavailable, stale.StatusCode);
            Assert.Equal("vault_key_unavailable", problem.GetProperty("code").GetString());
            Assert.Contains(server.Logs.Lines, line => line.Contains("[1097]", StringComparison.Ordinal) && line.Contains("new", StringComparison.Ordinal));
            Assert.DoesNotContain(server.Logs.Lines, line => line.Contains("[1099]", StringComparison.Ordinal));
        }

        var env = new Dictionary<string, string?> { ["VALET_DATA_DIR"] = dir, ["VALET_ENCRYPTION_KEYS"] = $"new:{newKey},old:{oldKey}" };
        var rotate = await CliRunner.RunAsync(["vault", "rotate", "--json"], env);
        var again = await CliRunner.RunAsync(["vault", "rotate", "--json"], env);

        Assert.True(rotate.ExitCode == 0, rotate.StdErr);
        Assert.Equal(0, JsonDocument.Parse(rotate.StdOut).RootElement.GetProperty("reencrypted").GetInt64()); // the early run did it all
        Assert.Equal(0, JsonDocument.Parse(again.StdOut).RootElement.GetProperty("reencrypted").GetInt64());

        // The old key is no longer needed: a server with only the new key reads everything.
        await using var after = await ValetTestServer.StartAsync(new Dictionary<string, string?> { ["ENCRYPTION_KEYS"] = $"new:{newKey}" }, dir);
        using var service = after.Client(after.ServiceToken);
        var token = await (await service.PostAsync($"/v1/connections/{connectionId}/token", null)).Content.ReadFromJsonAsync<JsonElement>();
        Assert.Equal("at-rotate", token.GetProperty("access_token").GetString());
        Directory.Delete(dir, recursive: true);
    }
}
