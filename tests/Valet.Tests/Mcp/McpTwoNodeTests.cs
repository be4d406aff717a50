using System.Collections.Concurrent;
using System.Net.Http.Json;
using System.Text.Json;
using ModelContextProtocol;
using ModelContextProtocol.Client;
using Valet.Tests.Infrastructure;
using Valet.Tests.Proxy;

namespace Valet.Tests.Mcp;

/// <summary>
/// Two Valet nodes on one PostgreSQL, one MCP client served by both in turn (as a load balancer without affinity would):
/// what a 2025-11-25 client declared at initialize on one node holds on the other, and every tool works on either.
/// </summary>
[Collection(PostgresCollection.Name)]
public sealed class McpTwoNodeTests(PostgresFixture postgres) : IAsyncLifetime
{
    private const string ApiToken = "two-node-access-token";
    private ResourceServer _upstream = null!;
    private string _database = null!;
    private ValetTestServer _nodeA = null!;
    private ValetTestServer _nodeB = null!;

    public async Task InitializeAsync()
    {
        _upstream = await ResourceServer.StartAsync();
        _upstream.ValidTokens[ApiToken] = true;
        _database = await postgres.CreateDatabaseAsync();
        var up = _upstream.BaseUrl.ToString().TrimEnd('/');
        var settings = new Dictionary<string, string?>
        {
            ["DATABASE"] = _database,
            ["ENCRYPTION_KEY"] = ValetTestServer.RandomKey(),
            ["Providers:acme:AuthorizationEndpoint"] = up + "/oauth/authorize",
            ["Providers:acme:TokenEndpoint"] = up + "/oauth/token",
            ["Providers:acme:ApiBaseUrl"] = up + "/api",
            ["Providers:acme:Scopes"] = "profile",
            ["Providers:acme:ClientId"] = "acme-client",
            ["Providers:acme:ClientSecret"] = "acme-secret",
            ["Providers:acme:AllowPrivateNetwork"] = "true",
        };
        _nodeA = await ValetTestServer.StartAsync(settings);
        _nodeB = await ValetTestServer.StartAsync(settings);
    }

    public async Task DisposeAsync()
    {
        await _nodeA.DisposeAsync();
        await _nodeB.DisposeAsync();
        await _upstream.DisposeAsync();
        await postgres.DropDatabaseAsync(_database);
    }

