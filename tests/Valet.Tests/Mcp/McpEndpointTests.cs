using System.Collections.Concurrent;
using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using ModelContextProtocol;
using ModelContextProtocol.Client;
using ModelContextProtocol.Protocol;
using Valet.Tests.Infrastructure;
using Valet.Tests.Refresh;

namespace Valet.Tests.Mcp;

/// <summary>
/// SPEC §11 against the real server with the official C# MCP client over Streamable HTTP: the real oidc-provider, a
/// connection made in Chromium, and an upstream API that accepts a bearer only when the IdP's introspection says it is active.
/// </summary>
[Collection("idp")]
public sealed class McpEndpointTests(IdpFixture idp, BrowserFixture browser) : McpTestBase(idp, browser)
{
    [Fact]
    public async Task WithoutAKey_Mcp_Is401_WithABearerChallenge()
    {
        using var anonymous = new HttpClient { BaseAddress = Server.BaseUrl };

        var response = await anonymous.PostAsJsonAsync("/mcp", new { jsonrpc = "2.0", id = 1, method = "tools/list" });

        Assert.Equal(HttpStatusCode.Unauthorized, response.StatusCode);
        Assert.Equal("Bearer", Assert.Single(response.Headers.WwwAuthenticate).Scheme);
        using var forged = new HttpClient { BaseAddress = Server.BaseUrl };
        forged.DefaultRequestHeaders.Authorization = new System.Net.Http.Headers.AuthenticationHeaderValue("Bearer", "valet_sk_forged");
        var refused = await forged.PostAsJsonAsync("/mcp", new { jsonrpc = "2.0", id = 1, method = "tools/list" });
        Assert.Equal(HttpStatusCode.Unauthorized, refused.StatusCode);
        Assert.Equal("error=\"invalid_token\"", Assert.Single(refused.Headers.WwwAuthenticate).Parameter);
    }

    [Fact]
    public async Task ToolsList_ShowsTheFourTools_WithInputAndOutputSchemas()
    {
        var (_, key) = await Server.CreateKeyAsync("default", new { provider = "idp" });
        await using var client = await ConnectAsync(key, urlElicitation: false);

        var tools = await client.ListToolsAsync();

        Assert.Equal(["call_api", "connect_account", "list_connections", "wait_for_connection"], tools.Select(t => t.Name).Order().ToArray());
        foreach (var tool in tools)
        {
            Assert.False(string.IsNullOrWhiteSpace(tool.Description));
            Assert.Equal("object", tool.ProtocolTool.InputSchema.GetProperty("type").GetString());
            Assert.NotNull(tool.ProtocolTool.OutputSchema);
        }

        var callApi = tools.Single(t => t.Name == "call_api").ProtocolTool;
        foreach (var property in new[] { "connection_id", "provider", "target", "method", "path", "query", "headers", "body" })
        {
            Assert.True(callApi.InputSchema.GetProperty("properties").TryGetProperty(property, out _), property);
        }

        Assert.Equal("path", Assert.Single(callApi.InputSchema.GetProperty("required").EnumerateArray()).GetString());

        // Every property schema is an object (also for "any JSON value"): the TypeScript SDK refuses a tools/list with `true`.
        foreach (var property in tools.Where(t => t.ProtocolTool.InputSchema.TryGetProperty("properties", out _))
            .SelectMany(t => t.ProtocolTool.InputSchema.GetProperty("properties").EnumerateObject()))
        {
            Assert.Equal(JsonValueKind.Object, property.Value.ValueKind);
        }

        Assert.Equal(JsonValueKind.Object, tools.Single(t => t.Name == "call_api").ProtocolTool.OutputSchema!.Value
            .GetProperty("anyOf")[0].GetProperty("properties").GetProperty("body").ValueKind);

        // A number is a JSON number: the schema does not offer a string with a digits pattern (the HTTP API's web defaults
        // read "30" as 30; the tools do not, and say so).
        var timeout = tools.Single(t => t.Name == "wait_for_connection").ProtocolTool.InputSchema.GetProperty("properties").GetProperty("timeout_seconds");
        Assert.Equal(new[] { "integer", "null" }, timeout.GetProperty("type").EnumerateArray().Select(t => t.GetString()!).ToArray());
        Assert.False(timeout.TryGetProperty("pattern", out _));
        var status = tools.Single(t => t.Name == "call_api").ProtocolTool.OutputSchema!.Value.GetProperty("anyOf")[0].GetProperty("properties").GetProperty("status");
        Assert.Equal("integer", status.GetProperty("type").GetString());
    }

