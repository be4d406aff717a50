using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.WebUtilities;
using Valet.Core.Flows;
using Valet.Core.OAuth;
using Valet.Tests.Infrastructure;

namespace Valet.Tests.OAuth;

/// <summary>
/// A server whose operator provider <c>quirky</c> answers the token endpoint with the scenario named by the code (or
/// the refresh token) it receives: the answers that used to crash a callback (500, flow stuck in <c>exchanging</c>) or
/// got stored and later failed as a misleading 502.
/// </summary>
public sealed class QuirkyProviderServer : IAsyncLifetime
{
    public static readonly IReadOnlyDictionary<string, object> Answers = new Dictionary<string, object>
    {
        ["huge-expiry"] = new { access_token = "at-huge", refresh_token = "rt-huge", token_type = "Bearer", expires_in = 300000000000 },
        ["crlf-access"] = new { access_token = "at\r\nX-Injected: 1", token_type = "Bearer", expires_in = 3600 },
        ["crlf-refresh"] = new { access_token = "at-ok", refresh_token = "rt\nX-Injected: 1", token_type = "Bearer" },
        ["space-access"] = new { access_token = "at with space", token_type = "Bearer" },
        ["non-ascii-access"] = new { access_token = "at-\u00e9", token_type = "Bearer" },
        ["dpop"] = new { access_token = "at-dpop", token_type = "DPoP" },
        ["mac"] = new { access_token = "at-mac", token_type = "mac" },
    };

    private FakeProvider _provider = null!;

    /// <summary>The tokens the revocation endpoint received, in order.</summary>
    public System.Collections.Concurrent.ConcurrentQueue<string> Revocations { get; } = new();

    public ValetTestServer Server { get; private set; } = null!;

    public async Task InitializeAsync()
    {
        _provider = await FakeProvider.StartAsync(app =>
        {
            app.MapPost("/token", async (HttpRequest request) =>
            {
                var form = await request.ReadFormAsync();
                var scenario = form["grant_type"] == "refresh_token" ? form["refresh_token"].ToString() : form["code"].ToString();
                return Answers.TryGetValue(scenario, out var answer) ? Results.Json(answer) : Results.Json(new { error = "invalid_grant" }, statusCode: 400);
            });
            app.MapGet("/userinfo", () => Results.Json(new { sub = "user-" + Guid.NewGuid().ToString("N") }));

            // As Google and Salesforce revoke: a refresh token ends the grant and its access tokens with it, and a token
            // that is no longer valid is a 400 invalid_token (not RFC 7009's 200).
            app.MapPost("/revoke", async (HttpRequest request) =>
            {
                var token = (await request.ReadFormAsync())["token"].ToString();
                Revocations.Enqueue(token);
                return token.StartsWith("rt-", StringComparison.Ordinal)
                    ? Results.Ok()
                    : Results.Json(new { error = "invalid_token", error_description = "Token expired or revoked" }, statusCode: 400);
            });
        });
        var baseUrl = _provider.BaseUri.AbsoluteUri.TrimEnd('/');
        Server = await ValetTestServer.StartAsync(new Dictionary<string, string?>
        {
            ["Providers:quirky:AuthorizationEndpoint"] = baseUrl + "/authorize",
            ["Providers:quirky:TokenEndpoint"] = baseUrl + "/token",
            ["Providers:quirky:UserInfoEndpoint"] = baseUrl + "/userinfo",
            ["Providers:quirky:RevocationEndpoint"] = baseUrl + "/revoke",
            ["Providers:quirky:ApiBaseUrl"] = baseUrl + "/api",
            ["Providers:quirky:ClientId"] = "quirky-client",
            ["Providers:quirky:ClientSecret"] = "quirky-secret",
            ["Providers:quirky:Scopes"] = "read",
            ["Providers:quirky:AllowPrivateNetwork"] = "true",
        });
    }

    public async Task DisposeAsync()
    {
        await Server.DisposeAsync();
        await _provider.DisposeAsync();
    }
}

