using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using ModelContextProtocol.Client;
using ModelContextProtocol.Protocol;
using Valet.Tests.Infrastructure;

namespace Valet.Tests.Mcp;

/// <summary>
/// Bad tool arguments are tool execution errors (isError) with one sentence naming the argument and the JSON type it must
/// have — never a JSON-RPC error, a .NET type name or the generic "An error occurred" (MCP 2025-11-25, SEP-1303) — and
/// call_api's refusals by provider are audited as the same refusals by connection. A plain server: no IdP, no browser.
/// </summary>
public sealed class McpArgumentTests : IAsyncLifetime
{
    private ValetTestServer _server = null!;

    public async Task InitializeAsync() => _server = await ValetTestServer.StartAsync();

    public async Task DisposeAsync() => await _server.DisposeAsync();

    [Theory]
    [InlineData("call_api", """{"connection_id": 5, "path": "x"}""", "connection_id must be a string, not the number 5.")]
    [InlineData("call_api", """{"provider": ["github"], "path": "x"}""", "provider must be a string, not an array.")]
    [InlineData("call_api", """{"connection_id": "conn_x", "path": {"p": 1}}""", "path must be a string, not an object.")]
    [InlineData("call_api", """{"connection_id": "conn_x", "path": "x", "query": "a=1"}""", "query must be an object, not a string.")]
    [InlineData("call_api", """{"connection_id": "conn_x", "path": "x", "headers": {"Accept": 1}}""", "headers must be an object whose values are strings.")]
    [InlineData("call_api", """{"connection_id": "conn_x", "path": "x", "headers": true}""", "headers must be an object whose values are strings, not a boolean.")]
    [InlineData("call_api", """{"provider": "github"}""", "path is required: the part after the provider's API base (e.g. user/repos).")]
    [InlineData("call_api", """{"provider": "github", "path": "https://api.github.com/user"}""", "path is the part after the provider's API base (e.g. user/repos), never a full URL.")]
    [InlineData("connect_account", """{"provider": 7}""", "provider must be a string, not the number 7.")]
    [InlineData("connect_account", """{"provider": "github", "scopes": "repo"}""", "scopes must be an array of strings, not a string.")]
    [InlineData("connect_account", """{"provider": "github", "scopes": [1]}""", "scopes must be an array of strings.")]
    [InlineData("connect_account", """{"provider": "github", "scopes": ["repo", null]}""", "scopes must be at most 100 scopes, each 1 to 200 visible ASCII characters without spaces, '\"' or '\\' (RFC 6749 section 3.3).")]
    [InlineData("wait_for_connection", """{"flow_id": "flow_x", "timeout_seconds": "abc"}""", "timeout_seconds must be a whole number, not a string.")]
    [InlineData("wait_for_connection", """{"flow_id": "flow_x", "timeout_seconds": "30"}""", "timeout_seconds must be a whole number, not a string.")]
    [InlineData("wait_for_connection", """{"flow_id": "flow_x", "timeout_seconds": 1e10}""", "timeout_seconds must be a whole number, not the number 1e10.")]
    [InlineData("wait_for_connection", """{"flow_id": "flow_x", "timeout_seconds": 2.5}""", "timeout_seconds must be a whole number, not the number 2.5.")]
    [InlineData("wait_for_connection", """{"flow_id": false}""", "flow_id must be a string, not a boolean.")]
    public async Task WronglyTypedArguments_AreIsErrorResults_NamingTheArgumentAndItsJsonType(string tool, string arguments, string sentence)
    {
        var (_, key) = await _server.CreateKeyAsync("default", new { provider = "github" });

        // Both ways in: the initialize handshake (call_api and connect_account answered by McpDirectCalls) and the newest
        // revision (every call through the SDK's handler).
        foreach (var revision in new[] { "2025-11-25", null })
        {
            await using var client = await CSharpMcpClient.ConnectAsync(new Uri(_server.BaseUrl, "/mcp"), key, urlElicitation: false, revision);

            var result = await client.CallToolAsync(tool, JsonSerializer.Deserialize<Dictionary<string, object?>>(arguments));

            Assert.True(result.IsError, JsonSerializer.Serialize(result));
            Assert.Equal(sentence, Text(result));
        }

        Assert.DoesNotContain("MCP tool", _server.Logs.All, StringComparison.Ordinal);
    }

