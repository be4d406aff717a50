using System.Net;
using System.Net.Http.Json;
using System.Text;
using System.Text.Json;
using Valet.Tests.Infrastructure;

namespace Valet.Tests.Server;

/// <summary>The admin API over real HTTP: every bad input is a 4xx problem+json with a stable code, never a 500.</summary>
public sealed class AdminApiTests : IAsyncLifetime
{
    private ValetTestServer _server = null!;

    public async Task InitializeAsync() => _server = await ValetTestServer.StartAsync();

    public async Task DisposeAsync() => await _server.DisposeAsync();

    private static async Task<JsonElement> AssertProblemAsync(HttpResponseMessage response, HttpStatusCode status, string code)
    {
        var text = await response.Content.ReadAsStringAsync();
        Assert.True(status == response.StatusCode, $"expected {(int)status}, got {(int)response.StatusCode}: {text}");
        Assert.Equal("application/problem+json", response.Content.Headers.ContentType?.MediaType);
        var body = JsonDocument.Parse(text).RootElement;
        Assert.Equal(code, body.GetProperty("code").GetString());
        Assert.Equal("urn:valet:problem:" + code, body.GetProperty("type").GetString());
        Assert.DoesNotContain("   at ", text, StringComparison.Ordinal);
        return body;
    }

    private static StringContent Json(string raw) => new(raw, Encoding.UTF8, "application/json");

    [Fact]
    public async Task AFieldGivenTwice_IsRefused_AndAWrongTypeNamesItsField()
    {
        using var admin = _server.Client();

        // Last-one-wins would create a key named "b" (or a provider of the second auth_mode): parsers disagree on which copy counts.
        var twice = await AssertProblemAsync(await admin.PostAsync("/v1/orgs/default/keys", Json("""{"name":"a","name":"b","permissions":[]}""")),
            HttpStatusCode.BadRequest, "invalid_json");
        Assert.Contains("given twice", twice.GetProperty("detail").GetString(), StringComparison.Ordinal);
        await AssertProblemAsync(await admin.PutAsync("/v1/providers/dup", Json("""{"auth_mode":"api_key","auth_mode":"basic","api_base_url":"https://api.example.com"}""")),
            HttpStatusCode.BadRequest, "invalid_json");
        Assert.Equal(HttpStatusCode.NotFound, (await admin.GetAsync("/v1/providers/dup")).StatusCode);

        var typed = await AssertProblemAsync(await admin.PostAsync("/v1/orgs/default/keys", Json("""{"name":5}""")), HttpStatusCode.BadRequest, "invalid_json");
        Assert.Contains("at $.name", typed.GetProperty("detail").GetString(), StringComparison.Ordinal);
        Assert.DoesNotContain("System.", typed.GetProperty("detail").GetString(), StringComparison.Ordinal);
    }

    [Fact]
    public async Task UnreadableInput_IsA400_ThatSaysWhatCouldNotBeRead()
    {
        using var admin = _server.Client();

        var query = await AssertProblemAsync(await admin.GetAsync("/v1/flows/nope/wait?timeout=soon"), HttpStatusCode.BadRequest, "invalid_request");
        Assert.Contains("timeout", query.GetProperty("detail").GetString(), StringComparison.Ordinal);
        Assert.Contains("soon", query.GetProperty("detail").GetString(), StringComparison.Ordinal);
        Assert.Contains("whole number", query.GetProperty("detail").GetString(), StringComparison.Ordinal);
        Assert.DoesNotContain("Nullable", query.GetProperty("detail").GetString(), StringComparison.Ordinal); // no .NET type names
        var huge = await AssertProblemAsync(await admin.GetAsync("/v1/flows/nope/wait?timeout=99999999999"), HttpStatusCode.BadRequest, "invalid_request");
        Assert.Contains("must be a whole number from -2147483648 to 2147483647, not \"99999999999\"", huge.GetProperty("detail").GetString(), StringComparison.Ordinal);

        var plain = await admin.PostAsync("/v1/orgs", new StringContent("{\"id\":\"x\"}", Encoding.UTF8, "text/plain"));
        var body = await AssertProblemAsync(plain, HttpStatusCode.UnsupportedMediaType, "unsupported_media_type");
        Assert.Contains("text/plain", body.GetProperty("detail").GetString(), StringComparison.Ordinal);

        // No Content-Type at all: the same code, not a generic one.
        var untyped = new ByteArrayContent("{\"id\":\"x\"}"u8.ToArray());
        await AssertProblemAsync(await admin.PostAsync("/v1/orgs", untyped), HttpStatusCode.UnsupportedMediaType, "unsupported_media_type");
    }

