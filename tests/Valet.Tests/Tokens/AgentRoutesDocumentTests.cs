using System.Net.Http.Json;
using System.Text.Json;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Http.Json;
using Microsoft.AspNetCore.OpenApi;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using Microsoft.OpenApi;
using Valet.Server.Hosting;
using Valet.Server.Tokens;
using Valet.Tests.Infrastructure;

namespace Valet.Tests.Tokens;

/// <summary>The agent routes in the OpenAPI document, and the envelope record on the wire exactly as the dictionary it replaced.</summary>
public sealed class AgentRoutesDocumentTests
{
    [Fact]
    public async Task OpenApi_DescribesTokenBootstrapAndProxyRoutes_WithResponsesEnvelopeAndAgentTag()
    {
        await using var server = await ValetTestServer.StartAsync();
        using var anonymous = server.Client(bearer: null);

        var document = await anonymous.GetFromJsonAsync<JsonElement>("/openapi/v1.json");

        var paths = document.GetProperty("paths");
        var byConnection = paths.GetProperty("/v1/connections/{id}/token").GetProperty("post");
        Assert.Contains("Agent", byConnection.GetProperty("tags").EnumerateArray().Select(t => t.GetString()));
        var responses = byConnection.GetProperty("responses");
        Assert.True(responses.GetProperty("200").GetProperty("content").TryGetProperty("application/json", out _));
        // The 409 is the envelope of SPEC §5 (its code an enum), narrowed to the codes this route gives.
        var envelope = responses.GetProperty("409").GetProperty("content").GetProperty("application/problem+json").GetProperty("schema").GetProperty("allOf");
        Assert.Equal("#/components/schemas/AuthRecoveryEnvelope", envelope[0].GetProperty("$ref").GetString());
        Assert.Equal(["missing_scopes", "reauth_required"],
            envelope[1].GetProperty("properties").GetProperty("code").GetProperty("enum").EnumerateArray().Select(e => e.GetString()));
        foreach (var status in new[] { "401", "403", "404", "422", "429", "502", "504" })
        {
            Assert.True(responses.TryGetProperty(status, out _), "token route documents " + status);
        }

        var schemas = document.GetProperty("components").GetProperty("schemas");
        Assert.False(schemas.TryGetProperty("AuthEnvelope", out _), "one envelope schema, not two");
        var schema = schemas.GetProperty("AuthRecoveryEnvelope").GetProperty("properties");
        foreach (var member in new[] { "type", "code", "provider", "connection_id", "required_scopes", "missing_scopes", "headless", "reason", "connect_url", "flow_id", "credential_id" })
        {
            Assert.True(schema.TryGetProperty(member, out _), "envelope schema has " + member);
        }

        Assert.True(paths.GetProperty("/v1/providers/{provider}/token").TryGetProperty("post", out _));
        Assert.True(paths.GetProperty("/v1/bootstrap").TryGetProperty("get", out _));
        var proxy = paths.EnumerateObject().Single(p => p.Name.StartsWith("/v1/proxy/{connection_id}/", StringComparison.Ordinal)).Value;
        var targetProxy = paths.EnumerateObject().Single(p => p.Name.StartsWith("/v1/targets/{target}/", StringComparison.Ordinal)).Value;
        foreach (var method in new[] { "get", "post", "put", "patch", "delete" })
        {
            Assert.Contains("Agent", proxy.GetProperty(method).GetProperty("tags").EnumerateArray().Select(t => t.GetString()));
            Assert.True(targetProxy.GetProperty(method).GetProperty("responses").TryGetProperty("409", out _));
        }
    }

    /// <summary>
    /// The routes only refer to the <c>agentKey</c> scheme; whoever declares it in a document transformer (as the operator
    /// routes' work does) makes the reference resolve. Until then the requirement is written empty.
    /// </summary>
    [Fact]
    public async Task AgentRoutes_RequireTheAgentKeyScheme_OnceADocumentTransformerDeclaresIt()
    {
        var data = Path.Combine(Path.GetTempPath(), "valet-test-" + Guid.NewGuid().ToString("N"));
        var settings = new Dictionary<string, string?> { ["DATA_DIR"] = data, ["ADMIN_TOKEN"] = ValetTestServer.AdminToken, ["urls"] = "http://127.0.0.1:0" };
        await using var app = await ValetHost.BuildAsync([], settings, builder =>
        {
            builder.Logging.ClearProviders();
            builder.Services.Configure<OpenApiOptions>("v1", options => options.AddDocumentTransformer((document, _, _) =>
            {
                document.Components ??= new OpenApiComponents();
                document.Components.SecuritySchemes ??= new Dictionary<string, IOpenApiSecurityScheme>();
                document.Components.SecuritySchemes[AgentOpenApi.SecurityScheme] = new OpenApiSecurityScheme { Type = SecuritySchemeType.Http, Scheme = "bearer" };
                return Task.CompletedTask;
            }));
        });
        await app.StartAsync();
        try
        {
            using var http = new HttpClient { BaseAddress = new Uri(app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.First()) };

            var document = await http.GetFromJsonAsync<JsonElement>("/openapi/v1.json");

            var security = document.GetProperty("paths").GetProperty("/v1/connections/{id}/token").GetProperty("post").GetProperty("security");
            Assert.True(Assert.Single(security.EnumerateArray()).TryGetProperty("agentKey", out _), security.ToString());
        }
        finally
        {
            await app.StopAsync();
            Directory.Delete(data, recursive: true);
        }
    }

    [Fact]
    public async Task Envelope_OnTheWire_HasNullConnectionId_CredentialIdExactlyWhenHeadless_NoUnsetLinks()
    {
        await using var server = await ValetTestServer.StartAsync();
        var options = server.Services.GetRequiredService<IOptions<JsonOptions>>().Value.SerializerOptions;
        var envelope = new AuthEnvelope
        {
            Type = "urn:valet:problem:needs_authentication", Title = "Authentication needed", Detail = "d", Code = "needs_authentication",
            Provider = "acme", RequiredScopes = ["read"], MissingScopes = ["read"], Headless = true,
        };

        var headless = JsonSerializer.SerializeToElement(envelope, options);
        var ordinary = JsonSerializer.SerializeToElement(envelope with { Headless = false, FlowId = "flow_1", ConnectUrl = "http://x/connect-authorize?flow=flow_1" }, options);
        var capped = JsonSerializer.SerializeToElement(envelope with { Headless = false }, options);

        Assert.Equal(JsonValueKind.Null, headless.GetProperty("connection_id").ValueKind);
        Assert.Equal(JsonValueKind.Null, headless.GetProperty("credential_id").ValueKind);
        Assert.False(headless.TryGetProperty("connect_url", out _));
        Assert.False(headless.TryGetProperty("flow_id", out _));
        Assert.Equal(409, headless.GetProperty("status").GetInt32());
        Assert.False(ordinary.TryGetProperty("credential_id", out _));
        Assert.Equal("flow_1", ordinary.GetProperty("flow_id").GetString());
        Assert.Equal(
            ["type", "title", "status", "detail", "code", "provider", "connection_id", "required_scopes", "missing_scopes", "headless"],
            capped.EnumerateObject().Select(p => p.Name));
    }
}