    [Fact]
    public async Task UnknownTool_IsStillAProtocolError()
    {
        var (_, key) = await _server.CreateKeyAsync("default", new { provider = "github" });
        await using var client = await CSharpMcpClient.ConnectAsync(new Uri(_server.BaseUrl, "/mcp"), key, urlElicitation: false);

        var error = await Assert.ThrowsAsync<ModelContextProtocol.McpProtocolException>(() => client.CallToolAsync("no_such_tool").AsTask());

        Assert.Equal(ModelContextProtocol.McpErrorCode.InvalidParams, error.ErrorCode);

        // The SDK logged it at Error with a stack trace; in valet serve its category starts at Critical (LogLevelTests), and
        // this is not a tool failure of Valet's own (event 5200).
        Assert.DoesNotContain(_server.Logs.Lines, line => line.Contains("[5200]", StringComparison.Ordinal));
    }

    [Theory]
    [InlineData("""{"query": {"a": null}}""", "query parameter 'a' must be a string, number or boolean, not null.")]
    [InlineData("""{"query": {"a": {"b": "c"}}}""", "query parameter 'a' must be a string, number or boolean, not an object.")]
    [InlineData("""{"query": {"a": ["b"]}}""", "query parameter 'a' must be a string, number or boolean, not an array.")]
    [InlineData("""{"query": {"": "v"}}""", "query has a parameter with an empty name; every query parameter needs a name.")]
    [InlineData("""{"headers": {"": "v"}}""", "The header name '' is not a valid HTTP field name: use letters, digits and !#$%&'*+-.^_`|~ only (RFC 9110 token).")]
    [InlineData("""{"headers": {"X Bad": "v"}}""", "The header name 'X Bad' is not a valid HTTP field name: use letters, digits and !#$%&'*+-.^_`|~ only (RFC 9110 token).")]
    [InlineData("""{"headers": {"X-\u00e9": "v"}}""", "The header name 'X-\u00e9' is not a valid HTTP field name: use letters, digits and !#$%&'*+-.^_`|~ only (RFC 9110 token).")]
    [InlineData("""{"headers": {"X-A\r\nX-B": "v"}}""", "The header name 'X-A\\u000D\\u000AX-B' is not a valid HTTP field name: use letters, digits and !#$%&'*+-.^_`|~ only (RFC 9110 token).")]
    [InlineData("""{"headers": {"X-A:": "v"}}""", "The header name 'X-A:' is not a valid HTTP field name: use letters, digits and !#$%&'*+-.^_`|~ only (RFC 9110 token).")]
    [InlineData("""{"headers": {"X-Note": null}}""", "The value of header 'X-Note' must be a string, not null.")]
    public async Task CallApi_RefusesQueryValuesAndHeaderNamesItCannotSend_InOneSentence(string extra, string sentence)
    {
        var (_, key) = await _server.CreateKeyAsync("default", new { provider = "github" });
        await using var client = await CSharpMcpClient.ConnectAsync(new Uri(_server.BaseUrl, "/mcp"), key, urlElicitation: false, "2025-11-25");
        var arguments = JsonSerializer.Deserialize<Dictionary<string, object?>>(extra)!;
        arguments["connection_id"] = "conn_nope";
        arguments["path"] = "user";

        var result = await client.CallToolAsync("call_api", arguments);

        Assert.True(result.IsError, JsonSerializer.Serialize(result));
        Assert.Equal(sentence, Text(result));
        Assert.DoesNotContain("MCP tool", _server.Logs.All, StringComparison.Ordinal); // no "tool failed" error with a stack
    }