    [Fact]
    public async Task ScopesThatAreNotScopeTokens_NullPermissions_AndAnUnknownDefaultProvider_AreRefused()
    {
        using var admin = _server.Client();

        // RFC 6749 §3.3: a scope has no space, control character, '"' or '\\'. A space would make one scope two at the provider.
        foreach (var scope in new[] { "a b", "a\r\nX-Injected: 1", "quote\"d", "" })
        {
            var connect = await admin.PostAsJsonAsync("/v1/orgs/default/connect", new { provider = "github", scopes = new[] { scope } });
            var problem = await AssertProblemAsync(connect, HttpStatusCode.UnprocessableEntity, "validation_failed");
            Assert.True(problem.GetProperty("errors").TryGetProperty("scopes", out _), problem.ToString());
        }

        var credential = await (await admin.PostAsJsonAsync("/v1/orgs/default/credentials", new { provider = "github", client_id = "c", client_secret = "s" }))
            .Content.ReadFromJsonAsync<JsonElement>();
        var import = await admin.PostAsJsonAsync("/v1/orgs/default/connections/import", new
        {
            provider = "github", credential_id = credential.GetProperty("id").GetString(), access_token = "at", scopes = new[] { "repo user" },
            account = new { id = "1" },
        });
        await AssertProblemAsync(import, HttpStatusCode.UnprocessableEntity, "validation_failed");

        var (keyId, _) = await _server.CreateKeyAsync("default", new { provider = "github" });
        var wiped = await admin.PutAsync($"/v1/keys/{keyId}/permissions", Json("""{"permissions":null}"""));
        await AssertProblemAsync(wiped, HttpStatusCode.UnprocessableEntity, "validation_failed");
        var key = await admin.GetFromJsonAsync<JsonElement>($"/v1/orgs/default/keys");
        Assert.Contains(key.EnumerateArray(), k => k.GetProperty("id").GetString() == keyId && k.GetProperty("permissions").GetArrayLength() == 1);

        await AssertProblemAsync(await admin.PutAsJsonAsync("/v1/orgs/default/defaults/no-such-provider", new { connection_id = "con_x" }),
            HttpStatusCode.NotFound, "unknown_provider");
    }

    [Fact]
    public async Task OversizedChunkedBody_Is413PayloadTooLarge_LikeADeclaredOne()
    {
        using var admin = _server.Client();
        // Just over the 64 KB limit, so the client has written it all before the server stops reading and answers.
        var huge = Encoding.UTF8.GetBytes("""{"id":"big","name":" """ + new string('a', 64 * 1024) + "\"}");
        using var chunked = new StreamContent(new MemoryStream(huge)); // no length: sent chunked
        chunked.Headers.ContentType = new System.Net.Http.Headers.MediaTypeHeaderValue("application/json");
        using var request = new HttpRequestMessage(HttpMethod.Post, "/v1/orgs") { Content = chunked };
        request.Headers.TransferEncodingChunked = true;

        using var response = await admin.SendAsync(request);

        await AssertProblemAsync(response, HttpStatusCode.RequestEntityTooLarge, "payload_too_large");
    }

