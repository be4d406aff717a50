using System.Net.Http.Json;
using System.Text.Json;
using Valet.Tests.Infrastructure;
using Valet.Tests.Refresh;

namespace Valet.Tests.Mcp;

/// <summary>
/// SPEC §11 with the official TypeScript MCP client (<c>@modelcontextprotocol/sdk</c> from npm, protocol 2025-11-25 with
/// the initialize handshake) over Streamable HTTP, against the real server, the real oidc-provider, connections made in
/// Chromium and an upstream that asks the IdP whether each bearer is active. The client validates every
/// structuredContent against the tool's outputSchema, envelopes included.
/// </summary>
[Collection("idp")]
public sealed class TypeScriptClientTests(IdpFixture idp, BrowserFixture browser) : McpTestBase(idp, browser)
{
    [Fact]
    public async Task TypeScriptClient_ListsTools_AndConnections_CallsTheApiAsTheAccount_AndOnAn401RefreshesOnceAndRetries()
    {
        var (connectionId, _) = await ConnectAsync("mona");
        var (_, key) = await Server.CreateKeyAsync("default", new { connection = connectionId });
        await using var client = await TypeScriptMcpClient.StartAsync(McpUrl, key, urlElicitation: false);

        var tools = TypeScriptMcpClient.Result(await client.ListToolsAsync()).GetProperty("tools");
        var listed = TypeScriptMcpClient.Result(await client.CallAsync("list_connections"));
        var first = TypeScriptMcpClient.Result(await client.CallAsync("call_api", new { connection_id = connectionId, path = "whoami", query = new { x = "1" } }));
        var token = await AccessTokenAsync(connectionId);

        // The upstream stops accepting the current token while its grant stays alive at the IdP.
        Distrusted[token] = true;
        var refreshesBefore = await Idp.RefreshRequestsAsync();
        var second = TypeScriptMcpClient.Result(await client.CallAsync("call_api", new { connection_id = connectionId, path = "whoami" }));
        var fresh = await AccessTokenAsync(connectionId);

        Assert.Equal("2025-11-25", client.Ready.GetProperty("protocolVersion").GetString());
        Assert.Equal(["call_api", "connect_account", "list_connections", "wait_for_connection"],
            tools.EnumerateArray().Select(t => t.GetProperty("name").GetString()!).Order().ToArray());
        foreach (var tool in tools.EnumerateArray())
        {
            Assert.Equal("object", tool.GetProperty("inputSchema").GetProperty("type").GetString());
            Assert.Equal(JsonValueKind.Object, tool.GetProperty("outputSchema").ValueKind);
        }

        Assert.False(listed.TryGetProperty("isError", out var listedError) && listedError.GetBoolean());
        Assert.Equal(connectionId, Assert.Single(listed.GetProperty("structuredContent").GetProperty("connections").EnumerateArray()).GetProperty("id").GetString());
        Assert.Equal(200, first.GetProperty("structuredContent").GetProperty("status").GetInt32());
        Assert.Equal("?x=1", first.GetProperty("structuredContent").GetProperty("body").GetProperty("query").GetString());

        Assert.Equal(200, second.GetProperty("structuredContent").GetProperty("status").GetInt32());
        Assert.True(second.GetProperty("structuredContent").GetProperty("body").GetProperty("ok").GetBoolean());
        Assert.Equal(1, await Idp.RefreshRequestsAsync() - refreshesBefore);
        Assert.Equal(1, Rejected);
        Assert.NotEqual(token, fresh);
        Assert.True(await Idp.IsActiveAsync(fresh));

        // Tokens never appear in a tool result.
        foreach (var result in new[] { listed, first, second })
        {
            Assert.DoesNotContain(token, result.GetRawText(), StringComparison.Ordinal);
            Assert.DoesNotContain(fresh, result.GetRawText(), StringComparison.Ordinal);
        }
    }

    [Fact]
    public async Task TypeScriptClient_WithAKeyWithoutPermission_GetsErrorResults_AndTheSessionCarriesOn()
    {
        var (connectionId, _) = await ConnectAsync("pia");
        var (_, key) = await Server.CreateKeyAsync("default", new { provider = "github" });
        await using var client = await TypeScriptMcpClient.StartAsync(McpUrl, key, urlElicitation: true);

        var call = TypeScriptMcpClient.Result(await client.CallAsync("call_api", new { connection_id = connectionId, path = "whoami" }));
        var connect = TypeScriptMcpClient.Result(await client.CallAsync("connect_account", new { provider = "idp" }));
        var unknown = TypeScriptMcpClient.Result(await client.CallAsync("wait_for_connection", new { flow_id = "flow_nope" }));
        var badInput = TypeScriptMcpClient.Result(await client.CallAsync("call_api", new { connection_id = connectionId, provider = "idp", path = "whoami" }));
        var after = TypeScriptMcpClient.Result(await client.CallAsync("list_connections"));

        foreach (var refused in new[] { call, connect, unknown, badInput })
        {
            Assert.True(refused.GetProperty("isError").GetBoolean(), refused.ToString());
            Assert.False(string.IsNullOrWhiteSpace(Text(refused)));
        }

        Assert.Contains("403", Text(call), StringComparison.Ordinal);
        Assert.Contains("no permission on provider 'idp'", Text(connect), StringComparison.Ordinal);
        Assert.Contains("exactly one of", Text(badInput), StringComparison.Ordinal);
        Assert.Empty(after.GetProperty("structuredContent").GetProperty("connections").EnumerateArray());
    }

