using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using Valet.Tests.Infrastructure;

namespace Valet.Tests.Connect;

/// <summary>SPEC §4 import: the validation matrix and the upsert rules.</summary>
public sealed class ImportTests : IAsyncLifetime
{
    private FakeOAuthServer _provider = null!;
    private ValetTestServer _server = null!;
    private HttpClient _admin = null!;
    private string _credential = null!;

    public async Task InitializeAsync()
    {
        _provider = await FakeOAuthServer.StartAsync();
        var settings = _provider.ProviderSettings("acme");
        foreach (var (k, v) in _provider.ProviderSettings("other"))
        {
            settings[k] = v;
        }

        _server = await ValetTestServer.StartAsync(settings);
        _admin = _server.Client();
        await _admin.PostAsJsonAsync("/v1/orgs", new { id = "beta" });
        _credential = await CredentialAsync("default", "acme");
    }

    public async Task DisposeAsync()
    {
        _admin.Dispose();
        await _server.DisposeAsync();
        await _provider.DisposeAsync();
    }

    private async Task<string> CredentialAsync(string org, string provider) =>
        (await (await _admin.PostAsJsonAsync($"/v1/orgs/{org}/credentials", new { provider, client_id = "c-" + provider, client_secret = "s" }))
            .Content.ReadFromJsonAsync<JsonElement>()).GetProperty("id").GetString()!;

    private async Task<(HttpStatusCode Status, JsonElement Body)> ImportAsync(object body, string org = "default")
    {
        var response = await _admin.PostAsJsonAsync($"/v1/orgs/{org}/connections/import", body);
        return (response.StatusCode, await response.Content.ReadFromJsonAsync<JsonElement>());
    }

    [Fact]
    public async Task CredentialPin_IsRequired_Known_AndOfThisOrgAndProvider()
    {
        var account = new { id = "u1" };

        var (missing, missingBody) = await ImportAsync(new { provider = "acme", access_token = "t", account });
        var (unknown, _) = await ImportAsync(new { provider = "acme", credential_id = "cred_nope", access_token = "t", account });
        var (otherOrg, otherOrgBody) = await ImportAsync(new { provider = "acme", credential_id = await CredentialAsync("beta", "acme"), access_token = "t", account });
        var (otherProvider, _) = await ImportAsync(new { provider = "acme", credential_id = await CredentialAsync("default", "other"), access_token = "t", account });

        Assert.Equal(HttpStatusCode.BadRequest, missing);
        Assert.Equal("credential_required", missingBody.GetProperty("code").GetString());
        Assert.Equal(HttpStatusCode.NotFound, unknown);
        Assert.Equal(HttpStatusCode.UnprocessableEntity, otherOrg);
        Assert.Equal("credential_mismatch", otherOrgBody.GetProperty("code").GetString());
        Assert.Equal(HttpStatusCode.UnprocessableEntity, otherProvider);
    }

    [Fact]
    public async Task BadFields_Are422_WithEveryProblem()
    {
        var (status, body) = await ImportAsync(new { provider = "acme", credential_id = _credential, expires_in = -5, expires_at = DateTimeOffset.UtcNow, scopes = new[] { "" } });

        Assert.Equal(HttpStatusCode.UnprocessableEntity, status);
        var errors = body.GetProperty("errors");
        foreach (var field in new[] { "access_token", "account.id", "expires_in", "scopes" })
        {
            Assert.True(errors.TryGetProperty(field, out _), field + " in " + errors);
        }

        var (wrongType, _) = await ImportAsync(new { provider = "acme", credential_id = _credential, access_token = 42 });
        Assert.Equal(HttpStatusCode.BadRequest, wrongType);
    }

