using System.Collections.Concurrent;
using System.Net;
using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Text;
using System.Text.Json;
using ModelContextProtocol;
using ModelContextProtocol.Client;
using Valet.Tests.Infrastructure;
using Valet.Tests.Refresh;

namespace Valet.Tests.Mcp;

/// <summary>
/// Clients of the initialize handshake (revision 2025-11-25 and earlier) declare capabilities once, at initialize; the
/// stateless server keeps the declaration in the Mcp-Session-Id it returns (docs/mcp.md, "Client capabilities without
/// server state"); and a URL-elicitation client of either kind is told when the person is done.
/// </summary>
[Collection("idp")]
public sealed class InitializeHandshakeTests(IdpFixture idp, BrowserFixture browser) : McpTestBase(idp, browser)
{
    [Fact]
    public async Task A2025_11_25Client_DeclaresUrlElicitationOnlyAtInitialize_TheSessionIdCarriesIt_To32042()
    {
        var (_, key) = await Server.CreateKeyAsync("default", new { provider = "idp" });
        await using var declaring = await CSharpMcpClient.ConnectAsync(McpUrl, key, urlElicitation: true, protocolVersion: "2025-11-25");
        await using var plain = await CSharpMcpClient.ConnectAsync(McpUrl, key, urlElicitation: false, protocolVersion: "2025-11-25");

        var elicited = await Assert.ThrowsAsync<UrlElicitationRequiredException>(() =>
            declaring.CallToolAsync("connect_account", new Dictionary<string, object?> { ["provider"] = "idp" }).AsTask());
        var needs = await plain.CallToolAsync("connect_account", new Dictionary<string, object?> { ["provider"] = "idp" });

        Assert.Equal("2025-11-25", declaring.NegotiatedProtocolVersion);
        Assert.False(string.IsNullOrEmpty(declaring.SessionId));
        Assert.False(string.IsNullOrEmpty(plain.SessionId));
        var elicitation = Assert.Single(elicited.Elicitations);
        Assert.StartsWith(Server.BaseUrl.GetLeftPart(UriPartial.Authority) + "/connect-authorize?flow=", elicitation.Url, StringComparison.Ordinal);
        Assert.True(needs.IsError);
        Assert.Equal("needs_authentication", needs.StructuredContent!.Value.GetProperty("code").GetString());
    }

    [Theory]
    [InlineData("2025-11-25")] // declared at initialize, read back from the session id
    [InlineData(null)] // the SDK's newest revision: declared on every request
    public async Task UrlElicitationClient_IsToldTheElicitationCompleted_OnTheWaitForConnectionStream(string? protocolVersion)
    {
        var (_, key) = await Server.CreateKeyAsync("default", new { provider = "idp" });
        await using var client = await CSharpMcpClient.ConnectAsync(McpUrl, key, urlElicitation: true, protocolVersion);
        var completions = new ConcurrentQueue<string>();
        await using var listening = CSharpMcpClient.ListenForCompletions(client, completions);

        var elicited = await Assert.ThrowsAsync<UrlElicitationRequiredException>(() =>
            client.CallToolAsync("call_api", new Dictionary<string, object?> { ["provider"] = "idp", ["path"] = "whoami" }).AsTask());
        var elicitation = Assert.Single(elicited.Elicitations);
        var pending = await client.CallToolAsync("wait_for_connection",
            new Dictionary<string, object?> { ["flow_id"] = elicitation.ElicitationId, ["timeout_seconds"] = 0 });

        var authorizeUrl = await PersonOpensAsync(elicitation.Url!);
        var waiting = client.CallToolAsync("wait_for_connection", new Dictionary<string, object?> { ["flow_id"] = elicitation.ElicitationId, ["timeout_seconds"] = 30 });
        var page = await Browser.AuthorizeAsync(authorizeUrl, "olga");
        Assert.Equal("true", await page.Locator("#result").GetAttributeAsync("data-success"));
        await page.Context.CloseAsync();
        var done = await waiting;

        Assert.Equal(protocolVersion ?? "2026-07-28", client.NegotiatedProtocolVersion);
        Assert.Equal("pending", pending.StructuredContent!.Value.GetProperty("status").GetString());
        Assert.Equal("complete", done.StructuredContent!.Value.GetProperty("status").GetString());
        Assert.True(await RefreshKit.EventuallyAsync(() => Task.FromResult(!completions.IsEmpty), TimeSpan.FromSeconds(10)));
        Assert.Equal(elicitation.ElicitationId, Assert.Single(completions));
        var called = await client.CallToolAsync("call_api", new Dictionary<string, object?> { ["provider"] = "idp", ["path"] = "whoami" });
        Assert.Equal(200, called.StructuredContent!.Value.GetProperty("status").GetInt32());
    }