    [Fact]
    public async Task UrlElicitationClient_Gets32042WithTheConnectUrl_APlainClientTheEnvelopeResult_ForConnectAndADeadGrant()
    {
        var (connectionId, _) = await ConnectAsync("rupert");
        var (_, key) = await Server.CreateKeyAsync("default", new { provider = "idp" });
        await using var eliciting = await TypeScriptMcpClient.StartAsync(McpUrl, key, urlElicitation: true);
        await using var plain = await TypeScriptMcpClient.StartAsync(McpUrl, key, urlElicitation: false);
        await RevokeGrantAsync(await AccessTokenAsync(connectionId));

        var deadForEliciting = TypeScriptMcpClient.Error(await eliciting.CallAsync("call_api", new { connection_id = connectionId, path = "whoami" }));
        var connectForEliciting = TypeScriptMcpClient.Error(await eliciting.CallAsync("connect_account", new { provider = "idp", scopes = new[] { "read" } }));
        var deadForPlain = TypeScriptMcpClient.Result(await plain.CallAsync("call_api", new { connection_id = connectionId, path = "whoami" }));
        var connectForPlain = TypeScriptMcpClient.Result(await plain.CallAsync("connect_account", new { provider = "idp", scopes = new[] { "read" } }));

        var connectPrefix = Server.BaseUrl.GetLeftPart(UriPartial.Authority) + "/connect-authorize?flow=";
        foreach (var error in new[] { deadForEliciting, connectForEliciting })
        {
            Assert.Equal(-32042, error.GetProperty("code").GetInt32());
            var elicitation = Assert.Single(error.GetProperty("data").GetProperty("elicitations").EnumerateArray());
            Assert.Equal("url", elicitation.GetProperty("mode").GetString());
            var url = elicitation.GetProperty("url").GetString()!;
            Assert.StartsWith(connectPrefix, url, StringComparison.Ordinal);
            Assert.EndsWith("?flow=" + Uri.EscapeDataString(elicitation.GetProperty("elicitationId").GetString()!), url, StringComparison.Ordinal);
            Assert.False(string.IsNullOrWhiteSpace(elicitation.GetProperty("message").GetString()));
        }

        Assert.Contains("reconnect their idp account", deadForEliciting.GetProperty("message").GetString(), StringComparison.Ordinal);
        foreach (var (result, code) in new[] { (deadForPlain, "reauth_required"), (connectForPlain, "needs_authentication") })
        {
            Assert.True(result.GetProperty("isError").GetBoolean());
            var envelope = result.GetProperty("structuredContent");
            Assert.Equal(code, envelope.GetProperty("code").GetString());
            Assert.False(envelope.GetProperty("headless").GetBoolean());
            Assert.StartsWith(connectPrefix, envelope.GetProperty("connect_url").GetString(), StringComparison.Ordinal);
            Assert.Contains(envelope.GetProperty("connect_url").GetString()!, Text(result), StringComparison.Ordinal);
        }

        Assert.Equal(connectionId, deadForPlain.GetProperty("structuredContent").GetProperty("connection_id").GetString());
    }

    [Fact]
    public async Task HeadlessOrg_GivesBothClients_TheUrlLessEnvelope_NeverAnElicitation()
    {
        using var admin = Server.Client();
        (await admin.PostAsJsonAsync("/v1/orgs", new { id = "acme", headless = true })).EnsureSuccessStatusCode();
        var credentialId = await EnvelopeMatrixTests.CreateCredentialAsync(admin, "acme");

        // A grant the IdP does not know, already expired: the refresh before the call ends in invalid_grant.
        var deadId = await EnvelopeMatrixTests.ImportAsync(admin, "acme", credentialId, "acme-user", scopes: ["read"],
            refreshToken: "not-a-real-refresh-token", expiresAt: DateTimeOffset.UtcNow.AddMinutes(-5));
        var (_, key) = await Server.CreateKeyAsync("acme", new { provider = "idp" });

        foreach (var urlElicitation in new[] { true, false })
        {
            await using var client = await TypeScriptMcpClient.StartAsync(McpUrl, key, urlElicitation);
            var dead = TypeScriptMcpClient.Result(await client.CallAsync("call_api", new { connection_id = deadId, path = "whoami" }));
            var connect = TypeScriptMcpClient.Result(await client.CallAsync("connect_account", new { provider = "idp" }));
            var listed = TypeScriptMcpClient.Result(await client.CallAsync("list_connections"));

            foreach (var (result, code) in new[] { (dead, "reauth_required"), (connect, "needs_authentication") })
            {
                Assert.True(result.GetProperty("isError").GetBoolean());
                var envelope = result.GetProperty("structuredContent");
                Assert.Equal(code, envelope.GetProperty("code").GetString());
                Assert.True(envelope.GetProperty("headless").GetBoolean());
                Assert.Equal(credentialId, envelope.GetProperty("credential_id").GetString());
                Assert.False(envelope.TryGetProperty("flow_id", out _));
                Assert.Contains("own application", Text(result), StringComparison.Ordinal);
            }

            foreach (var result in new[] { dead, connect, listed })
            {
                Assert.DoesNotContain("http", result.GetRawText(), StringComparison.OrdinalIgnoreCase);
            }
        }
    }