public sealed class ProviderAnswerServerTests(QuirkyProviderServer fixture) : IClassFixture<QuirkyProviderServer>
{
    private ValetTestServer Server => fixture.Server;

    public static TheoryData<string, string> RefusedAnswers => new()
    {
        { "crlf-access", TokenResponseReader.InvalidTokenValue },
        { "crlf-refresh", TokenResponseReader.InvalidTokenValue },
        { "space-access", TokenResponseReader.InvalidTokenValue },
        { "non-ascii-access", TokenResponseReader.InvalidTokenValue },
        { "dpop", TokenResponseReader.UnsupportedTokenType },
        { "mac", TokenResponseReader.UnsupportedTokenType },
    };

    private async Task<(string FlowId, HttpResponseMessage Callback)> CallbackAsync(string code)
    {
        using var admin = Server.Client();
        var started = await (await admin.PostAsJsonAsync("/v1/orgs/default/connect", new { provider = "quirky" })).Content.ReadFromJsonAsync<JsonElement>();
        var state = QueryHelpers.ParseQuery(new Uri(started.GetProperty("authorize_url").GetString()!).Query)["state"].ToString();
        using var anonymous = Server.Client(null);
        var callback = await anonymous.GetAsync($"/oauth/callback?code={Uri.EscapeDataString(code)}&state={Uri.EscapeDataString(state)}");
        return (started.GetProperty("flow_id").GetString()!, callback);
    }

    [Fact]
    public async Task Callback_HugeExpiresIn_IsClamped_AndTheFlowCompletes()
    {
        var before = DateTimeOffset.UtcNow;

        var (flowId, callback) = await CallbackAsync("huge-expiry");

        Assert.Equal(HttpStatusCode.OK, callback.StatusCode);
        Assert.Contains("data-success=\"true\"", await callback.Content.ReadAsStringAsync(), StringComparison.Ordinal);
        using var admin = Server.Client();
        var flow = await admin.GetFromJsonAsync<JsonElement>($"/v1/flows/{flowId}");
        Assert.Equal("complete", flow.GetProperty("status").GetString());
        var connection = await admin.GetFromJsonAsync<JsonElement>($"/v1/connections/{flow.GetProperty("connection_id").GetString()}");
        var expiresAt = connection.GetProperty("expires_at").GetDateTimeOffset();
        Assert.InRange(expiresAt, before + TokenRules.MaxLifetime - TimeSpan.FromMinutes(1), DateTimeOffset.UtcNow + TokenRules.MaxLifetime);
    }

    [Theory]
    [MemberData(nameof(RefusedAnswers))]
    public async Task Callback_UnsendableTokenOrForeignTokenType_FailsTheFlowCleanly_NothingStored(string scenario, string code)
    {
        var (flowId, callback) = await CallbackAsync(scenario);

        Assert.Equal(HttpStatusCode.OK, callback.StatusCode); // the clean result page, as for any failed flow
        var page = await callback.Content.ReadAsStringAsync();
        Assert.Contains("data-success=\"false\"", page, StringComparison.Ordinal);
        Assert.Contains(FlowErrors.ProviderUnavailable, page, StringComparison.Ordinal);
        using var admin = Server.Client();
        var flow = await admin.GetFromJsonAsync<JsonElement>($"/v1/flows/{flowId}");
        Assert.Equal("error", flow.GetProperty("status").GetString());
        Assert.Equal(FlowErrors.ProviderUnavailable, flow.GetProperty("error").GetString());
        Assert.False(flow.TryGetProperty("connection_id", out _));
        Assert.Contains(Server.Logs.Lines, l => l.Contains(flowId, StringComparison.Ordinal) && l.Contains(code, StringComparison.Ordinal));
    }

