using Microsoft.Extensions.DependencyInjection;
using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using Valet.Tests.Dashboard;
using Valet.Tests.Infrastructure;

namespace Valet.Tests.Server;

/// <summary>
/// The agent lane (src/Valet.Server/Http/AgentLane.cs) serves the token routes without the generic pipeline: every answer
/// must be the one the routed endpoint gives — success, envelopes, 401 with its challenge, 403 for an operator, 405 — and the lane's 401s must feed the failed-authentication limit like any other.
/// </summary>
public sealed class AgentLaneTests
{
    /// <summary>
    /// With an <see cref="Microsoft.AspNetCore.Http.IHttpContextAccessor"/> registered, ASP.NET Core stops reusing
    /// HttpContext objects and allocates a new context, request, response and connection info for every request of every
    /// route (about 0.6 KB, plus an async-local write). The MCP tools get their request another way (McpHttpRequest).
    /// </summary>
    [Fact]
    public async Task TheHostRegistersNoHttpContextAccessor_SoContextsAreReused()
    {
        await using var server = await ValetTestServer.StartAsync();
        Assert.Null(server.Services.GetService(typeof(Microsoft.AspNetCore.Http.IHttpContextAccessor)));
    }

    [Fact]
    public async Task TokenRoutes_ABodyOfAnotherMediaType_Is415_AsTheDocumentSays_ABodyWithoutOneIsStillJson()
    {
        await using var provider = await FakeOAuthServer.StartAsync();
        await using var server = await ValetTestServer.StartAsync(provider.ProviderSettings("acme"));
        using var admin = server.Client();
        var connectionId = await ImportAsync(admin);
        var (_, key) = await server.CreateKeyAsync("default", new { connection = connectionId });
        using var agent = server.Client(key);

        using var plain = await agent.PostAsync($"/v1/connections/{connectionId}/token",
            new StringContent("""{"scopes":[]}""", System.Text.Encoding.UTF8, "text/plain"));
        Assert.Equal(HttpStatusCode.UnsupportedMediaType, plain.StatusCode);
        Assert.Equal("unsupported_media_type", (await plain.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("code").GetString());

        var untyped = new ByteArrayContent("""{"scopes":[]}"""u8.ToArray());
        using var noType = await agent.PostAsync($"/v1/connections/{connectionId}/token", untyped);
        Assert.Equal(HttpStatusCode.OK, noType.StatusCode);

        // The schema says scopes is nullable: null asks for nothing in particular. A field given twice is refused.
        using var nullScopes = await agent.PostAsync($"/v1/connections/{connectionId}/token",
            new StringContent("""{"scopes":null}""", System.Text.Encoding.UTF8, "application/json"));
        Assert.Equal(HttpStatusCode.OK, nullScopes.StatusCode);
        using var twice = await agent.PostAsync($"/v1/connections/{connectionId}/token",
            new StringContent("""{"scopes":["read"],"scopes":[]}""", System.Text.Encoding.UTF8, "application/json"));
        Assert.Equal(HttpStatusCode.BadRequest, twice.StatusCode);
        Assert.Equal("invalid_json", (await twice.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("code").GetString());
    }

    [Fact]
    public async Task TokenRoutes_AnswerThroughTheLaneAsThroughRouting()
    {
        await using var provider = await FakeOAuthServer.StartAsync();
        await using var server = await ValetTestServer.StartAsync(provider.ProviderSettings("acme"));
        using var admin = server.Client();
        var connectionId = await ImportAsync(admin);
        var (_, key) = await server.CreateKeyAsync("default", new { connection = connectionId }, new { provider = "acme" });

        using var agent = server.Client(key);
        var byConnection = await agent.PostAsync($"/v1/connections/{connectionId}/token", null);
        Assert.Equal(HttpStatusCode.OK, byConnection.StatusCode);
        Assert.Equal("at-imported", (await byConnection.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("access_token").GetString());
        // Route literals match case-insensitively, as routing's do.
        Assert.Equal(HttpStatusCode.OK, (await agent.PostAsync($"/V1/Connections/{connectionId}/Token", null)).StatusCode);
        var unknown = await agent.PostAsync("/v1/connections/conn_nope/token", null);
        Assert.Equal(HttpStatusCode.NotFound, unknown.StatusCode);
        Assert.Equal("connection_not_found", await CodeAsync(unknown));
        var byProvider = await agent.PostAsync("/v1/providers/acme/token", null);
        Assert.Equal(HttpStatusCode.OK, byProvider.StatusCode);
        var scoped = await agent.PostAsJsonAsync($"/v1/connections/{connectionId}/token", new { scopes = new[] { "admin" } });
        Assert.Equal(HttpStatusCode.Conflict, scoped.StatusCode);
        Assert.Equal("missing_scopes", await CodeAsync(scoped));
        var badJson = await agent.PostAsync($"/v1/connections/{connectionId}/token", new StringContent("{", System.Text.Encoding.UTF8, "application/json"));
        Assert.Equal(HttpStatusCode.BadRequest, badJson.StatusCode);
        Assert.Equal("invalid_json", await CodeAsync(badJson));

        // A forged key: 401 with the Bearer challenge, as the scheme answers.
        using var forged = server.Client(key + "x");
        var unauthorized = await forged.PostAsync($"/v1/connections/{connectionId}/token", null);
        Assert.Equal(HttpStatusCode.Unauthorized, unauthorized.StatusCode);
        Assert.Equal("Bearer", unauthorized.Headers.WwwAuthenticate.Single().Scheme);
        Assert.Equal("error=\"invalid_token\"", unauthorized.Headers.WwwAuthenticate.Single().Parameter); // RFC 6750 §3.1: a token was sent
        Assert.Equal("unauthorized", await CodeAsync(unauthorized));

        // No header at all, the operator token, a wrong method: what the routed endpoint answers.
        using var nobody = server.Client(bearer: null);
        var anonymous = await nobody.PostAsync($"/v1/connections/{connectionId}/token", null);
        Assert.Equal(HttpStatusCode.Unauthorized, anonymous.StatusCode);
        Assert.Equal("Bearer", anonymous.Headers.WwwAuthenticate.Single().Scheme);
        Assert.Null(anonymous.Headers.WwwAuthenticate.Single().Parameter); // none was sent: just the scheme
        var operatorCall = await admin.PostAsync($"/v1/connections/{connectionId}/token", null);
        Assert.Equal(HttpStatusCode.Forbidden, operatorCall.StatusCode);
        Assert.Equal("forbidden", await CodeAsync(operatorCall));
        Assert.Equal(HttpStatusCode.MethodNotAllowed, (await agent.GetAsync($"/v1/connections/{connectionId}/token")).StatusCode);

        // A dashboard session (cookie, no Authorization header) takes the pipeline, where agent routes authenticate bearers only.
        using var browser = SessionKit.Client(server.BaseUrl);
        var cookie = SessionKit.SetCookie(await SessionKit.SignInAsync(browser)).Split(';')[0];
        using var sessionCall = new HttpRequestMessage(HttpMethod.Post, $"/v1/connections/{connectionId}/token");
        sessionCall.Headers.Add("Cookie", cookie);
        Assert.Equal(HttpStatusCode.Unauthorized, (await browser.SendAsync(sessionCall)).StatusCode);
    }

    [Fact]
    public async Task ForgedKeysOnTheTokenRoute_CountAsFailedAuthentications_AndLockTheAddressOut()
    {
        await using var server = await ValetTestServer.StartAsync(new Dictionary<string, string?>
        {
            ["RateLimits:FailuresPerMinute"] = "1",
            ["RateLimits:FailureBurst"] = "3",
        });
        using var forged = server.Client("vk_forged_0123456789abcdefghijklmnopqrstuvwxyz");
        var statuses = new List<HttpStatusCode>();
        for (var i = 0; i < 5; i++)
        {
            statuses.Add((await forged.PostAsync("/v1/connections/conn_x/token", null)).StatusCode);
        }

        Assert.Equal([HttpStatusCode.Unauthorized, HttpStatusCode.Unauthorized, HttpStatusCode.Unauthorized, HttpStatusCode.TooManyRequests,
            HttpStatusCode.TooManyRequests], statuses);
    }

    [Fact]
    public async Task TokenRoute_OverHttp2_ReadsAScopesBodyThatHasNoContentLength_AndLimitsItsSize()
    {
        // HTTP/2 with prior knowledge (h2c): a body may come with neither Content-Length nor Transfer-Encoding (RFC 9113
        // §8.1.1). Such a scopes requirement used to be read as absent, and a token came back for a scope it lacks.
        await using var provider = await FakeOAuthServer.StartAsync();
        var settings = new Dictionary<string, string?>(provider.ProviderSettings("acme")) { ["Kestrel:EndpointDefaults:Protocols"] = "Http2" };
        await using var server = await ValetTestServer.StartAsync(settings);
        using var admin = new HttpClient { BaseAddress = server.BaseUrl, DefaultRequestVersion = HttpVersion.Version20,
            DefaultVersionPolicy = HttpVersionPolicy.RequestVersionExact };
        admin.DefaultRequestHeaders.Authorization = new System.Net.Http.Headers.AuthenticationHeaderValue("Bearer", ValetTestServer.AdminToken);
        var connectionId = await ImportAsync(admin);
        var created = await admin.PostAsJsonAsync("/v1/orgs/default/keys", new { name = "agent", permissions = new[] { new { connection = connectionId } } });
        var key = (await created.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("key").GetString()!;
        using var agent = new HttpClient { BaseAddress = server.BaseUrl, DefaultRequestVersion = HttpVersion.Version20,
            DefaultVersionPolicy = HttpVersionPolicy.RequestVersionExact };
        agent.DefaultRequestHeaders.Authorization = new System.Net.Http.Headers.AuthenticationHeaderValue("Bearer", key);

        static HttpContent Streamed(string json)
        {
            var content = new StreamContent(new NoLengthStream(System.Text.Encoding.UTF8.GetBytes(json)));
            content.Headers.ContentType = new System.Net.Http.Headers.MediaTypeHeaderValue("application/json");
            return content;
        }

        using var scoped = await agent.PostAsync($"/v1/connections/{connectionId}/token", Streamed("{\"scopes\":[\"admin\"]}"));
        Assert.Equal(HttpVersion.Version20, scoped.Version);
        Assert.Null(scoped.RequestMessage!.Content!.Headers.ContentLength);
        Assert.Equal(HttpStatusCode.Conflict, scoped.StatusCode);
        Assert.Equal("missing_scopes", await CodeAsync(scoped));

        using var held = await agent.PostAsync($"/v1/connections/{connectionId}/token", Streamed("{\"scopes\":[\"read\"]}"));
        Assert.Equal(HttpStatusCode.OK, held.StatusCode);
        using var none = await agent.PostAsync($"/v1/connections/{connectionId}/token", null);
        Assert.Equal(HttpStatusCode.OK, none.StatusCode);
        using var empty = await agent.PostAsync($"/v1/connections/{connectionId}/token", Streamed(""));
        Assert.Equal(HttpStatusCode.OK, empty.StatusCode);

        // The lane answers before the JSON routes' body limit is set: the token routes set it themselves.
        using var huge = await agent.PostAsync($"/v1/connections/{connectionId}/token", Streamed("{\"scopes\":[\"" + new string('a', 70_000) + "\"]}"));
        Assert.Equal(HttpStatusCode.RequestEntityTooLarge, huge.StatusCode);
        Assert.Equal("payload_too_large", await CodeAsync(huge));
    }

    /// <summary>A readable stream that does not tell its length, so HttpClient sends no Content-Length.</summary>
    private sealed class NoLengthStream(byte[] bytes) : MemoryStream(bytes)
    {
        public override bool CanSeek => false;
    }

    [Fact]
    public async Task ADisconnect_DuringARefresh_RevokesTheRefreshTokenTheRefreshLeavesBehind()
    {
        // A refresh in flight holds the connection's lock until it stores its answer (a rotated refresh token). A
        // disconnect that read the row before then revoked the spent token and left the new grant live at the provider.
        await using var provider = await FakeOAuthServer.StartAsync();
        await using var server = await ValetTestServer.StartAsync(provider.ProviderSettings("acme"));
        using var admin = server.Client();
        var connectionId = await ImportAsync(admin);
        var locks = server.Services.GetRequiredService<Valet.Core.Stores.IConnectionLocks>();

        var refreshing = await locks.AcquireAsync(connectionId, CancellationToken.None);
        var disconnect = admin.DeleteAsync($"/v1/connections/{connectionId}");
        await Task.Delay(500);
        Assert.False(disconnect.IsCompleted, "the disconnect must wait for the refresh holding the lock");
        await refreshing!.CommitAsync(refreshing.Connection with
        {
            AccessToken = new Valet.Core.Domain.Secret("at-rotated"), RefreshToken = new Valet.Core.Domain.Secret("rt-rotated"),
        }, CancellationToken.None);

        using var done = await disconnect.WaitAsync(TimeSpan.FromSeconds(10));
        Assert.Equal(HttpStatusCode.OK, done.StatusCode);
        Assert.True((await done.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("revoked").GetBoolean());
        Assert.Equal(["rt-rotated", "at-rotated"], provider.Revoked.ToArray());
    }

    private static async Task<string> ImportAsync(HttpClient admin)
    {
        var credential = await (await admin.PostAsJsonAsync("/v1/orgs/default/credentials",
            new { provider = "acme", client_id = "acme-client", client_secret = "acme-secret" })).Content.ReadFromJsonAsync<JsonElement>();
        var imported = await admin.PostAsJsonAsync("/v1/orgs/default/connections/import", new
        {
            provider = "acme",
            credential_id = credential.GetProperty("id").GetString(),
            access_token = "at-imported",
            refresh_token = "rt-imported",
            expires_in = 3600,
            scopes = new[] { "read" },
            account = new { id = "user-1" },
        });
        Assert.Equal(HttpStatusCode.Created, imported.StatusCode);
        return (await imported.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("id").GetString()!;
    }

    private static async Task<string?> CodeAsync(HttpResponseMessage response) =>
        (await response.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("code").GetString();
}
