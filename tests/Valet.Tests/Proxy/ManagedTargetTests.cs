using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using Valet.Tests.Infrastructure;

namespace Valet.Tests.Proxy;

[Collection(ProxyCollection.Name)]
public sealed class ManagedTargetTests(ProxyHarness harness)
{
    [Fact]
    public async Task ManagedTarget_IsMadeOnConnect_ReadOnly_UsableByTargetPermission_AndDeletedWithItsConnection()
    {
        var token = "valid-" + Guid.NewGuid().ToString("N");
        harness.Upstream.ValidTokens[token] = true;
        var connectionId = await harness.ImportAsync("acme", token, scopes: ["mail.read"]);
        using var admin = harness.Client();
        var target = (await admin.GetFromJsonAsync<JsonElement>("/v1/orgs/default/targets")).EnumerateArray()
            .Single(t => t.GetProperty("connection_id").GetString() == connectionId);
        var targetId = target.GetProperty("id").GetString()!;

        Assert.Equal("mail", target.GetProperty("name").GetString());
        Assert.True(target.GetProperty("managed").GetBoolean());
        Assert.Equal(HttpStatusCode.OK, (await admin.GetAsync($"/v1/targets/{targetId}")).StatusCode);
        foreach (var method in new[] { HttpMethod.Put, HttpMethod.Patch, HttpMethod.Delete })
        {
            using var edit = await admin.SendAsync(new HttpRequestMessage(method, $"/v1/targets/{targetId}") { Content = JsonContent.Create(new { name = "x" }) });
            Assert.Equal(HttpStatusCode.Conflict, edit.StatusCode);
            Assert.Equal("managed_target", (await edit.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("code").GetString());
        }

        var key = await harness.KeyAsync("default", new { target = targetId });
        using var agent = harness.Client(key);
        using var viaTarget = await agent.GetAsync($"/v1/targets/{targetId}");
        using var viaConnection = await agent.GetAsync($"/v1/proxy/{connectionId}/user");
        Assert.Equal(HttpStatusCode.OK, viaTarget.StatusCode);
        Assert.Equal("/api/mail", (await viaTarget.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("raw_target").GetString());
        Assert.Equal(HttpStatusCode.Forbidden, viaConnection.StatusCode);

        (await admin.DeleteAsync($"/v1/connections/{connectionId}")).EnsureSuccessStatusCode();

        Assert.Equal(HttpStatusCode.NotFound, (await admin.GetAsync($"/v1/targets/{targetId}")).StatusCode);
        Assert.DoesNotContain((await admin.GetFromJsonAsync<JsonElement>("/v1/orgs/default/targets")).EnumerateArray(),
            t => t.GetProperty("id").GetString() == targetId);
        Assert.Equal(HttpStatusCode.NotFound, (await agent.GetAsync($"/v1/targets/{targetId}/inbox")).StatusCode);
    }

    [Fact]
    public async Task Cli_TargetsListAndAudit_PrintOneJsonDocument()
    {
        var (connectionId, key, _) = await harness.ConnectedAsync();
        using (var agent = harness.Client(key))
        {
            (await agent.GetAsync($"/v1/proxy/{connectionId}/cli-check")).EnsureSuccessStatusCode();
        }

        var environment = new Dictionary<string, string?> { ["VALET_URL"] = harness.BaseUrl.ToString().TrimEnd('/'), ["VALET_ADMIN_TOKEN"] = ValetTestServer.AdminToken,
            ["VALET_DATA_DIR"] = Path.Combine(Path.GetTempPath(), "valet-cli-" + Guid.NewGuid().ToString("N")) };
        var targets = await CliRunner.RunAsync(["targets", "list", "--json"], environment);
        var audit = await CliRunner.RunAsync(["audit", "--limit", "5", "--json"], environment);

        Assert.Equal(0, targets.ExitCode);
        Assert.Contains(JsonDocument.Parse(targets.StdOut).RootElement.EnumerateArray(), t => t.GetProperty("connection_id").GetString() == connectionId);
        Assert.Equal(0, audit.ExitCode);
        Assert.Equal(JsonValueKind.Array, JsonDocument.Parse(audit.StdOut).RootElement.GetProperty("events").ValueKind);
    }
}