    [Fact]
    public async Task CallApiByProvider_RefusedWhileChoosingTheConnection_IsAuditedAsTheSameRefusalByConnection()
    {
        using var admin = _server.Client();
        var put = await admin.PutAsJsonAsync("/v1/providers/internal", new
        {
            auth_mode = "api_key", api_key_header = "x-api-key: {secret}", api_base_url = new[] { "https://internal.example/v2" },
        });
        Assert.True(put.IsSuccessStatusCode, await put.Content.ReadAsStringAsync());
        var connections = new List<string>();
        foreach (var secret in new[] { "one", "two" })
        {
            var created = await admin.PostAsJsonAsync("/v1/orgs/default/connections", new { provider = "internal", api_key = secret, account = new { id = secret, login = secret } });
            Assert.Equal(HttpStatusCode.Created, created.StatusCode);
            connections.Add((await created.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("id").GetString()!);
        }

        var (githubKeyId, githubKey) = await _server.CreateKeyAsync("default", new { provider = "github" });
        var (internalKeyId, internalKey) = await _server.CreateKeyAsync("default", new { provider = "internal" });
        await using var github = await CSharpMcpClient.ConnectAsync(new Uri(_server.BaseUrl, "/mcp"), githubKey, urlElicitation: false, "2025-11-25");
        await using var internalAgent = await CSharpMcpClient.ConnectAsync(new Uri(_server.BaseUrl, "/mcp"), internalKey, urlElicitation: false);

        async Task<CallToolResult> CallAsync(McpClient client, string by, string id) =>
            await client.CallToolAsync("call_api", new Dictionary<string, object?> { [by] = id, ["path"] = "items/1", ["query"] = new { page = "2" } });

        var byConnection = await CallAsync(github, "connection_id", connections[0]); // the proxy's own audit
        var results = new[]
        {
            await CallAsync(github, "provider", "internal"),
            await CallAsync(github, "provider", "github"),
            await CallAsync(github, "provider", "nope"),
            await CallAsync(internalAgent, "provider", "internal"),
        };

        Assert.All(results.Append(byConnection), r => Assert.True(r.IsError));
        var events = await ProxyEventsAsync(admin, 5);
        var proxied = Assert.Single(events, e => Row(e).ConnectionId is not null);
        Assert.Equal(("forbidden via mcp", 403, githubKeyId, connections[0]), Row(proxied));
        Assert.Equal("/items/1?page", proxied.GetProperty("path").GetString());

        var chosen = events.Select(Row).Where(r => r.ConnectionId is null).OrderBy(r => r.Detail).ToArray();
        Assert.Equal(
        [
            ("ambiguous_connection via mcp", 409, internalKeyId, null),
            ("forbidden via mcp", 403, githubKeyId, null),
            ("needs_authentication via mcp", 409, githubKeyId, null),
            ("unknown_provider via mcp", 404, githubKeyId, null),
        ], chosen);
        Assert.All(events, e =>
        {
            Assert.Equal("GET", e.GetProperty("method").GetString());
            Assert.Equal("/items/1?page", e.GetProperty("path").GetString());
        });
    }

    private static (string? Detail, int Status, string? KeyId, string? ConnectionId) Row(JsonElement e) =>
        (e.GetProperty("detail").GetString(), e.GetProperty("status").GetInt32(), e.GetProperty("key_id").GetString(),
            e.TryGetProperty("connection_id", out var connection) ? connection.GetString() : null);

    /// <summary>The org's proxy.request events once <paramref name="count"/> are there (the audit writer batches).</summary>
    private static async Task<JsonElement[]> ProxyEventsAsync(HttpClient admin, int count)
    {
        for (var i = 0; ; i++)
        {
            var page = await admin.GetFromJsonAsync<JsonElement>("/v1/orgs/default/audit?limit=100");
            var events = page.GetProperty("events").EnumerateArray().Where(e => e.GetProperty("kind").GetString() == "proxy.request").ToArray();
            if (events.Length >= count || i == 50)
            {
                Assert.Equal(count, events.Length);
                return events;
            }

            await Task.Delay(100);
        }
    }

    private static string Text(CallToolResult result) => string.Concat(result.Content.OfType<TextContentBlock>().Select(b => b.Text));
}