    [Fact]
    public async Task A2025_11_25Client_InitializedOnOneNode_KeepsItsUrlElicitation_OnTheOther_AndEveryToolWorksOnBoth()
    {
        using var admin = _nodeA.Client();
        var credential = await PostAsync(admin, "/v1/orgs/default/credentials", new { provider = "acme", client_id = "acme-client", client_secret = "acme-secret" });
        var connection = await PostAsync(admin, "/v1/orgs/default/connections/import", new
        {
            provider = "acme", credential_id = credential.GetProperty("id").GetString(), access_token = ApiToken, expires_in = 3600,
            account = new { id = "acme-account" },
        });
        var connectionId = connection.GetProperty("id").GetString()!;
        var (_, key) = await _nodeA.CreateKeyAsync("default", new { provider = "acme" });

        var declaringRoute = new NodeRouter(_nodeA.BaseUrl);
        var plainRoute = new NodeRouter(_nodeB.BaseUrl);
        using var declaringHttp = new HttpClient(declaringRoute);
        using var plainHttp = new HttpClient(plainRoute);
        var endpoint = new Uri("http://mcp.invalid/mcp");
        await using var declaring = await CSharpMcpClient.ConnectAsync(endpoint, key, urlElicitation: true, "2025-11-25", declaringHttp);
        await using var plain = await CSharpMcpClient.ConnectAsync(endpoint, key, urlElicitation: false, "2025-11-25", plainHttp);

        // Each client was initialized on its first node; every call from here on alternates between the nodes.
        var elicited = new List<(Uri Node, UrlElicitationRequiredException Error)>();
        var enveloped = new List<(Uri Node, JsonElement Envelope)>();
        var called = new List<(Uri Node, int Status)>();
        var listed = new List<(Uri Node, int Connections)>();
        foreach (var node in new[] { _nodeB.BaseUrl, _nodeA.BaseUrl, _nodeB.BaseUrl, _nodeA.BaseUrl })
        {
            declaringRoute.Next = node;
            plainRoute.Next = node;
            var error = await Assert.ThrowsAsync<UrlElicitationRequiredException>(() =>
                declaring.CallToolAsync("connect_account", new Dictionary<string, object?> { ["provider"] = "acme" }).AsTask());
            elicited.Add((node, error));
            var result = await plain.CallToolAsync("connect_account", new Dictionary<string, object?> { ["provider"] = "acme" });
            Assert.True(result.IsError);
            enveloped.Add((node, result.StructuredContent!.Value));
            var call = await declaring.CallToolAsync("call_api", new Dictionary<string, object?> { ["connection_id"] = connectionId, ["path"] = "user" });
            called.Add((node, call.StructuredContent!.Value.GetProperty("status").GetInt32()));
            var list = await plain.CallToolAsync("list_connections");
            listed.Add((node, list.StructuredContent!.Value.GetProperty("connections").GetArrayLength()));
        }

        Assert.Equal(_nodeA.BaseUrl, declaringRoute.Served.First().Node);
        Assert.Equal(_nodeB.BaseUrl, plainRoute.Served.First().Node);
        foreach (var route in new[] { declaringRoute, plainRoute })
        {
            // The session id came back from initialize, and both nodes were sent it.
            Assert.Equal(2, route.Served.Where(s => s.SessionId is not null).Select(s => s.Node).Distinct().Count());
            Assert.Single(route.Served.Where(s => s.SessionId is not null).Select(s => s.SessionId).Distinct());
        }

        Assert.Equal(2, elicited.Select(e => e.Node).Distinct().Count());
        foreach (var (node, error) in elicited)
        {
            var elicitation = Assert.Single(error.Elicitations);
            // Each test node is its own public URL here; behind a load balancer they share one.
            Assert.StartsWith(node.GetLeftPart(UriPartial.Authority) + "/connect-authorize?flow=", elicitation.Url, StringComparison.Ordinal);
        }

        // One flow for the org's envelope, whichever node minted the answer (the flow row is in PostgreSQL).
        Assert.Single(elicited.Select(e => e.Error.Elicitations[0].ElicitationId).Concat(enveloped.Select(e => e.Envelope.GetProperty("flow_id").GetString())).Distinct());
        Assert.All(enveloped, e => Assert.Equal("needs_authentication", e.Envelope.GetProperty("code").GetString()));
        Assert.All(called, c => Assert.Equal(200, c.Status));
        Assert.All(listed, l => Assert.Equal(1, l.Connections));
    }

    private static async Task<JsonElement> PostAsync(HttpClient client, string path, object body)
    {
        using var response = await client.PostAsJsonAsync(path, body);
        var json = await response.Content.ReadFromJsonAsync<JsonElement>();
        Assert.True(response.IsSuccessStatusCode, $"{path}: {(int)response.StatusCode} {json}");
        return json;
    }

    /// <summary>Sends each request to the node chosen last (<see cref="Next"/>), the first one to begin with, and records who served what.</summary>
    private sealed class NodeRouter(Uri first) : DelegatingHandler(new SocketsHttpHandler())
    {
        public Uri Next { get; set; } = first;

        public ConcurrentQueue<(Uri Node, string? SessionId)> Served { get; } = new();

        protected override Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken cancellationToken)
        {
            var node = Next;
            request.RequestUri = new Uri(node, request.RequestUri!.PathAndQuery);
            Served.Enqueue((node, request.Headers.TryGetValues("Mcp-Session-Id", out var values) ? values.Single() : null));
            return base.SendAsync(request, cancellationToken);
        }
    }
}
