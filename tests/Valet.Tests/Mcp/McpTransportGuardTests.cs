using System.Net;
using System.Text.Json;
using Valet.Tests.Infrastructure;

namespace Valet.Tests.Mcp;

/// <summary>
/// What the Streamable HTTP transport requires before a request is read
/// (https://modelcontextprotocol.io/specification/2025-11-25/basic/transports#security-warning): an <c>Origin</c> that is not
/// Valet's own (a DNS-rebinding page) is 403, a POST without a Content-Type is 415 (it was a 500 inside the SDK), and an
/// invented <c>tools/list</c> cursor is -32602 (pagination: "Invalid cursors SHOULD result in an error with code -32602").
/// </summary>
public sealed class McpTransportGuardTests : IAsyncLifetime
{
    private ValetTestServer _server = null!;
    private string _key = null!;

    public async Task InitializeAsync()
    {
        _server = await ValetTestServer.StartAsync(new Dictionary<string, string?> { ["Mcp:AllowedOrigins"] = "http://localhost:6274, https://inspector.example" });
        (_, _key) = await _server.CreateKeyAsync("default", new { provider = "github" });
    }

    public Task DisposeAsync() => _server.DisposeAsync().AsTask();

    [Theory]
    [InlineData("http://evil.example", HttpStatusCode.Forbidden)]
    [InlineData("null", HttpStatusCode.Forbidden)] // a sandboxed frame or a file: page
    [InlineData("http://localhost:6274", HttpStatusCode.OK)] // listed in Mcp:AllowedOrigins
    [InlineData("HTTPS://Inspector.Example:443", HttpStatusCode.OK)] // the same origin, spelled otherwise
    [InlineData(null, HttpStatusCode.OK)] // no Origin: not a browser
    public async Task Origin_OtherThanValetsOwnOrAnAllowedOne_Is403_BeforeTheRequestIsRead(string? origin, HttpStatusCode expected)
    {
        using var agent = _server.Client(_key);
        using var request = McpDirectCallTests.Request(McpDirectCallTests.Body("tools/list", new { }), null, "2025-11-25");
        if (origin is not null)
        {
            request.Headers.Add("Origin", origin);
        }

        using var response = await agent.SendAsync(request);

        Assert.Equal(expected, response.StatusCode);
        if (expected == HttpStatusCode.Forbidden)
        {
            var error = JsonDocument.Parse(await response.Content.ReadAsStringAsync()).RootElement.GetProperty("error");
            Assert.Contains("origin", error.GetProperty("message").GetString(), StringComparison.OrdinalIgnoreCase);
        }
    }

    [Fact]
    public async Task Origin_OfValetsOwnPublicUrl_IsAllowed()
    {
        using var agent = _server.Client(_key);
        using var request = McpDirectCallTests.Request(McpDirectCallTests.Body("tools/list", new { }), null, "2025-11-25");
        request.Headers.Add("Origin", _server.BaseUrl.GetLeftPart(UriPartial.Authority));

        using var response = await agent.SendAsync(request);

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
    }

    [Fact]
    public async Task Post_WithoutAContentType_Is415LikeAnyOtherMediaType_NotA500()
    {
        using var agent = _server.Client(_key);
        using var request = McpDirectCallTests.Request(McpDirectCallTests.Body("tools/list", new { }), null, "2025-11-25");
        request.Content!.Headers.ContentType = null;

        using var response = await agent.SendAsync(request);

        Assert.Equal(HttpStatusCode.UnsupportedMediaType, response.StatusCode);
        Assert.Equal(-32600, JsonDocument.Parse(await response.Content.ReadAsStringAsync()).RootElement.GetProperty("error").GetProperty("code").GetInt32());
        Assert.DoesNotContain(_server.Logs.Lines, l => l.StartsWith("Error", StringComparison.Ordinal) || l.StartsWith("Critical", StringComparison.Ordinal));
    }

    [Theory]
    [InlineData("2026-07-28")] // a per-request revision, sent in initialize anyway (clients do)
    [InlineData("2099-01-01")]
    [InlineData("garbage")]
    [InlineData("1999-01-01")]
    public async Task Initialize_WithARevisionWithoutTheHandshake_IsOfferedTheNewestHandshakeRevision_NotAnError(string requested)
    {
        // Lifecycle, version negotiation: "Otherwise, the server MUST respond with another protocol version it supports".
        using var agent = _server.Client(_key);
        using var request = McpDirectCallTests.Request(McpDirectCallTests.Body("initialize",
            new { protocolVersion = requested, capabilities = new { }, clientInfo = new { name = "raw", version = "1" } }), null, null);

        using var response = await agent.SendAsync(request);
        var text = await response.Content.ReadAsStringAsync();

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Contains("\"protocolVersion\":\"2025-11-25\"", text, StringComparison.Ordinal);
        Assert.DoesNotContain("\"error\"", text, StringComparison.Ordinal);
        Assert.Single(response.Headers.GetValues("Mcp-Session-Id"));
    }

    [Fact]
    public async Task ToolsList_WithACursorValetNeverHandedOut_IsInvalidParams()
    {
        using var agent = _server.Client(_key);
        using var request = McpDirectCallTests.Request(McpDirectCallTests.Body("tools/list", new { cursor = "bogus" }), null, "2025-11-25");

        using var response = await agent.SendAsync(request);
        var text = await response.Content.ReadAsStringAsync();

        Assert.Contains("\"code\":-32602", text, StringComparison.Ordinal);
        Assert.DoesNotContain("\"tools\"", text, StringComparison.Ordinal);
    }
}
