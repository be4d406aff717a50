using System.Net;
using System.Net.Http.Json;
using System.Text;
using System.Text.Json;
using Valet.Core.Providers;
using Valet.Tests.Infrastructure;

namespace Valet.Tests.Credentials;

/// <summary>
/// One server for the catalog's API-key providers, each pointed (configuration override of ApiBaseUrl, as an operator
/// would for a proxy or a test) at a local fake that accepts the credential only the way that provider documents it.
/// </summary>
public sealed class CatalogFixture : IAsyncLifetime
{
    public KeyedApi Api { get; private set; } = null!;

    public ValetTestServer Server { get; private set; } = null!;

    public async Task InitializeAsync()
    {
        Api = await KeyedApi.StartAsync();
        var settings = new Dictionary<string, string?>();
        foreach (var id in CatalogApiKeyProviderTests.Rules.Keys)
        {
            settings[$"Providers:{id}:ApiBaseUrl"] = Api.BaseUrl.ToString().TrimEnd('/') + "/" + id;
            settings[$"Providers:{id}:AllowPrivateNetwork"] = "true";
        }

        Api.Accepts = request =>
        {
            var id = request.RawTarget.Split('/', StringSplitOptions.RemoveEmptyEntries)[0];
            return CatalogApiKeyProviderTests.Rules.TryGetValue(id, out var rule) && rule.Accepts(request);
        };
        Server = await ValetTestServer.StartAsync(settings);
    }

    public async Task DisposeAsync()
    {
        await Server.DisposeAsync();
        await Api.DisposeAsync();
    }
}

public sealed class CatalogApiKeyProviderTests(CatalogFixture fixture) : IClassFixture<CatalogFixture>
{
    private const string Key = "key-Abc123_-.~xyz";
    private const string User = "AC0123456789abcdef";
    private const string Password = "pass word:with colon";

    /// <summary>Per provider: what the operator stores, and how the provider's documentation says the credential arrives.</summary>
    internal static readonly Dictionary<string, (object Secret, Func<KeyedRequest, bool> Accepts)> Rules = new()
    {
        ["openai"] = (new { api_key = Key }, r => r.Header("Authorization") == "Bearer " + Key),
        ["anthropic"] = (new { api_key = Key }, r => r.Header("x-api-key") == Key && r.Header("anthropic-version") == "2023-06-01"
            && r.Header("Authorization") is null),
        ["stripe"] = (new { api_key = Key }, r => r.Header("Authorization") == "Bearer " + Key),
        ["sendgrid"] = (new { api_key = Key }, r => r.Header("Authorization") == "Bearer " + Key),
        ["twilio"] = (new { username = User, password = Password }, r => r.Header("Authorization") == Basic(User, Password)),
        ["datadog"] = (new { api_key = Key }, r => r.Header("DD-API-KEY") == Key && r.Header("Authorization") is null),
        ["mailgun"] = (new { username = "api", password = Key }, r => r.Header("Authorization") == Basic("api", Key)),
        ["pagerduty"] = (new { api_key = Key }, r => r.Header("Authorization") == "Token token=" + Key
            && r.Header("Accept") == "application/vnd.pagerduty+json;version=2"),
        ["airtable"] = (new { api_key = Key }, r => r.Header("Authorization") == "Bearer " + Key),
        ["jira"] = (new { username = "dev@example.com", password = Key }, r => r.Header("Authorization") == Basic("dev@example.com", Key)),
        ["confluence"] = (new { username = "dev@example.com", password = Key }, r => r.Header("Authorization") == Basic("dev@example.com", Key)),
    };

    public static TheoryData<string> Providers => [.. Rules.Keys];

    private static string Basic(string user, string password) => "Basic " + Convert.ToBase64String(Encoding.UTF8.GetBytes(user + ":" + password));

