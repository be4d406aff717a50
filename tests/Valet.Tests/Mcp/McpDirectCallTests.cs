using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Text;
using System.Text.Json;
using System.Text.RegularExpressions;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Valet.Core.Providers;
using Valet.Server.Mcp;
using Valet.Tests.Infrastructure;

namespace Valet.Tests.Mcp;

/// <summary>
/// The tool calls Valet answers without the SDK's per-request server (<see cref="McpDirectCalls"/>, docs/mcp.md
/// "Performance") answer byte for byte what the SDK answers: the same request is sent with the direct path on and off and
/// the two HTTP answers compared (status, media type, caching headers, body — flow ids aside, each call starts its own
/// flow). Everything else still reaches the SDK.
/// </summary>
[Collection("idp")]
public sealed partial class McpDirectCallTests(IdpFixture idp, BrowserFixture browser) : McpTestBase(idp, browser)
{
    [Fact]
    public async Task EveryKindOfAnswer_IsTheSdksOwn_ByteForByte()
    {
        var (connectionId, _) = await ConnectAsync("mona");
        var (_, key) = await Server.CreateKeyAsync("default", new { connection = connectionId }, new { provider = "idp" });
        using (var admin = Server.Client())
        {
            (await admin.PostAsJsonAsync("/v1/orgs", new { id = "direct-elsewhere" })).EnsureSuccessStatusCode();
        }

        var (_, unconnected) = await Server.CreateKeyAsync("direct-elsewhere", new { provider = "idp" });
        using var agent = Server.Client(key);
        using var stranger = Server.Client(unconnected);
        var eliciting = await InitializeAsync(agent, urlElicitation: true);
        var plain = await InitializeAsync(stranger, urlElicitation: false);
        var strangerEliciting = await InitializeAsync(stranger, urlElicitation: true);
        var direct = Server.Services.GetRequiredService<McpDirectCalls>();

        (HttpClient Client, string Session, object Call)[] cases =
        [
            (agent, eliciting, new { name = "call_api", arguments = new { connection_id = connectionId, path = "whoami", query = new { x = "1" } } }),
            (agent, eliciting, new { name = "call_api", arguments = new { connection_id = connectionId, path = "text" } }),
            (agent, eliciting, new { name = "call_api", arguments = new { connection_id = connectionId, path = "big" } }),
            (agent, eliciting, new { name = "call_api", arguments = new { connection_id = connectionId, path = "image" } }),
            (agent, eliciting, new { name = "call_api", arguments = new { connection_id = connectionId } }), // no path: isError
            (agent, eliciting, new { name = "call_api", arguments = new { connection_id = "conn_nope", path = "x" } }), // refused
            (agent, eliciting, new { name = "call_api", arguments = new { connection_id = 5, path = "x" } }), // wrong type: isError (SEP-1303)
            (agent, eliciting, new { name = "list_connections", arguments = new { } }),
            (stranger, strangerEliciting, new { name = "call_api", arguments = new { provider = "idp", path = "whoami" } }), // -32042
            (stranger, strangerEliciting, new { name = "connect_account", arguments = new { provider = "idp" } }), // -32042
            (stranger, plain, new { name = "connect_account", arguments = new { provider = "idp" } }), // isError + envelope
            (stranger, plain, new { name = "list_connections" }), // no arguments at all
        ];

        // Ids as strings, and requests carrying _meta (a progress token, the newer revisions' per-request declarations).
        string[] raw =
        [
            """{"jsonrpc":"2.0","id":"call-\u00e9-1","method":"tools/call","params":{"name":"call_api","arguments":{"connection_id":""" + JsonSerializer.Serialize(connectionId) + ""","path":"whoami"}}}""",
            """{"jsonrpc":"2.0","id":9007199254740993,"method":"tools/call","params":{"name":"list_connections","arguments":{},"_meta":{"progressToken":"p-1"}}}""",
            """{"jsonrpc":"2.0","id":"x","method":"tools/call","params":{"name":"connect_account","arguments":{"provider":"idp"},"_meta":{"io.modelcontextprotocol/clientCapabilities":{}}}}""",
        ];
        foreach (var body in raw)
        {
            direct.Enabled = false;
            var sdk = await AnswerAsync(agent, eliciting, body);
            direct.Enabled = true;
            var before = direct.Answered;
            var mine = await AnswerAsync(agent, eliciting, body);
            Assert.Equal(before + 1, direct.Answered);
            Assert.Equal(sdk, mine);
        }

        foreach (var (client, session, call) in cases)
        {
            direct.Enabled = false;
            var before = direct.Answered;
            var sdk = await AnswerAsync(client, session, call);
            Assert.Equal(before, direct.Answered);

            direct.Enabled = true;
            var mine = await AnswerAsync(client, session, call);
            Assert.Equal(before + 1, direct.Answered);

            Assert.Equal(sdk, mine);
        }
    }