    [Fact]
    public async Task ListConnections_AndCallApi_ReachTheApiAsTheConnectedAccount_MarkedInTheAudit()
    {
        var (connectionId, _) = await ConnectAsync("mona");
        var (_, key) = await Server.CreateKeyAsync("default", new { connection = connectionId });
        await using var client = await ConnectAsync(key, urlElicitation: true);

        var listed = await client.CallToolAsync("list_connections");
        var byConnection = await client.CallToolAsync("call_api", new Dictionary<string, object?>
        {
            ["connection_id"] = connectionId,
            ["path"] = "whoami",
            ["query"] = new Dictionary<string, object> { ["x"] = "1", ["n"] = 10, ["b"] = true }, // numbers and booleans as their JSON text
            ["headers"] = new Dictionary<string, string> { ["Accept"] = "application/json" },
        });
        var text = await client.CallToolAsync("call_api", new Dictionary<string, object?> { ["connection_id"] = connectionId, ["path"] = "/text" });
        var big = await client.CallToolAsync("call_api", new Dictionary<string, object?> { ["connection_id"] = connectionId, ["path"] = "big" });
        var image = await client.CallToolAsync("call_api", new Dictionary<string, object?> { ["connection_id"] = connectionId, ["path"] = "image" });
        var endless = await client.CallToolAsync("call_api", new Dictionary<string, object?> { ["connection_id"] = connectionId, ["path"] = "endless" });
        var cookie = await client.CallToolAsync("call_api", new Dictionary<string, object?>
        {
            ["connection_id"] = connectionId, ["path"] = "whoami", ["headers"] = new Dictionary<string, string> { ["Cookie"] = "a=b" },
        });

        Assert.NotEqual(true, listed.IsError);
        var connection = Assert.Single(listed.StructuredContent!.Value.GetProperty("connections").EnumerateArray());
        Assert.Equal(connectionId, connection.GetProperty("id").GetString());

        Assert.NotEqual(true, byConnection.IsError);
        var result = byConnection.StructuredContent!.Value;
        Assert.Equal(200, result.GetProperty("status").GetInt32());
        Assert.True(result.GetProperty("body").GetProperty("ok").GetBoolean());
        Assert.Equal("?x=1&n=10&b=true", result.GetProperty("body").GetProperty("query").GetString());
        Assert.StartsWith("application/json", result.GetProperty("headers").GetProperty("content-type").GetString(), StringComparison.Ordinal);
        Assert.False(result.GetProperty("truncated").GetBoolean());

        Assert.Equal("plain words", text.StructuredContent!.Value.GetProperty("body").GetString());
        Assert.True(big.StructuredContent is not null, string.Join(" | ", big.Content.Select(c => (c as ModelContextProtocol.Protocol.TextContentBlock)?.Text)));
        Assert.True(big.StructuredContent!.Value.GetProperty("truncated").GetBoolean());
        Assert.Equal(100 * 1024, big.StructuredContent!.Value.GetProperty("body").GetString()!.Length);

        // A download is not read to its end for a 100 KB answer: the copy stops at the cap, and the upstream sees its reader go.
        Assert.True(endless.IsError != true, string.Join(" | ", endless.Content.Select(c => (c as ModelContextProtocol.Protocol.TextContentBlock)?.Text)));
        Assert.Equal(200, endless.StructuredContent!.Value.GetProperty("status").GetInt32());
        Assert.True(endless.StructuredContent!.Value.GetProperty("truncated").GetBoolean());
        Assert.Equal(100 * 1024, endless.StructuredContent!.Value.GetProperty("body").GetString()!.Length);
        var ended = await Task.WhenAny(EndlessCutOff, Task.Delay(TimeSpan.FromSeconds(30)));
        Assert.True(ended == EndlessCutOff, "the upstream was still sending after 30 s");
        Assert.True(await EndlessCutOff, "the upstream sent the whole gigabyte: its reader never went away");
        // What left the upstream: the 100 KB kept, the client's bounded drain (SocketsHttpHandler's 1 MB) and what the two
        // loopback sockets buffer (4 MB send + 6 MB receive at most with Linux's defaults): 3.9-5.3 MB measured under load.
        Assert.InRange(EndlessBytesSent, 100 * 1024, 24L << 20);
        Assert.DoesNotContain(Server.Logs.Lines, l => l.Contains("[5003]", StringComparison.Ordinal)); // not logged as an upstream failure
        Assert.True(image.IsError);
        Assert.Contains("binary", Text(image), StringComparison.Ordinal);
        Assert.True(cookie.IsError);
        Assert.Contains("Cookie", Text(cookie), StringComparison.Ordinal);

        // Tokens never appear in a tool result.
        var token = await AccessTokenAsync(connectionId);
        foreach (var each in new[] { listed, byConnection, text })
        {
            Assert.DoesNotContain(token, JsonSerializer.Serialize(each), StringComparison.Ordinal);
        }

        using var admin = Server.Client();
        for (var i = 0; ; i++)
        {
            var page = await admin.GetFromJsonAsync<JsonElement>("/v1/orgs/default/audit?limit=100");
            var viaMcp = page.GetProperty("events").EnumerateArray()
                .Count(e => e.GetProperty("kind").GetString() == "proxy.request" && e.TryGetProperty("detail", out var d) && d.GetString() == "via mcp");
            // whoami, text, big, image and the stopped download (a call like the others, not an upstream failure).
            if (viaMcp >= 5 || i == 50)
            {
                Assert.Equal(5, viaMcp);

                // Each with the upstream's status: the truncated ones (big, the stopped download) too, not the forwarder's 502.
                Assert.All(page.GetProperty("events").EnumerateArray().Where(e => e.TryGetProperty("detail", out var d) && d.GetString() == "via mcp"),
                    e => Assert.Equal(200, e.GetProperty("status").GetInt32()));
                break;
            }

            await Task.Delay(100);
        }
    }

