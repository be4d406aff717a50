using System.Net;
using System.Net.Http.Json;
using System.Text;
using System.Text.Json;
using Valet.Tests.Infrastructure;
using Valet.Tests.Mcp;

namespace Valet.Tests.Server;

/// <summary>
/// JSON's <c>\u0000</c> in any text value: PostgreSQL's text type cannot store it, and it used to reach the insert and
/// answer 500. Every JSON body and MCP tool argument now refuses it up front, on both backends alike.
/// </summary>
[Collection(PostgresCollection.Name)]
public sealed class NulInputTests(PostgresFixture postgres)
{
    public static TheoryData<string> Backends => new() { "sqlite", "postgres" };

    [Theory]
    [MemberData(nameof(Backends))]
    public async Task ANulCharacter_InAJsonBodyOrAToolArgument_Is400InvalidJson_Never500(string backend)
    {
        var database = backend == "postgres" ? await postgres.CreateDatabaseAsync() : null;
        await using var server = await ValetTestServer.StartAsync(database is null ? null : new Dictionary<string, string?>
        {
            ["DATABASE"] = database, ["ENCRYPTION_KEY"] = ValetTestServer.RandomKey(),
        });
        using var admin = server.Client();

        // As a client sends it: the JSON escape, not a raw byte (a raw control character is already not JSON).
        foreach (var (path, body) in new[]
        {
            ("/v1/orgs", """{"id":"nul-org","name":"a\u0000b"}"""),
            ("/v1/orgs/default/keys", """{"name":"a\u0000b","permissions":[]}"""),
            ("/v1/orgs/default/credentials", """{"provider":"github","client_id":"id\u0000","client_secret":"s"}"""),
            // A property the binder ignores, holding what is not text (a lone surrogate), must not end the check early.
            ("/v1/orgs", """{"junk":"\ud800","id":"nul-org-2","name":"a\u0000b"}"""),
            // Nor a byte order mark, which the binder skips and a JSON reader refuses.
            ("/v1/orgs", "\uFEFF" + """{"id":"nul-org-3","name":"a\u0000b"}"""),
        })
        {
            using var response = await admin.PostAsync(path, new StringContent(body, new UTF8Encoding(false), "application/json"));
            var problem = await response.Content.ReadFromJsonAsync<JsonElement>();
            Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
            Assert.Equal("invalid_json", problem.GetProperty("code").GetString());
            Assert.Contains("NUL", problem.GetProperty("detail").GetString(), StringComparison.Ordinal);
        }

        var (_, key) = await server.CreateKeyAsync("default", new { provider = "github" });
        await using var mcp = await CSharpMcpClient.ConnectAsync(new Uri(server.BaseUrl, "/mcp"), key, urlElicitation: false);
        var call = await mcp.CallToolAsync("call_api", new Dictionary<string, object?> { ["connection_id"] = "con\0x", ["path"] = "user" });
        var wait = await mcp.CallToolAsync("wait_for_connection", new Dictionary<string, object?> { ["flow_id"] = "flow\0x" });
        foreach (var result in new[] { call, wait })
        {
            Assert.True(result.IsError);
            Assert.Contains("NUL", string.Join(" ", result.Content.Select(c => (c as ModelContextProtocol.Protocol.TextContentBlock)?.Text)), StringComparison.Ordinal);
        }

        Assert.DoesNotContain(server.Logs.Lines, line => line.StartsWith("Error ", StringComparison.Ordinal) || line.StartsWith("Critical ", StringComparison.Ordinal));
        if (database is not null)
        {
            await postgres.DropDatabaseAsync(database);
        }
    }
}