    [Fact]
    public async Task Healthz_And_OpenApi_And_Reference_AreServed()
    {
        using var anonymous = _server.Client(null);

        Assert.Equal(HttpStatusCode.OK, (await anonymous.GetAsync("/healthz")).StatusCode);
        var openapi = await anonymous.GetFromJsonAsync<JsonElement>("/openapi/v1.json");
        Assert.True(openapi.GetProperty("paths").TryGetProperty("/v1/orgs", out _));
        Assert.True(openapi.GetProperty("paths").TryGetProperty("/v1/connections/{id}/token", out var tokenRoute));
        // A 409 that carries an envelope says what to do with it, for both kinds of org.
        var conflict = tokenRoute.GetProperty("post").GetProperty("responses").GetProperty("409").GetProperty("description").GetString();
        Assert.Contains("`connect_url`", conflict, StringComparison.Ordinal);
        Assert.Contains("`flow_id`", conflict, StringComparison.Ordinal);
        Assert.Contains("`credential_id`", conflict, StringComparison.Ordinal);
        var docs = await anonymous.GetAsync("/docs");
        Assert.Equal(HttpStatusCode.OK, docs.StatusCode);
        Assert.Contains("text/html", docs.Content.Headers.ContentType?.ToString(), StringComparison.Ordinal);
    }

    [Fact]
    public async Task MissingOrWrongToken_Is401Problem()
    {
        using var anonymous = _server.Client(null);
        using var wrong = _server.Client("not-the-admin-token");

        await AssertProblemAsync(await anonymous.GetAsync("/v1/orgs/default"), HttpStatusCode.Unauthorized, "unauthorized");
        await AssertProblemAsync(await wrong.GetAsync("/v1/orgs/default"), HttpStatusCode.Unauthorized, "unauthorized");
        await AssertProblemAsync(await wrong.GetAsync("/v1/orgs/default"), HttpStatusCode.Unauthorized, "unauthorized");
    }

    [Fact]
    public async Task ApiKey_OnAdminRoutes_Is403()
    {
        var (_, key) = await _server.CreateKeyAsync("default");
        using var agent = _server.Client(key);

        await AssertProblemAsync(await agent.GetAsync("/v1/orgs/default"), HttpStatusCode.Forbidden, "forbidden");
        await AssertProblemAsync(await agent.PostAsJsonAsync("/v1/orgs", new { id = "evil" }), HttpStatusCode.Forbidden, "forbidden");
    }

    [Fact]
    public async Task CreateOrg_ValidatesEveryField()
    {
        using var admin = _server.Client();

        var missing = await AssertProblemAsync(await admin.PostAsync("/v1/orgs", Json("{}")), HttpStatusCode.UnprocessableEntity, "validation_failed");
        Assert.True(missing.GetProperty("errors").TryGetProperty("id", out _));
        await AssertProblemAsync(await admin.PostAsync("/v1/orgs", Json("""{"id":"Not A Slug!"}""")), HttpStatusCode.UnprocessableEntity, "validation_failed");
        await AssertProblemAsync(await admin.PostAsync("/v1/orgs", Json("""{"id":"acme","headless":"yes"}""")), HttpStatusCode.BadRequest, "invalid_json");
        await AssertProblemAsync(await admin.PostAsync("/v1/orgs", Json("""{"id":42}""")), HttpStatusCode.BadRequest, "invalid_json");
        await AssertProblemAsync(await admin.PostAsync("/v1/orgs", Json("{not json")), HttpStatusCode.BadRequest, "invalid_json");
        await AssertProblemAsync(await admin.PostAsync("/v1/orgs", Json("[]")), HttpStatusCode.BadRequest, "invalid_json");
    }