    [Fact]
    public async Task Transcript_AnAgentAsksForAnUnconnectedProvider_APersonConnectsInChromium_WaitForConnectionCompletes_CallApiSucceeds()
    {
        var (_, key) = await Server.CreateKeyAsync("default", new { provider = "idp" });
        await using var agent = await TypeScriptMcpClient.StartAsync(McpUrl, key, urlElicitation: true);

        // The agent asks; Valet says a person must connect an account, as a URL elicitation.
        var before = TypeScriptMcpClient.Result(await agent.CallAsync("list_connections"));
        var asked = TypeScriptMcpClient.Error(await agent.CallAsync("call_api", new { provider = "idp", path = "whoami" }));
        Assert.Equal(-32042, asked.GetProperty("code").GetInt32());
        var elicitation = Assert.Single(asked.GetProperty("data").GetProperty("elicitations").EnumerateArray());
        var url = elicitation.GetProperty("url").GetString()!;
        var flowId = elicitation.GetProperty("elicitationId").GetString()!;
        var waiting = agent.CallAsync("wait_for_connection", new { flow_id = flowId, timeout_seconds = 60 });

        // The person signs in to the dashboard, opens the link, continues, signs in at the IdP and consents.
        var page = await Browser.NewPageAsync();
        await page.GotoAsync(new Uri(Server.BaseUrl, "/").ToString());
        Assert.Contains("/signin", page.Url, StringComparison.Ordinal);
        await page.Locator("input[name=token]").FillAsync(ValetTestServer.AdminToken);
        await page.Locator("#signin").ClickAsync();
        await page.WaitForURLAsync(u => !new Uri(u).AbsolutePath.StartsWith("/signin", StringComparison.Ordinal),
            new() { WaitUntil = Microsoft.Playwright.WaitUntilState.Commit });
        await page.GotoAsync(url);
        await page.Locator("#connect-continue").ClickAsync();
        await page.Locator("input[name=login]").WaitForAsync();
        Assert.StartsWith(Idp.Issuer + "/", page.Url, StringComparison.Ordinal);
        await page.Locator("input[name=login]").FillAsync("tess");
        await page.Locator("input[name=password]").FillAsync("any-password");
        await page.Locator("button[type=submit]").ClickAsync();
        await page.GetByRole(Microsoft.Playwright.AriaRole.Button, new() { Name = "Continue" }).ClickAsync();
        await page.Locator("#result").WaitForAsync();
        Assert.Equal("true", await page.Locator("#result").GetAttributeAsync("data-success"));
        await page.Context.CloseAsync();

        // The agent hears it is done, and calls the API as the new account.
        var done = TypeScriptMcpClient.Result(await waiting).GetProperty("structuredContent");
        var completed = await agent.NotificationAsync("notifications/elicitation/complete", TimeSpan.FromSeconds(10));
        var called = TypeScriptMcpClient.Result(await agent.CallAsync("call_api", new { provider = "idp", path = "whoami" }));
        var after = TypeScriptMcpClient.Result(await agent.CallAsync("list_connections"));

        Assert.Single(before.GetProperty("structuredContent").GetProperty("needs").EnumerateArray());
        Assert.Equal("complete", done.GetProperty("status").GetString());
        var connectionId = done.GetProperty("connection_id").GetString()!;
        Assert.Equal(flowId, completed.GetProperty("params").GetProperty("elicitationId").GetString());
        Assert.Single(agent.Notifications);
        Assert.Equal(200, called.GetProperty("structuredContent").GetProperty("status").GetInt32());
        Assert.True(called.GetProperty("structuredContent").GetProperty("body").GetProperty("ok").GetBoolean());
        Assert.Equal(connectionId, Assert.Single(after.GetProperty("structuredContent").GetProperty("connections").EnumerateArray()).GetProperty("id").GetString());
        Assert.Empty(after.GetProperty("structuredContent").GetProperty("needs").EnumerateArray());
        Assert.DoesNotContain(await AccessTokenAsync(connectionId), called.GetRawText(), StringComparison.Ordinal);
    }

    private static string Text(JsonElement result) =>
        string.Concat(result.GetProperty("content").EnumerateArray().Where(b => b.GetProperty("type").GetString() == "text").Select(b => b.GetProperty("text").GetString()));
}