    [Fact]
    public async Task Upsert_IsIdempotent_TokenOnlyReimportKeepsExpiryAndScopes_OmittedScopesAreUnknown()
    {
        var expires = DateTimeOffset.UtcNow.AddHours(2);
        var (created, first) = await ImportAsync(new
        {
            provider = "acme", credential_id = _credential, access_token = "a1", refresh_token = "r1", expires_at = expires, scopes = new[] { "read" },
            account = new { id = "u1", login = "user1" },
        });
        var (updated, second) = await ImportAsync(new { provider = "acme", credential_id = _credential, access_token = "a2", account = new { id = "u1" } });
        var (_, unknownScopes) = await ImportAsync(new { provider = "acme", credential_id = _credential, access_token = "b1", account = new { id = "u2" } });

        Assert.Equal(HttpStatusCode.Created, created);
        Assert.Equal(HttpStatusCode.OK, updated);
        Assert.Equal(first.GetProperty("id").GetString(), second.GetProperty("id").GetString());
        Assert.Equal(first.GetProperty("expires_at").GetDateTimeOffset(), second.GetProperty("expires_at").GetDateTimeOffset());
        Assert.Equal(["read"], second.GetProperty("scopes").EnumerateArray().Select(s => s.GetString()));
        Assert.True(second.GetProperty("has_refresh_token").GetBoolean());
        Assert.Equal("user1", second.GetProperty("account").GetProperty("login").GetString());
        Assert.False(unknownScopes.TryGetProperty("scopes", out _));

        // Unknown scopes never block a call.
        var (_, key) = await _server.CreateKeyAsync("default", new { connection = unknownScopes.GetProperty("id").GetString() });
        using var agent = _server.Client(key);
        var token = await agent.PostAsJsonAsync($"/v1/connections/{unknownScopes.GetProperty("id").GetString()}/token", new { scopes = new[] { "anything" } });
        Assert.Equal(HttpStatusCode.OK, token.StatusCode);
    }

    [Fact]
    public async Task AJwtAccessToken_ImportedWithoutAnExpiry_ExpiresAtItsExp()
    {
        var exp = DateTimeOffset.FromUnixTimeSeconds(DateTimeOffset.UtcNow.AddMinutes(45).ToUnixTimeSeconds());
        var jwt = "eyJhbGciOiJIUzI1NiJ9." + System.Buffers.Text.Base64Url.EncodeToString(
            System.Text.Encoding.UTF8.GetBytes($$"""{"sub":"u9","exp":{{exp.ToUnixTimeSeconds()}}}""")) + ".c2ln";

        var (status, body) = await ImportAsync(new { provider = "acme", credential_id = _credential, access_token = jwt, account = new { id = "u9" } });
        var (_, opaque) = await ImportAsync(new { provider = "acme", credential_id = _credential, access_token = "opaque", account = new { id = "u10" } });

        Assert.Equal(HttpStatusCode.Created, status);
        Assert.Equal(exp, body.GetProperty("expires_at").GetDateTimeOffset());
        Assert.False(opaque.TryGetProperty("expires_at", out var none) && none.ValueKind != JsonValueKind.Null);
    }

    [Fact]
    public async Task WideningScopes_WithoutANewRefreshToken_IsRefused()
    {
        await ImportAsync(new { provider = "acme", credential_id = _credential, access_token = "a1", refresh_token = "r1", scopes = new[] { "read" }, account = new { id = "w1" } });

        var (widened, body) = await ImportAsync(new { provider = "acme", credential_id = _credential, access_token = "a2", scopes = new[] { "read", "write" }, account = new { id = "w1" } });
        var (narrowed, _) = await ImportAsync(new { provider = "acme", credential_id = _credential, access_token = "a3", scopes = new[] { "read" }, account = new { id = "w1" } });
        var (withRefresh, _) = await ImportAsync(new
        {
            provider = "acme", credential_id = _credential, access_token = "a4", refresh_token = "r2", scopes = new[] { "read", "write" }, account = new { id = "w1" },
        });

        Assert.Equal(HttpStatusCode.BadRequest, widened);
        Assert.Equal("scopes_widened_without_refresh_token", body.GetProperty("code").GetString());
        Assert.Equal(HttpStatusCode.OK, narrowed);
        Assert.Equal(HttpStatusCode.OK, withRefresh);
    }

    [Fact]
    public async Task Cli_Import_ReadsTheBodyFromStdin()
    {
        var env = new Dictionary<string, string?> { ["VALET_URL"] = _server.BaseUrl.ToString(), ["VALET_DATA_DIR"] = _server.DataDirectory };
        var body = JsonSerializer.Serialize(new { provider = "acme", credential_id = _credential, access_token = "cli-token", account = new { id = "cli-user" } });

        var result = await CliRunner.RunAsync(["import", "-", "--json"], env, stdin: body);
        var bad = await CliRunner.RunAsync(["import", "-"], env, stdin: "{not json");

        Assert.Equal(0, result.ExitCode);
        Assert.Equal("cli-user", JsonDocument.Parse(result.StdOut).RootElement.GetProperty("account").GetProperty("id").GetString());
        Assert.Equal(2, bad.ExitCode);
        Assert.Single(bad.StdErr.Split('\n', StringSplitOptions.RemoveEmptyEntries));
    }
}