    [Fact]
    public async Task NamesWithControlCharacters_AreRefused_ForOrgsKeysImportsAndOperatorConnections()
    {
        using var admin = _server.Client();
        const string control = "must not contain control characters";
        async Task RefusedAsync(string path, string body, string field)
        {
            var problem = await AssertProblemAsync(await admin.PostAsync(path, Json(body)), HttpStatusCode.UnprocessableEntity, "validation_failed");
            Assert.Contains(control, problem.GetProperty("errors").GetProperty(field)[0].GetString(), StringComparison.Ordinal);
        }

        // An escape sequence (colour, clear screen) or a line break in a name is a command to the terminal that lists it.
        await RefusedAsync("/v1/orgs", """{"id":"ctl","name":"a\u001b[31mred"}""", "name");
        await RefusedAsync("/v1/orgs", """{"id":"ctl","name":"line1\nline2"}""", "name");
        await RefusedAsync("/v1/orgs/default/keys", """{"name":"evil\u001b[2Jname","permissions":[]}""", "name");
        var credential = await admin.PostAsync("/v1/orgs/default/credentials", Json("""{"provider":"github","client_id":"Iv1.x","client_secret":"s3cret-value"}"""));
        var credentialId = (await credential.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("id").GetString();
        await RefusedAsync("/v1/orgs/default/connections/import",
            $$$"""{"provider":"github","credential_id":"{{{credentialId}}}","access_token":"gho_x","account":{"id":"1","login":"oct\u0007cat"}}""", "account.login");
        await RefusedAsync("/v1/orgs/default/connections", """{"provider":"anthropic","api_key":"sk-ant-x","account":{"id":"a\tb"}}""", "account.id");

        // A plain name with non-ASCII letters is fine.
        Assert.Equal(HttpStatusCode.Created, (await admin.PostAsync("/v1/orgs", Json("""{"id":"ctl","name":"Zoë & Co — Ops"}"""))).StatusCode);
    }

    [Fact]
    public async Task Orgs_CreateGetPatch_AndConflicts()
    {
        using var admin = _server.Client();

        var created = await admin.PostAsJsonAsync("/v1/orgs", new { id = "acme", name = "Acme", headless = true });
        Assert.Equal(HttpStatusCode.Created, created.StatusCode);
        await AssertProblemAsync(await admin.PostAsJsonAsync("/v1/orgs", new { id = "acme" }), HttpStatusCode.Conflict, "org_exists");
        var org = await admin.GetFromJsonAsync<JsonElement>("/v1/orgs/acme");
        Assert.True(org.GetProperty("headless").GetBoolean());

        var patched = await admin.PatchAsync("/v1/orgs/acme", Json("""{"headless":false}"""));
        Assert.False((await patched.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("headless").GetBoolean());
        await AssertProblemAsync(await admin.PatchAsync("/v1/orgs/acme", Json("{}")), HttpStatusCode.UnprocessableEntity, "validation_failed");
        await AssertProblemAsync(await admin.PatchAsync("/v1/orgs/nope", Json("""{"headless":true}""")), HttpStatusCode.NotFound, "org_not_found");
        await AssertProblemAsync(await admin.GetAsync("/v1/orgs/nope"), HttpStatusCode.NotFound, "org_not_found");
        await AssertProblemAsync(await admin.GetAsync("/v1/orgs/" + new string('x', 300)), HttpStatusCode.NotFound, "org_not_found");
    }

    [Fact]
    public async Task OversizedBody_Is413Problem()
    {
        using var admin = _server.Client();
        var huge = """{"id":"big","name":" """ + new string('a', 200_000) + "\"}";

        await AssertProblemAsync(await admin.PostAsync("/v1/orgs", Json(huge)), HttpStatusCode.RequestEntityTooLarge, "payload_too_large");
    }

    [Fact]
    public async Task UnknownRoute_And_WrongMethod_AreProblems()
    {
        using var admin = _server.Client();

        await AssertProblemAsync(await admin.GetAsync("/v1/nothing-here"), HttpStatusCode.NotFound, "not_found");
        await AssertProblemAsync(await admin.DeleteAsync("/v1/orgs"), HttpStatusCode.MethodNotAllowed, "method_not_allowed");
    }

    [Fact]
    public async Task Credentials_SecretIsWriteOnly_AndInputIsValidated()
    {
        using var admin = _server.Client();

        await AssertProblemAsync(await admin.PostAsJsonAsync("/v1/orgs/default/credentials", new { provider = "nope", client_id = "a", client_secret = "b" }),
            HttpStatusCode.UnprocessableEntity, "validation_failed");
        await AssertProblemAsync(await admin.PostAsJsonAsync("/v1/orgs/default/credentials", new { provider = "github" }),
            HttpStatusCode.UnprocessableEntity, "validation_failed");
        await AssertProblemAsync(await admin.PostAsJsonAsync("/v1/orgs/ghost/credentials", new { provider = "github", client_id = "a", client_secret = "b" }),
            HttpStatusCode.NotFound, "org_not_found");

        var created = await admin.PostAsJsonAsync("/v1/orgs/default/credentials", new { provider = "github", client_id = "Iv1.abc", client_secret = "very-secret-value" });
        var text = await created.Content.ReadAsStringAsync();
        Assert.Equal(HttpStatusCode.Created, created.StatusCode);
        Assert.DoesNotContain("very-secret-value", text, StringComparison.Ordinal);
        var list = await admin.GetStringAsync("/v1/orgs/default/credentials");
        Assert.Contains("Iv1.abc", list, StringComparison.Ordinal);
        Assert.DoesNotContain("very-secret-value", list, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Keys_SecretShownOnce_PermissionsValidated_RevokeWorks()
    {
        using var admin = _server.Client();

        await AssertProblemAsync(await admin.PostAsync("/v1/orgs/default/keys", Json("""{"name":"a","permissions":[{"bogus":"x"}]}""")),
            HttpStatusCode.UnprocessableEntity, "validation_failed");
        await AssertProblemAsync(await admin.PostAsync("/v1/orgs/default/keys", Json("""{"name":"a","permissions":[{"connection":"conn_missing"}]}""")),
            HttpStatusCode.UnprocessableEntity, "validation_failed");
        await AssertProblemAsync(await admin.PostAsync("/v1/orgs/default/keys", Json("""{"name":"a","permissions":"all"}""")),
            HttpStatusCode.UnprocessableEntity, "validation_failed");

        var (id, key) = await _server.CreateKeyAsync("default", new { provider = "github" });
        Assert.StartsWith("vk_", key, StringComparison.Ordinal);
        var list = await admin.GetStringAsync("/v1/orgs/default/keys");
        Assert.Contains(id, list, StringComparison.Ordinal);
        Assert.DoesNotContain(key, list, StringComparison.Ordinal);

        using var agent = _server.Client(key);
        Assert.Equal(HttpStatusCode.OK, (await agent.GetAsync("/v1/bootstrap")).StatusCode);

        var replaced = await admin.PutAsync($"/v1/keys/{id}/permissions", Json("""[{"provider":"gitlab"}]"""));
        Assert.Equal(HttpStatusCode.OK, replaced.StatusCode);
        Assert.Contains("gitlab", await replaced.Content.ReadAsStringAsync(), StringComparison.Ordinal);

        Assert.Equal(HttpStatusCode.NoContent, (await admin.DeleteAsync($"/v1/keys/{id}")).StatusCode);
        await AssertProblemAsync(await agent.GetAsync("/v1/bootstrap"), HttpStatusCode.Unauthorized, "unauthorized");
        await AssertProblemAsync(await admin.DeleteAsync($"/v1/keys/{id}"), HttpStatusCode.NotFound, "key_not_found");

        // A key with the right prefix but a wrong secret is refused too.
        using var forged = _server.Client(key[..^4] + "AAAA");
        await AssertProblemAsync(await forged.GetAsync("/v1/bootstrap"), HttpStatusCode.Unauthorized, "unauthorized");
    }

    [Fact]
    public async Task Providers_ListsCatalog_WithReadiness()
    {
        using var admin = _server.Client();

        var providers = await admin.GetFromJsonAsync<JsonElement>("/v1/providers");

        var ids = providers.EnumerateArray().Select(p => p.GetProperty("id").GetString()).ToList();
        foreach (var required in new[] { "github", "gitlab", "google", "microsoft", "slack", "notion", "linear", "atlassian", "dropbox",
                     "salesforce", "hubspot", "discord", "zoom", "asana", "figma", "spotify" })
        {
            Assert.Contains(required, ids);
        }

        // No platform client is configured: no OAuth provider is ready. (api_key and basic ones need no client.)
        Assert.All(providers.EnumerateArray().Where(p => p.GetProperty("auth_mode").GetString() == "oauth2"),
            p => Assert.False(p.GetProperty("ready").GetBoolean()));
        Assert.All(providers.EnumerateArray().Where(p => p.GetProperty("auth_mode").GetString() is "api_key" or "basic"),
            p => Assert.True(p.GetProperty("ready").GetBoolean()));
    }
}