    [Fact]
    public async Task OtherRequests_StillReachTheSdk()
    {
        var (_, key) = await Server.CreateKeyAsync("default", new { provider = "idp" });
        using var agent = Server.Client(key);
        var session = await InitializeAsync(agent, urlElicitation: false);
        var direct = Server.Services.GetRequiredService<McpDirectCalls>();
        var before = direct.Answered;

        var listed = await AnswerAsync(agent, session, new { }, method: "tools/list");
        var waited = await AnswerAsync(agent, session, new { name = "wait_for_connection", arguments = new { flow_id = "flow_nope", timeout_seconds = 0 } });
        var unknown = await AnswerAsync(agent, session, new { name = "no_such_tool", arguments = new { } });
        var notJson = await SendAsync(agent, session, "{not json", "2025-11-25");
        var batch = await SendAsync(agent, session, "[{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"ping\"}]", "2025-11-25");
        var olderRevision = await SendAsync(agent, session, Body("tools/call", new { name = "list_connections" }), "2025-03-26");

        Assert.Equal(before, direct.Answered);
        Assert.Contains("\"call_api\"", listed, StringComparison.Ordinal);
        Assert.Contains("No such flow.", waited, StringComparison.Ordinal);
        Assert.Contains("Unknown tool", unknown, StringComparison.Ordinal);
        Assert.StartsWith("400", notJson, StringComparison.Ordinal);
        Assert.DoesNotContain("\"result\"", batch, StringComparison.Ordinal); // the 2025-11-25 transport has no batches
        Assert.StartsWith("200", olderRevision, StringComparison.Ordinal);
    }

    private static async Task<string> InitializeAsync(HttpClient client, bool urlElicitation)
    {
        object capabilities = urlElicitation ? new { elicitation = new { url = new { } } } : new { };
        using var request = Request(Body("initialize", new { protocolVersion = "2025-11-25", capabilities, clientInfo = new { name = "raw", version = "1" } }), null, null);
        using var response = await client.SendAsync(request);
        return Assert.Single(response.Headers.GetValues("Mcp-Session-Id"));
    }

    private static Task<string> AnswerAsync(HttpClient client, string session, object parameters, string method = "tools/call") =>
        SendAsync(client, session, Body(method, parameters), "2025-11-25");

    private static Task<string> AnswerAsync(HttpClient client, string session, string rawBody) => SendAsync(client, session, rawBody, "2025-11-25");

    /// <summary>The answer as one comparable string: status, media type, caching headers, body (flow ids masked).</summary>
    internal static async Task<string> SendAsync(HttpClient client, string session, string body, string version)
    {
        using var request = Request(body, session, version);
        using var response = await client.SendAsync(request);
        var text = await response.Content.ReadAsStringAsync();
        return $"{(int)response.StatusCode} {response.Content.Headers.ContentType} {response.Headers.CacheControl} "
            + $"encoding={string.Join(",", response.Content.Headers.ContentEncoding)} "
            + $"{string.Join(",", response.Headers.TryGetValues("X-Accel-Buffering", out var buffering) ? buffering : [])}\n"
            + FlowId().Replace(text, "flow_*");
    }

    internal static string Body(string method, object parameters) =>
        JsonSerializer.Serialize(new { jsonrpc = "2.0", id = 7, method, @params = parameters });

    internal static HttpRequestMessage Request(string body, string? session, string? version)
    {
        var request = new HttpRequestMessage(HttpMethod.Post, "/mcp") { Content = new StringContent(body, Encoding.UTF8, "application/json") };
        request.Headers.Accept.Add(new MediaTypeWithQualityHeaderValue("application/json"));
        request.Headers.Accept.Add(new MediaTypeWithQualityHeaderValue("text/event-stream"));
        if (version is not null)
        {
            request.Headers.Add("MCP-Protocol-Version", version);
        }

        if (session is not null)
        {
            request.Headers.Add("Mcp-Session-Id", session);
        }

        return request;
    }

    [GeneratedRegex("flow_[a-z0-9]+")]
    private static partial Regex FlowId();
}

/// <summary>
/// A tool that fails (here: the provider catalog throws) is answered as the SDK's tools/call wrapper answers it — a result
/// with isError naming the tool, not a JSON-RPC error, and never a 500 — on both paths alike.
/// </summary>
public sealed class McpDirectCallFailureTests
{
    [Fact]
    public async Task AToolThatThrows_IsAnIsErrorResult_AsTheSdkAnswersIt()
    {
        var catalog = new ThrowingCatalog(await ProviderCatalogBuilder.BuildAsync(new ConfigurationBuilder().Build(), new HttpClient(), default));
        await using var server = await ValetTestServer.StartAsync(configure: builder => builder.Services.AddSingleton<IProviderCatalog>(catalog));
        var (_, key) = await server.CreateKeyAsync("default", new { provider = "github" });
        using var agent = server.Client(key);
        using var initialized = await agent.SendAsync(McpDirectCallTests.Request(McpDirectCallTests.Body("initialize",
            new { protocolVersion = "2025-11-25", capabilities = new { }, clientInfo = new { name = "raw", version = "1" } }), null, null));
        var session = Assert.Single(initialized.Headers.GetValues("Mcp-Session-Id"));
        var direct = server.Services.GetRequiredService<McpDirectCalls>();
        var call = McpDirectCallTests.Body("tools/call", new { name = "connect_account", arguments = new { provider = "github" } });
        catalog.Throw = true;

        direct.Enabled = false;
        var sdk = await McpDirectCallTests.SendAsync(agent, session, call, "2025-11-25");
        direct.Enabled = true;
        var before = direct.Answered;
        var mine = await McpDirectCallTests.SendAsync(agent, session, call, "2025-11-25");

        Assert.Equal(before + 1, direct.Answered);
        Assert.Contains("\"isError\":true", sdk, StringComparison.Ordinal);
        Assert.Contains("An error occurred invoking \\u0027connect_account\\u0027.", sdk, StringComparison.Ordinal);
        Assert.Equal(sdk, mine);
    }

    private sealed class ThrowingCatalog(IProviderCatalog inner) : IProviderCatalog
    {
        public volatile bool Throw;

        public IReadOnlyCollection<ProviderDefinition> All => inner.All;

        public ProviderDefinition? Find(string id) => Throw ? throw new InvalidOperationException("catalog down") : inner.Find(id);
    }
}