    [Theory]
    [MemberData(nameof(Providers))]
    public async Task CatalogProvider_InjectsTheCredential_AsItsDocumentationSays(string id)
    {
        var server = fixture.Server;
        using var admin = server.Client();
        var provider = await admin.GetFromJsonAsync<JsonElement>($"/v1/providers/{id}");
        Assert.Equal("catalog", provider.GetProperty("provider").GetProperty("source").GetString());
        Assert.Contains(provider.GetProperty("provider").GetProperty("auth_mode").GetString(), new[] { "api_key", "basic" });
        Assert.True(provider.GetProperty("provider").GetProperty("ready").GetBoolean());

        var body = JsonSerializer.SerializeToElement(Rules[id].Secret);
        var request = new Dictionary<string, object?> { ["provider"] = id, ["account"] = new { id = "catalog-" + id } };
        foreach (var member in body.EnumerateObject())
        {
            request[member.Name] = member.Value.GetString();
        }

        var created = await admin.PostAsJsonAsync("/v1/orgs/default/connections", request);
        var connection = await created.Content.ReadFromJsonAsync<JsonElement>();
        Assert.True(created.StatusCode == HttpStatusCode.Created, connection.ToString());
        var connectionId = connection.GetProperty("id").GetString()!;
        var (_, key) = await server.CreateKeyAsync("default", new { connection = connectionId });
        using var agent = server.Client(key);

        var proxied = await agent.GetAsync($"/v1/proxy/{connectionId}/v1/ping?x=1");

        var seen = fixture.Api.Seen.Last(r => r.RawTarget.StartsWith("/" + id + "/", StringComparison.Ordinal));
        Assert.True(proxied.StatusCode == HttpStatusCode.OK,
            $"{id}: the fake refused {string.Join(", ", seen.Headers.Where(h => h.Key is "Authorization" or "x-api-key" or "DD-API-KEY" or "Accept" or "anthropic-version").Select(h => h.Key + "=" + h.Value))}");
        Assert.Equal($"/{id}/v1/ping?x=1", seen.RawTarget);
    }

    [Fact]
    public void Catalog_HasTenApiKeyProviders_EachCitingItsDocumentation()
    {
        var keyed = BuiltInProviders.All.Where(p => AuthModes.IsStatic(p.AuthMode)).ToList();

        Assert.True(keyed.Count >= 10, $"{keyed.Count} API-key providers");
        Assert.All(keyed, p => Assert.StartsWith("https://", p.DocsUrl, StringComparison.Ordinal));
        Assert.All(keyed, p => Assert.True(p.ApiBaseUrls.Count > 0 || p.InstanceUrlHostSuffixes.Count > 0, p.Id));
        Assert.Equal(Rules.Keys.Order(), keyed.Select(p => p.Id).Order());
    }

    [Fact]
    public async Task Jira_NeedsItsSite_OnAtlassianNet()
    {
        await using var server = await ValetTestServer.StartAsync();
        using var admin = server.Client();

        var missing = await admin.PostAsJsonAsync("/v1/orgs/default/connections", new { provider = "jira", username = "dev@example.com", password = Key });
        var problem = await missing.Content.ReadFromJsonAsync<JsonElement>();
        Assert.Equal(HttpStatusCode.UnprocessableEntity, missing.StatusCode);
        Assert.True(problem.GetProperty("errors").TryGetProperty("api_base_url", out _), problem.ToString());

        var elsewhere = await admin.PostAsJsonAsync("/v1/orgs/default/connections",
            new { provider = "jira", username = "dev@example.com", password = Key, api_base_url = "https://acme.atlassian.net.evil.example" });
        Assert.Equal(HttpStatusCode.UnprocessableEntity, elsewhere.StatusCode);
        var plain = await admin.PostAsJsonAsync("/v1/orgs/default/connections",
            new { provider = "jira", username = "dev@example.com", password = Key, api_base_url = "http://acme.atlassian.net" });
        Assert.Equal(HttpStatusCode.UnprocessableEntity, plain.StatusCode);

        var site = await admin.PostAsJsonAsync("/v1/orgs/default/connections",
            new { provider = "jira", username = "dev@example.com", password = Key, api_base_url = "https://acme.atlassian.net" });
        Assert.Equal(HttpStatusCode.Created, site.StatusCode);

        // Connecting through a browser makes no sense for a key: one clear problem, not a crash.
        var connect = await admin.PostAsJsonAsync("/v1/orgs/default/connect", new { provider = "openai" });
        Assert.Equal(HttpStatusCode.UnprocessableEntity, connect.StatusCode);
        Assert.Equal("not_connectable", (await connect.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("code").GetString());
    }
}
