using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Text;
using System.Text.Json;
using System.Text.RegularExpressions;
using Microsoft.Extensions.DependencyInjection;
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
            (agent, eliciting, new { name = "call_api", arguments = new { connection_id = 5, path = "x" } }), // -32602 invalid params
            (agent, eliciting, new { name = "list_connections", arguments = new { } }),
            (stranger, strangerEliciting, new { name = "call_api", arguments = new { provider = "idp", path = "whoami" } }), // -32042
            (stranger, strangerEliciting, new { name = "connect_account", arguments = new { provider = "idp" } }), // -32042
            (stranger, plain, new { name = "connect_account", arguments = new { provider = "idp" } }), // isError + envelope
            (stranger, plain, new { name = "list_connections" }), // no arguments at all
        ];

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

    /// <summary>The answer as one comparable string: status, media type, caching headers, body (flow ids masked).</summary>
    private static async Task<string> SendAsync(HttpClient client, string session, string body, string version)
    {
        using var request = Request(body, session, version);
        using var response = await client.SendAsync(request);
        var text = await response.Content.ReadAsStringAsync();
        return $"{(int)response.StatusCode} {response.Content.Headers.ContentType} {response.Headers.CacheControl} "
            + $"{string.Join(",", response.Headers.TryGetValues("X-Accel-Buffering", out var buffering) ? buffering : [])}\n"
            + FlowId().Replace(text, "flow_*");
    }

    private static string Body(string method, object parameters) =>
        JsonSerializer.Serialize(new { jsonrpc = "2.0", id = 7, method, @params = parameters });

    private static HttpRequestMessage Request(string body, string? session, string? version)
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