    [Theory]
    [MemberData(nameof(RefusedAnswers))]
    public async Task Refresh_UnsendableTokenOrForeignTokenType_IsProviderUnavailable_ConnectionKeptAsItWas(string scenario, string code)
    {
        var id = await ImportExpiredAsync(refreshToken: scenario, account: "refresh-" + scenario);
        using var service = Server.Client(Server.ServiceToken);

        var token = await service.PostAsync($"/v1/connections/{id}/token", null);

        Assert.Equal(HttpStatusCode.BadGateway, token.StatusCode);
        Assert.Equal("provider_unavailable", (await token.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("code").GetString());
        using var admin = Server.Client();
        var connection = await admin.GetFromJsonAsync<JsonElement>($"/v1/connections/{id}");
        Assert.Equal("active", connection.GetProperty("status").GetString());
        // The operator learns why from the log (3103) and the connection's history (the audit trail), not only "transient".
        Assert.Contains(Server.Logs.Lines, l => l.Contains(id, StringComparison.Ordinal) && l.Contains("transient: " + code, StringComparison.Ordinal));
        var audit = await admin.GetFromJsonAsync<JsonElement>("/v1/orgs/default/audit?limit=500");
        Assert.Contains(audit.GetProperty("events").EnumerateArray(), e => e.GetProperty("connection_id").GetString() == id
            && e.GetProperty("kind").GetString() == "connection.refresh_failed" && e.GetProperty("detail").GetString() == "transient: " + code);
    }

    [Fact]
    public async Task Refresh_HugeExpiresIn_IsClamped()
    {
        var id = await ImportExpiredAsync(refreshToken: "huge-expiry", account: "refresh-huge");
        using var service = Server.Client(Server.ServiceToken);

        var token = await service.PostAsync($"/v1/connections/{id}/token", null);

        Assert.Equal(HttpStatusCode.OK, token.StatusCode);
        var body = await token.Content.ReadFromJsonAsync<JsonElement>();
        Assert.Equal("at-huge", body.GetProperty("access_token").GetString());
        Assert.True(body.GetProperty("expires_at").GetDateTimeOffset() <= DateTimeOffset.UtcNow + TokenRules.MaxLifetime);
    }

    public static TheoryData<string, object> RefusedImports => new()
    {
        { "invalid_token_value", new { access_token = "at\r\nX-Injected: 1" } },
        { "invalid_token_value", new { access_token = "a t" } },
        { "invalid_token_value", new { access_token = "at-\u00e9" } },
        { "invalid_token_value", new { access_token = "at", refresh_token = "rt\nX" } },
        { "unsupported_token_type", new { access_token = "at", token_type = "DPoP" } },
        { "unsupported_token_type", new { access_token = "at", token_type = "mac" } },
        { "unsupported_token_type", new { access_token = "at", token_type = "Bearer\r\nX-Injected: 1" } },
        { "validation_failed", new { access_token = "at", expires_in = 300000000000 } },
        { "validation_failed", new { access_token = "at", expires_at = "9999-12-31T00:00:00Z" } },
        { "validation_failed", new { access_token = "at", expires_at = "0001-01-01T00:00:00Z" } },
    };

    [Fact]
    public async Task Import_ATokenWithNul_IsRefusedBeforeBinding_AsEveryJsonBodyIs_NothingStored()
    {
        // \u0000 in any JSON text value is refused before the body is read into a request (docs/decisions.md, "Bad input at
        // the edges"): 400 invalid_json, not the import's own 422.
        var account = "import-" + Guid.NewGuid().ToString("N");
        using var admin = Server.Client();

        var response = await admin.PostAsJsonAsync("/v1/orgs/default/connections/import", await ImportBodyAsync(new { access_token = "at\u0000" }, account));

        Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
        Assert.Equal("invalid_json", (await response.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("code").GetString());
        var all = await admin.GetFromJsonAsync<JsonElement>("/v1/orgs/default/connections");
        Assert.DoesNotContain(all.EnumerateArray(), c => c.GetProperty("account").GetProperty("id").GetString() == account);
    }

    [Theory]
    [MemberData(nameof(RefusedImports))]
    public async Task Import_UnsendableTokens_ForeignTokenTypes_AndOutOfRangeLifetimes_Are422_NothingStored(string expectedCode, object fields)
    {
        var account = "import-" + Guid.NewGuid().ToString("N");
        using var admin = Server.Client();

        var response = await admin.PostAsJsonAsync("/v1/orgs/default/connections/import", await ImportBodyAsync(fields, account));

        Assert.Equal(HttpStatusCode.UnprocessableEntity, response.StatusCode);
        Assert.Equal(expectedCode, (await response.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("code").GetString());
        var all = await admin.GetFromJsonAsync<JsonElement>("/v1/orgs/default/connections");
        Assert.DoesNotContain(all.EnumerateArray(), c => c.GetProperty("account").GetProperty("id").GetString() == account);
    }

    [Theory]
    [InlineData(null)]
    [InlineData("bearer")]
    [InlineData("BEARER")]
    public async Task Import_BearerInAnyCase_OrNoTokenType_IsStoredAsBearer(string? tokenType)
    {
        using var admin = Server.Client();
        var body = await ImportBodyAsync(new { access_token = "at-import", token_type = tokenType }, "bearer-" + (tokenType ?? "none"));
        var response = await admin.PostAsJsonAsync("/v1/orgs/default/connections/import", body);
        Assert.True(response.IsSuccessStatusCode, await response.Content.ReadAsStringAsync());
        var id = (await response.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("id").GetString();
        using var service = Server.Client(Server.ServiceToken);

        var token = await (await service.PostAsync($"/v1/connections/{id}/token", null)).Content.ReadFromJsonAsync<JsonElement>();

        Assert.Equal("Bearer", token.GetProperty("token_type").GetString());
    }

    [Fact]
    public async Task Disconnect_RefreshTokenRevoked_IsRevoked_EvenWhenTheAccessTokenIsThenRefusedAsAlreadyInvalid()
    {
        var id = await ImportExpiredAsync(refreshToken: "rt-cascade", account: "revoke-cascade");
        using var admin = Server.Client();

        var deleted = await (await admin.DeleteAsync($"/v1/connections/{id}")).Content.ReadFromJsonAsync<JsonElement>();

        Assert.True(deleted.GetProperty("revoked").GetBoolean()); // was false: the access token's 400 was ANDed in
        Assert.Equal(["rt-cascade", "expired-at"], fixture.Revocations.Where(t => t is "rt-cascade" or "expired-at"));
        var audit = await admin.GetFromJsonAsync<JsonElement>("/v1/orgs/default/audit?limit=500");
        Assert.Contains(audit.GetProperty("events").EnumerateArray(), e => e.GetProperty("connection_id").GetString() == id
            && e.GetProperty("kind").GetString() == "connection.deleted" && e.GetProperty("detail").GetString() == "revoked");
    }

    private async Task<string> CredentialAsync()
    {
        using var admin = Server.Client();
        var credential = await (await admin.PostAsJsonAsync("/v1/orgs/default/credentials", new { provider = "quirky", client_id = "c", client_secret = "s" }))
            .Content.ReadFromJsonAsync<JsonElement>();
        return credential.GetProperty("id").GetString()!;
    }

    private async Task<Dictionary<string, object?>> ImportBodyAsync(object fields, string account)
    {
        var body = JsonSerializer.Deserialize<Dictionary<string, object?>>(JsonSerializer.Serialize(fields))!;
        body["provider"] = "quirky";
        body["credential_id"] = await CredentialAsync();
        body["account"] = new { id = account };
        return body;
    }

    private async Task<string> ImportExpiredAsync(string refreshToken, string account)
    {
        using var admin = Server.Client();
        var body = await ImportBodyAsync(new { access_token = "expired-at", refresh_token = refreshToken, expires_in = 0 }, account);
        var response = await admin.PostAsJsonAsync("/v1/orgs/default/connections/import", body);
        Assert.True(response.IsSuccessStatusCode, await response.Content.ReadAsStringAsync());
        return (await response.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("id").GetString()!;
    }
}