    [Fact]
    public async Task CallApi_AnUpstreamThatEchoesTheCredential_NeverPutsTheTokenInTheToolResult()
    {
        var (connectionId, _) = await ConnectAsync("echo");
        var (_, key) = await Server.CreateKeyAsync("default", new { connection = connectionId });
        await using var client = await ConnectAsync(key, urlElicitation: false);
        var token = await AccessTokenAsync(connectionId);

        var echoed = await client.CallToolAsync("call_api", new Dictionary<string, object?> { ["connection_id"] = connectionId, ["path"] = "echo" });
        var cut = await client.CallToolAsync("call_api", new Dictionary<string, object?> { ["connection_id"] = connectionId, ["path"] = "echo-cut" });

        var body = echoed.StructuredContent!.Value;
        Assert.Equal(200, body.GetProperty("status").GetInt32());
        Assert.Equal("Bearer [redacted by Valet]", body.GetProperty("body").GetProperty("headers").GetProperty("authorization").GetString());
        Assert.Equal("\"Bearer [redacted by Valet]\"", body.GetProperty("headers").GetProperty("etag").GetString());
        Assert.True(cut.StructuredContent!.Value.GetProperty("truncated").GetBoolean());
        Assert.EndsWith("Bearer [redacted by Valet]", cut.StructuredContent!.Value.GetProperty("body").GetString(), StringComparison.Ordinal);
        foreach (var result in new[] { echoed, cut })
        {
            var text = JsonSerializer.Serialize(result);
            Assert.DoesNotContain(token, text, StringComparison.Ordinal);
            Assert.DoesNotContain(token[..8], text, StringComparison.Ordinal); // not even the start of it, where the cap cut it
        }
    }

    [Fact]
    public async Task CallApi_AnEchoInUtf16_IsReadAndRedacted_AndACompressedOneIsNotReturned()
    {
        var (connectionId, _) = await ConnectAsync("echo16");
        var (_, key) = await Server.CreateKeyAsync("default", new { connection = connectionId });
        await using var client = await ConnectAsync(key, urlElicitation: false);
        var token = await AccessTokenAsync(connectionId);

        foreach (var path in new[] { "echo-utf16", "echo-bom" })
        {
            // Read as UTF-8 before, the token came back with a NUL between its characters.
            var result = await client.CallToolAsync("call_api", new Dictionary<string, object?> { ["connection_id"] = connectionId, ["path"] = path });
            Assert.Equal("auth=Bearer [redacted by Valet]", result.StructuredContent!.Value.GetProperty("body").GetString()!.TrimStart('\uFEFF'));
            Assert.DoesNotContain(token[..8], JsonSerializer.Serialize(result).Replace("\\u0000", "", StringComparison.Ordinal), StringComparison.Ordinal);
        }

        // A code page is decoded (the review found it refused as binary), and Valet asked for no compression.
        var latin = await client.CallToolAsync("call_api", new Dictionary<string, object?> { ["connection_id"] = connectionId, ["path"] = "echo-1252" });
        Assert.Equal("café auth=Bearer [redacted by Valet] ae=identity", latin.StructuredContent!.Value.GetProperty("body").GetString());

        // A charset .NET will not decode is read as it came (not an internal error, as utf-7's NotSupportedException was).
        var utf7 = await client.CallToolAsync("call_api", new Dictionary<string, object?> { ["connection_id"] = connectionId, ["path"] = "echo-utf7" });
        Assert.Equal("auth=Bearer [redacted by Valet]", utf7.StructuredContent!.Value.GetProperty("body").GetString());

        var gzip = await client.CallToolAsync("call_api", new Dictionary<string, object?> { ["connection_id"] = connectionId, ["path"] = "echo-gzip" });
        Assert.True(gzip.IsError, JsonSerializer.Serialize(gzip));
        Assert.Contains("(text/plain, gzip-encoded)", Text(gzip), StringComparison.Ordinal);

        var asked = await client.CallToolAsync("call_api", new Dictionary<string, object?>
        {
            ["connection_id"] = connectionId, ["path"] = "echo", ["headers"] = new Dictionary<string, string> { ["Accept-Encoding"] = "gzip" },
        });
        Assert.True(asked.IsError);
        Assert.Contains("Accept-Encoding", Text(asked), StringComparison.Ordinal);
    }

