using Microsoft.Extensions.DependencyInjection;
using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using Valet.Tests.Infrastructure;

namespace Valet.Tests.Credentials;

/// <summary>Providers registered at run time (SPEC §13) on the embedded default: validation, read-only sources, in-use refusals, CLI, restart.</summary>
public sealed class RuntimeProviderTests : IAsyncLifetime
{
    private readonly string _dataDirectory = Path.Combine(Path.GetTempPath(), "valet-test-" + Guid.NewGuid().ToString("N"));
    private readonly Dictionary<string, string?> _settings = new() { ["ENCRYPTION_KEY"] = ValetTestServer.RandomKey() };
    private KeyedApi _api = null!;
    private ValetTestServer _server = null!;

    public async Task InitializeAsync()
    {
        _api = await KeyedApi.StartAsync();
        _server = await ValetTestServer.StartAsync(_settings, _dataDirectory);
    }

    public async Task DisposeAsync()
    {
        await _server.DisposeAsync();
        await _api.DisposeAsync();
        Directory.Delete(_dataDirectory, recursive: true);
    }

    private object KeyedDocument(string header = "Authorization: Bearer {secret}") => new
    {
        display_name = "Internal API",
        auth_mode = "api_key",
        api_key_header = header,
        api_base_url = new[] { _api.BaseUrl.ToString().TrimEnd('/') + "/v2" },
        allow_private_network = true,
    };