    [Fact]
    public async Task SessionId_IsMintedAtInitialize_OpensOnlyForItsKey_AndOneThatDoesNotOpenIs404()
    {
        var (keyId, key) = await Server.CreateKeyAsync("default", new { provider = "idp" });
        var (_, otherKey) = await Server.CreateKeyAsync("default", new { provider = "idp" });
        using var agent = Server.Client(key);
        using var other = Server.Client(otherKey);
        var connect = new { name = "connect_account", arguments = new { provider = "idp" } };

        using var initialized = await RpcAsync(agent, null, "initialize", new
        {
            protocolVersion = "2025-11-25",
            capabilities = new { elicitation = new { url = new { } } },
            clientInfo = new { name = "raw", version = "1" },
        });
        var sessionId = Assert.Single(initialized.Headers.GetValues("Mcp-Session-Id"));
        using var listed = await RpcAsync(agent, sessionId, "tools/list", new { });
        using var elicited = await RpcAsync(agent, sessionId, "tools/call", connect);
        using var withoutSession = await RpcAsync(agent, null, "tools/call", connect);
        using var forged = await RpcAsync(agent, "Q" + sessionId[1..], "tools/call", connect);
        using var stolen = await RpcAsync(other, sessionId, "tools/call", connect);
        using var stream = await agent.SendAsync(new HttpRequestMessage(HttpMethod.Get, "/mcp") { Headers = { { "Mcp-Session-Id", sessionId }, { "Accept", "text/event-stream" } } });
        using var end = await agent.SendAsync(new HttpRequestMessage(HttpMethod.Delete, "/mcp") { Headers = { { "Mcp-Session-Id", sessionId } } });

        Assert.Equal(HttpStatusCode.OK, initialized.StatusCode);
        Assert.DoesNotContain(keyId, sessionId, StringComparison.Ordinal);
        Assert.True(sessionId.All(c => c is > (char)0x20 and < (char)0x7f), "visible ASCII only (Streamable HTTP, session management)");
        Assert.Equal(HttpStatusCode.OK, listed.StatusCode);
        Assert.False(listed.Headers.Contains("Mcp-Session-Id"));
        Assert.Contains("\"code\":-32042", await elicited.Content.ReadAsStringAsync(), StringComparison.Ordinal);
        var plain = await withoutSession.Content.ReadAsStringAsync();
        Assert.DoesNotContain("-32042", plain, StringComparison.Ordinal);
        Assert.Contains("\"isError\":true", plain, StringComparison.Ordinal);
        Assert.Equal(HttpStatusCode.NotFound, forged.StatusCode);
        Assert.Equal(-32001, (await forged.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("error").GetProperty("code").GetInt32());
        Assert.Equal(HttpStatusCode.Forbidden, stolen.StatusCode);

        // No server-to-client stream to open, no session to end: both allowed answers of the transport.
        Assert.Equal(HttpStatusCode.MethodNotAllowed, stream.StatusCode);
        Assert.Equal(HttpStatusCode.MethodNotAllowed, end.StatusCode);
    }

    /// <summary>One JSON-RPC request as a 2025-11-25 client sends it over Streamable HTTP.</summary>
    private static Task<HttpResponseMessage> RpcAsync(HttpClient client, string? sessionId, string method, object parameters)
    {
        var request = new HttpRequestMessage(HttpMethod.Post, "/mcp")
        {
            Content = new StringContent(JsonSerializer.Serialize(new { jsonrpc = "2.0", id = 1, method, @params = parameters }), Encoding.UTF8, "application/json"),
        };
        request.Headers.Accept.Add(new MediaTypeWithQualityHeaderValue("application/json"));
        request.Headers.Accept.Add(new MediaTypeWithQualityHeaderValue("text/event-stream"));
        if (method != "initialize")
        {
            request.Headers.Add("MCP-Protocol-Version", "2025-11-25");
        }

        if (sessionId is not null)
        {
            request.Headers.Add("Mcp-Session-Id", sessionId);
        }

        return client.SendAsync(request);
    }
}