    [Fact]
    public async Task CallApi_RefusesATargetOrMethodOrHeaderThePlainProxyWouldNeverForward()
    {
        var (connectionId, _) = await ConnectAsync("mona");
        var (_, key) = await Server.CreateKeyAsync("default", new { connection = connectionId });
        await using var client = await ConnectAsync(key, urlElicitation: true);

        async Task<string> RefusedAsync(Dictionary<string, object?> arguments)
        {
            arguments["connection_id"] = connectionId;
            var result = await client.CallToolAsync("call_api", arguments);
            Assert.True(result.IsError, JsonSerializer.Serialize(result));
            return Text(result);
        }

        // A raw non-ASCII character would leave as a NUL byte (hiding a ".."), a raw space would rewrite the request line.
        Assert.Contains("visible ASCII", await RefusedAsync(new() { ["path"] = "x/..\u0130" }), StringComparison.Ordinal);
        Assert.Contains("visible ASCII", await RefusedAsync(new() { ["path"] = "x y HTTP/1.0" }), StringComparison.Ordinal);
        Assert.Contains("visible ASCII", await RefusedAsync(new() { ["path"] = "a/.%00./x" }), StringComparison.Ordinal);
        Assert.Contains("visible ASCII", await RefusedAsync(new() { ["path"] = "whoami?q=caf\u00e9" }), StringComparison.Ordinal);

        // TRACE would have the API echo the injected credential back; a header HttpClient cannot send is the agent's error, not an outage.
        Assert.Contains("405", await RefusedAsync(new() { ["path"] = "whoami", ["method"] = "TRACE" }), StringComparison.Ordinal);
        Assert.Contains("(400)", await RefusedAsync(new() { ["path"] = "whoami", ["headers"] = new Dictionary<string, string> { ["X-Note"] = "caf\u00e9" } }),
            StringComparison.Ordinal);

        // Encoded, the same characters are fine.
        var encoded = await client.CallToolAsync("call_api", new Dictionary<string, object?> { ["connection_id"] = connectionId, ["path"] = "whoami?q=caf%C3%A9" });
        Assert.NotEqual(true, encoded.IsError);
    }

    [Fact]
    public async Task NeedsAuthentication_WithUrlElicitation_Is32042_CarryingTheConnectUrlAndFlowId()
    {
        var (_, key) = await Server.CreateKeyAsync("default", new { provider = "idp" });
        await using var client = await ConnectAsync(key, urlElicitation: true);

        var byProvider = await Assert.ThrowsAnyAsync<McpException>(() =>
            client.CallToolAsync("call_api", new Dictionary<string, object?> { ["provider"] = "idp", ["path"] = "whoami" }).AsTask());
        var connect = await Assert.ThrowsAnyAsync<McpException>(() =>
            client.CallToolAsync("connect_account", new Dictionary<string, object?> { ["provider"] = "idp" }).AsTask());

        foreach (var error in new[] { byProvider, connect })
        {
            var elicitation = Assert.Single(Assert.IsType<UrlElicitationRequiredException>(error).Elicitations);
            Assert.Equal(McpErrorCode.UrlElicitationRequired, ((McpProtocolException)error).ErrorCode);
            Assert.Equal(-32042, (int)McpErrorCode.UrlElicitationRequired);
            Assert.Equal("url", elicitation.Mode);
            Assert.StartsWith(Server.BaseUrl.GetLeftPart(UriPartial.Authority) + "/connect-authorize?flow=", elicitation.Url, StringComparison.Ordinal);
            Assert.EndsWith("?flow=" + Uri.EscapeDataString(elicitation.ElicitationId!), elicitation.Url, StringComparison.Ordinal);
        }
    }