    [Fact]
    public async Task ARuntimeOAuthProvider_JoinsTheDashboardsFormAction_WithoutARestart()
    {
        // The dashboard's Connect posts to Valet, which redirects to the provider: the browser applies form-action to that
        // redirect, so a provider registered after the first page view must be in the next page's policy.
        var security = _server.Services.GetRequiredService<Valet.Server.Dashboard.DashboardSecurity>();
        var before = security.Policy;
        using var admin = _server.Client();

        var put = await admin.PutAsJsonAsync("/v1/providers/late-idp", new
        {
            display_name = "Late IdP",
            authorization_endpoint = "http://127.0.0.1:9/late/authorize",
            token_endpoint = "http://127.0.0.1:9/late/token",
            api_base_url = new[] { "http://127.0.0.1:9/api" },
            allow_private_network = true,
        });

        Assert.True(put.StatusCode == HttpStatusCode.Created, await put.Content.ReadAsStringAsync());
        Assert.DoesNotContain("http://127.0.0.1:9 ", before, StringComparison.Ordinal);
        Assert.Contains("http://127.0.0.1:9 ", security.Policy, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Put_RegistersAProvider_UsableAtOnce_ListedWithItsSource_AndDeletedWhenUnused()
    {
        _api.Accepts = r => r.Header("Authorization") == "Bearer internal-key-1";
        using var admin = _server.Client();

        var put = await admin.PutAsJsonAsync("/v1/providers/internal", KeyedDocument());
        var detail = await put.Content.ReadFromJsonAsync<JsonElement>();
        Assert.True(put.StatusCode == HttpStatusCode.Created, detail.ToString());
        Assert.Equal("runtime", detail.GetProperty("provider").GetProperty("source").GetString());
        Assert.Equal("api_key", detail.GetProperty("provider").GetProperty("auth_mode").GetString());
        Assert.Equal("Authorization: Bearer {secret}", detail.GetProperty("provider").GetProperty("api_key").GetString());

        var listed = await admin.GetFromJsonAsync<JsonElement>("/v1/providers");
        var sources = listed.EnumerateArray().ToDictionary(p => p.GetProperty("id").GetString()!, p => p.GetProperty("source").GetString());
        Assert.Equal("runtime", sources["internal"]);
        Assert.Equal("catalog", sources["github"]);
        var got = await admin.GetFromJsonAsync<JsonElement>("/v1/providers/internal");
        Assert.Equal("api_key", got.GetProperty("document").GetProperty("auth_mode").GetString());

        // Usable at once: a connection, the proxy, the secret where the template says.
        var created = await admin.PostAsJsonAsync("/v1/orgs/default/connections", new { provider = "internal", api_key = "internal-key-1" });
        Assert.Equal(HttpStatusCode.Created, created.StatusCode);
        var connectionId = (await created.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("id").GetString()!;
        var (_, key) = await _server.CreateKeyAsync("default", new { provider = "internal" });
        using var agent = _server.Client(key);
        Assert.Equal(HttpStatusCode.OK, (await agent.GetAsync($"/v1/proxy/{connectionId}/items")).StatusCode);
        Assert.Equal("/v2/items", _api.Last.RawTarget);

        // Replacing it keeps it working (same auth mode); changing the auth mode or deleting it while in use is refused.
        Assert.Equal(HttpStatusCode.OK, (await admin.PutAsJsonAsync("/v1/providers/internal", KeyedDocument())).StatusCode);
        var modeChange = await admin.PutAsJsonAsync("/v1/providers/internal", new
        {
            auth_mode = "basic", api_base_url = _api.BaseUrl.ToString(), allow_private_network = true,
        });
        await AssertProblemAsync(modeChange, HttpStatusCode.Conflict, "provider_in_use");
        await AssertProblemAsync(await admin.DeleteAsync("/v1/providers/internal"), HttpStatusCode.Conflict, "provider_in_use");

        Assert.Equal(HttpStatusCode.OK, (await admin.DeleteAsync($"/v1/connections/{connectionId}")).StatusCode);
        static async Task<string[]> NeedsAsync(HttpClient agent) =>
            [.. (await agent.GetFromJsonAsync<JsonElement>("/v1/bootstrap")).GetProperty("needs").EnumerateArray().Select(n => n.GetProperty("provider").GetString()!)];
        Assert.Equal(["internal"], await NeedsAsync(agent));
        var deleted = await admin.DeleteAsync("/v1/providers/internal");
        Assert.Equal(HttpStatusCode.OK, deleted.StatusCode);
        // The key still names it; nobody can connect it any more, so the bootstrap no longer asks a person to.
        Assert.Empty(await NeedsAsync(agent));
        await AssertProblemAsync(await admin.GetAsync("/v1/providers/internal"), HttpStatusCode.NotFound, "unknown_provider");
        await AssertProblemAsync(await admin.DeleteAsync("/v1/providers/internal"), HttpStatusCode.NotFound, "unknown_provider");
        Assert.DoesNotContain("internal", (await admin.GetStringAsync("/v1/providers")), StringComparison.Ordinal);
    }

    [Fact]
    public async Task Put_ListsEveryProblem_WithTheRulesOfConfiguration()
    {
        using var admin = _server.Client();

        var bad = await admin.PutAsJsonAsync("/v1/providers/broken", new
        {
            auth_mode = "api_key",
            api_base_url = "http://api.example.com",      // plain http off loopback
            token_endpoint = "https://10.0.0.5/token",     // private without allow_private_network
            colour = "blue",                               // unknown key
            client_secret = "never-stored",                // secrets go to credentials
            scopes = 5,                                    // wrong type
        });
        var body = await AssertProblemAsync(bad, HttpStatusCode.UnprocessableEntity, "validation_failed");
        var problems = string.Join('\n', body.GetProperty("errors").GetProperty("provider").EnumerateArray().Select(p => p.GetString()));
        Assert.Contains("api_base_url", problems, StringComparison.Ordinal);
        Assert.Contains("plain http", problems, StringComparison.Ordinal);
        Assert.Contains("allow_private_network", problems, StringComparison.Ordinal);
        Assert.Contains("unknown key 'colour'", problems, StringComparison.Ordinal);
        Assert.Contains("client_secret", problems, StringComparison.Ordinal);
        Assert.Contains("scopes must be", problems, StringComparison.Ordinal);
        Assert.Contains("api_key_header", problems, StringComparison.Ordinal);
        Assert.DoesNotContain("never-stored", problems, StringComparison.Ordinal);

        var template = await admin.PutAsJsonAsync("/v1/providers/broken", KeyedDocument("x-api-key: no placeholder"));
        await AssertProblemAsync(template, HttpStatusCode.UnprocessableEntity, "validation_failed");
        var oauth = await admin.PutAsJsonAsync("/v1/providers/broken", new { scopes = "read" });
        var oauthProblems = (await AssertProblemAsync(oauth, HttpStatusCode.UnprocessableEntity, "validation_failed")).ToString();
        Assert.Contains("authorization_endpoint", oauthProblems, StringComparison.Ordinal);
        Assert.Contains("token_endpoint", oauthProblems, StringComparison.Ordinal);

        // An unreadable URL is one problem, not also a missing one; and the field already names the provider.
        var unreadable = await admin.PutAsJsonAsync("/v1/providers/broken", new
        {
            authorization_endpoint = "https://idp.example.com/authorize", token_endpoint = "not a url", scopes = "read",
        });
        var messages = (await AssertProblemAsync(unreadable, HttpStatusCode.UnprocessableEntity, "validation_failed"))
            .GetProperty("errors").GetProperty("provider").EnumerateArray().Select(p => p.GetString()!).ToList();
        var only = Assert.Single(messages);
        Assert.StartsWith("token_endpoint", only, StringComparison.OrdinalIgnoreCase);
        Assert.Contains("is not an absolute", only, StringComparison.Ordinal);

        await AssertProblemAsync(await admin.PutAsJsonAsync("/v1/providers/Not A Slug", KeyedDocument()), HttpStatusCode.UnprocessableEntity, "validation_failed");
        using var text = new StringContent("[1,", System.Text.Encoding.UTF8, "application/json");
        await AssertProblemAsync(await admin.PutAsync("/v1/providers/broken", text), HttpStatusCode.BadRequest, "invalid_json");
        // Valid JSON that says it is something else: 415, as on every other JSON route (it was read, and stored, as JSON).
        using var plain = new StringContent(JsonSerializer.Serialize(KeyedDocument()), System.Text.Encoding.UTF8, "text/plain");
        await AssertProblemAsync(await admin.PutAsync("/v1/providers/broken", plain), HttpStatusCode.UnsupportedMediaType, "unsupported_media_type");
        await AssertProblemAsync(await admin.PutAsJsonAsync("/v1/providers/github", KeyedDocument()), HttpStatusCode.Conflict, "provider_read_only");
        await AssertProblemAsync(await admin.DeleteAsync("/v1/providers/github"), HttpStatusCode.Conflict, "provider_read_only");

        var (_, key) = await _server.CreateKeyAsync("default", new { provider = "github" });
        using var agent = _server.Client(key);
        Assert.Equal(HttpStatusCode.Forbidden, (await agent.PutAsJsonAsync("/v1/providers/broken", KeyedDocument())).StatusCode);
        Assert.Equal(HttpStatusCode.NotFound, (await admin.GetAsync("/v1/providers/broken")).StatusCode);
    }

    [Fact]
    public async Task Cli_SetsListsAndDeletes_AndTheProviderSurvivesARestart()
    {
        var env = new Dictionary<string, string?> { ["VALET_URL"] = _server.BaseUrl.ToString(), ["VALET_DATA_DIR"] = _server.DataDirectory };
        var file = Path.Combine(_server.DataDirectory, "provider.json");
        await File.WriteAllTextAsync(file, JsonSerializer.Serialize(KeyedDocument("x-api-key: {secret}")));

        var set = await CliRunner.RunAsync(["providers", "set", "internal", "--file", file], env);
        Assert.True(set.ExitCode == 0, set.StdErr);
        Assert.Contains("runtime", set.StdOut, StringComparison.Ordinal);
        var list = await CliRunner.RunAsync(["providers", "list"], env);
        Assert.Contains(list.StdOut.Split('\n'), l => l.StartsWith("internal", StringComparison.Ordinal) && l.Contains("runtime", StringComparison.Ordinal)
            && l.Contains("api_key", StringComparison.Ordinal));

        await File.WriteAllTextAsync(file, """{"auth_mode": "carrier_pigeon"}""");
        var invalid = await CliRunner.RunAsync(["providers", "set", "other", "--file", file], env);
        Assert.Equal(1, invalid.ExitCode);
        Assert.Contains("auth_mode must be one of", Assert.Single(invalid.StdErr.Split('\n', StringSplitOptions.RemoveEmptyEntries)), StringComparison.Ordinal);
        var missing = await CliRunner.RunAsync(["providers", "set", "other", "--file", file + ".nope"], env);
        Assert.Equal(2, missing.ExitCode);
        var readOnly = await CliRunner.RunAsync(["providers", "delete", "github"], env);
        Assert.Equal(1, readOnly.ExitCode);
        Assert.Contains("provider_read_only", readOnly.StdErr, StringComparison.Ordinal);

        // Stored in the database: a restart on the same data directory still knows it.
        await _server.DisposeAsync();
        _server = await ValetTestServer.StartAsync(_settings, _dataDirectory);
        using var admin = _server.Client();
        Assert.Equal("runtime", (await admin.GetFromJsonAsync<JsonElement>("/v1/providers/internal")).GetProperty("provider").GetProperty("source").GetString());

        env["VALET_URL"] = _server.BaseUrl.ToString();
        var deleted = await CliRunner.RunAsync(["providers", "delete", "internal"], env);
        Assert.True(deleted.ExitCode == 0, deleted.StdErr);
        Assert.Equal(HttpStatusCode.NotFound, (await admin.GetAsync("/v1/providers/internal")).StatusCode);
    }

    private static async Task<JsonElement> AssertProblemAsync(HttpResponseMessage response, HttpStatusCode status, string code)
    {
        var body = await response.Content.ReadFromJsonAsync<JsonElement>();
        Assert.True(response.StatusCode == status, $"{response.StatusCode}: {body}");
        Assert.Equal("application/problem+json", response.Content.Headers.ContentType?.MediaType);
        Assert.Equal(code, body.GetProperty("code").GetString());
        return body;
    }
}