    [Fact]
    public async Task NeedsAuthentication_WithoutUrlElicitation_IsAnErrorResult_WithTheEnvelope_ThenWaitForConnectionSettles()
    {
        var (_, key) = await Server.CreateKeyAsync("default", new { provider = "idp" });
        await using var client = await ConnectAsync(key, urlElicitation: false);
        var completions = new ConcurrentQueue<string>();
        await using var listening = CSharpMcpClient.ListenForCompletions(client, completions);

        var needs = await client.CallToolAsync("call_api", new Dictionary<string, object?> { ["provider"] = "idp", ["path"] = "whoami" });

        Assert.True(needs.IsError);
        var envelope = needs.StructuredContent!.Value;
        Assert.Equal("needs_authentication", envelope.GetProperty("code").GetString());
        Assert.False(envelope.GetProperty("headless").GetBoolean());
        var flowId = envelope.GetProperty("flow_id").GetString()!;
        var connectUrl = envelope.GetProperty("connect_url").GetString()!;
        Assert.Contains(connectUrl, Text(needs), StringComparison.Ordinal);

        var pending = await client.CallToolAsync("wait_for_connection", new Dictionary<string, object?> { ["flow_id"] = flowId, ["timeout_seconds"] = 0 });
        Assert.Equal("pending", pending.StructuredContent!.Value.GetProperty("status").GetString());
        var tooLong = await client.CallToolAsync("wait_for_connection", new Dictionary<string, object?> { ["flow_id"] = flowId, ["timeout_seconds"] = 61 });
        Assert.True(tooLong.IsError);

        // A person of the org opens the link, signs in at the IdP and consents.
        var authorizeUrl = await PersonOpensAsync(connectUrl);
        var waiting = client.CallToolAsync("wait_for_connection", new Dictionary<string, object?> { ["flow_id"] = flowId, ["timeout_seconds"] = 30 });
        var page = await Browser.AuthorizeAsync(authorizeUrl, "nora");
        Assert.Equal("true", await page.Locator("#result").GetAttributeAsync("data-success"));
        await page.Context.CloseAsync();

        var done = (await waiting).StructuredContent!.Value;
        Assert.Equal("complete", done.GetProperty("status").GetString());
        Assert.StartsWith("conn_", done.GetProperty("connection_id").GetString(), StringComparison.Ordinal);

        var called = await client.CallToolAsync("call_api", new Dictionary<string, object?> { ["provider"] = "idp", ["path"] = "whoami" });
        Assert.NotEqual(true, called.IsError);
        Assert.Equal(200, called.StructuredContent!.Value.GetProperty("status").GetInt32());

        // It never declared URL elicitation: it was never sent one, so it is never told one completed.
        await Task.Delay(500);
        Assert.Empty(completions);
    }

    [Fact]
    public async Task HeadlessOrg_NeverGetsAnElicitation_OrAUrl()
    {
        using var admin = Server.Client();
        (await admin.PostAsJsonAsync("/v1/orgs", new { id = "acme", headless = true })).EnsureSuccessStatusCode();
        var credentialId = await EnvelopeMatrixTests.CreateCredentialAsync(admin, "acme");
        var (_, key) = await Server.CreateKeyAsync("acme", new { provider = "idp" });

        foreach (var urlElicitation in new[] { true, false })
        {
            await using var client = await ConnectAsync(key, urlElicitation);
            var results = new[]
            {
                await client.CallToolAsync("call_api", new Dictionary<string, object?> { ["provider"] = "idp", ["path"] = "whoami" }),
                await client.CallToolAsync("connect_account", new Dictionary<string, object?> { ["provider"] = "idp" }),
                await client.CallToolAsync("list_connections"),
            };

            foreach (var result in results[..2])
            {
                Assert.True(result.IsError);
                Assert.True(result.StructuredContent!.Value.GetProperty("headless").GetBoolean());
                Assert.Equal(credentialId, result.StructuredContent!.Value.GetProperty("credential_id").GetString());
            }

            foreach (var result in results)
            {
                Assert.DoesNotContain("http", JsonSerializer.Serialize(result), StringComparison.OrdinalIgnoreCase);
            }
        }
    }

    private Task<McpClient> ConnectAsync(string key, bool urlElicitation) => CSharpMcpClient.ConnectAsync(McpUrl, key, urlElicitation);

    private static string Text(CallToolResult result) => string.Concat(result.Content.OfType<TextContentBlock>().Select(b => b.Text));
}
