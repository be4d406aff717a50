using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using Microsoft.Extensions.Configuration;
using Valet.Core.Domain;
using Valet.Core.Providers;
using Valet.Tests.Infrastructure;

namespace Valet.Tests.Providers.Fidelity;

/// <summary>
/// Issue 15, item 4: managed targets are relative to the provider's API base and move with an <c>ApiBaseUrl</c> override,
/// so GitHub Enterprise Server and Microsoft national clouds can be configured (the boot used to fail with "managed target
/// 'api' must point under one of the provider's ApiBaseUrls"), and calls through the managed target reach the configured host.
/// </summary>
public sealed class EnterpriseHostsTests
{
    private static IConfiguration Config(params (string Key, string Value)[] pairs) =>
        new ConfigurationBuilder().AddInMemoryCollection(pairs.Select(p => new KeyValuePair<string, string?>(p.Key, p.Value))).Build();

    [Fact]
    public async Task Catalog_WithEnterpriseAndNationalCloudApiBases_Builds()
    {
        // https://docs.github.com/en/enterprise-server@latest/rest/enterprise-admin ("prefixed with http(s)://HOSTNAME/api/v3");
        // https://learn.microsoft.com/graph/deployments (Microsoft Graph for US Government: https://graph.microsoft.us).
        var catalog = await ProviderCatalogBuilder.BuildAsync(Config(
            ("Providers:github:AuthorizationEndpoint", "https://ghe.example.com/login/oauth/authorize"),
            ("Providers:github:TokenEndpoint", "https://ghe.example.com/login/oauth/access_token"),
            ("Providers:github:UserInfoEndpoint", "https://ghe.example.com/api/v3/user"),
            ("Providers:github:ApiBaseUrl", "https://ghe.example.com/api/v3"),
            ("Providers:microsoft:AuthorizationEndpoint", "https://login.microsoftonline.us/common/oauth2/v2.0/authorize"),
            ("Providers:microsoft:TokenEndpoint", "https://login.microsoftonline.us/common/oauth2/v2.0/token"),
            ("Providers:microsoft:UserInfoEndpoint", "https://graph.microsoft.us/v1.0/me"),
            ("Providers:microsoft:ApiBaseUrl", "https://graph.microsoft.us")), new HttpClient(), default);

        var github = catalog.Find("github")!;
        var microsoft = catalog.Find("microsoft")!;
        Assert.Equal("https://ghe.example.com/api/v3", ApiBases.ManagedTargetBase(github, Connection("github"), github.Targets[0])!.AbsoluteUri);
        Assert.Equal("https://graph.microsoft.us/v1.0/me/messages",
            ApiBases.ManagedTargetBase(microsoft, Connection("microsoft"), microsoft.Targets.Single(t => t.Name == "mail"))!.AbsoluteUri);
    }

    [Fact]
    public void ManagedTarget_MadeBeforeAnApiBaseOverride_MovesWithIt_NeverToItsStoredHost()
    {
        var moved = BuiltInProviders.Find("microsoft")! with { ApiBaseUrls = ["https://graph.microsoft.us"] };
        var target = new Target
        {
            Id = "tgt_1", OrgId = "default", ConnectionId = "conn_1", Name = "mail", Provider = "microsoft", Managed = true,
            BaseUrl = "https://graph.microsoft.com/v1.0/me/messages", // stored when the connection was made
        };

        var resolved = ApiBases.Resolve(moved, Connection("microsoft"), target, out _);

        Assert.Equal("https://graph.microsoft.us/v1.0/me/messages", resolved!.AbsoluteUri);

        // An operator's own (unmanaged) target stays where it was made, and only if that is still under an API base.
        Assert.Null(ApiBases.Resolve(moved, Connection("microsoft"), target with { Managed = false }, out _));
    }

    public static TheoryData<string> BadPaths => ["../admin", "v1.0//me", "https://evil.example/x", "v1.0/me?x=1", "v1.0/me#f", "a/./b", "a\\b", "/v1.0"];

    [Theory]
    [MemberData(nameof(BadPaths))]
    public async Task ManagedTargetPath_ThatCouldLeaveItsBase_FailsTheBoot(string path)
    {
        var provider = new ProviderDefinition
        {
            Id = "acme", DisplayName = "Acme", AuthorizationEndpoint = new Uri("https://id.acme.test/authorize"),
            TokenEndpoint = new Uri("https://id.acme.test/token"), ApiBaseUrls = ["https://api.acme.test"],
            Targets = [new ManagedTargetDefinition { Name = "api", Path = path }],
        };

        var ex = await Assert.ThrowsAsync<CatalogValidationException>(() =>
            ProviderCatalogBuilder.BuildAsync(Config(), [provider], new HttpClient(), default));

        Assert.Contains(ex.Problems, p => p.Contains("'acme'", StringComparison.Ordinal) && p.Contains("Path must be relative", StringComparison.Ordinal));
    }

    [Fact]
    public async Task GitHubEnterpriseServer_ConfigBootsConnects_AndTheManagedTargetReachesHostApiV3()
    {
        await using var ghe = await GitHubEnterpriseFake.StartAsync();
        var host = ghe.BaseUrl.AbsoluteUri.TrimEnd('/');
        await using var server = await ValetTestServer.StartAsync(new Dictionary<string, string?>
        {
            ["Providers:github:AuthorizationEndpoint"] = host + "/login/oauth/authorize",
            ["Providers:github:TokenEndpoint"] = host + "/login/oauth/access_token",
            ["Providers:github:UserInfoEndpoint"] = host + "/api/v3/user",
            ["Providers:github:ApiBaseUrl"] = host + "/api/v3",
            ["Providers:github:ClientId"] = GitHubEnterpriseFake.ClientId,
            ["Providers:github:ClientSecret"] = GitHubEnterpriseFake.ClientSecret,
            ["Providers:github:AllowPrivateNetwork"] = "true",
        });

        var (connectionId, connection) = await FidelityConnect.ConnectAsync(server, "github");
        Assert.Equal(ghe.LastLogin, connection.GetProperty("account").GetProperty("login").GetString());
        var target = await ManagedTargetAsync(server, connectionId, "api");
        Assert.Equal(host + "/api/v3", target.GetProperty("base_url").GetString());

        var (_, key) = await server.CreateKeyAsync("default", new { target = target.GetProperty("id").GetString() });
        using var agent = server.Client(key);
        using var user = await agent.GetAsync($"/v1/targets/{target.GetProperty("id").GetString()}/user");

        Assert.Equal(HttpStatusCode.OK, user.StatusCode);
        Assert.Equal(ghe.LastLogin, (await user.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("login").GetString());
        var call = ghe.ApiCalls.Last();
        Assert.Equal("/api/v3/user", call.Path);
        Assert.StartsWith("gho_", call.Bearer, StringComparison.Ordinal);
        Assert.Equal("2022-11-28", call.ApiVersion);
    }

    [Fact]
    public async Task MicrosoftNationalCloud_TenantEndpoints_AndTheMailTargetReachTheConfiguredGraphHost()
    {
        await using var cloud = await MicrosoftFake.StartAsync();
        var host = cloud.BaseUrl.AbsoluteUri.TrimEnd('/');
        const string tenant = "72f988bf-86f1-41af-91ab-2d7cd011db47";
        await using var server = await ValetTestServer.StartAsync(new Dictionary<string, string?>
        {
            // As https://login.microsoftonline.us/{tenant}/oauth2/v2.0/… and https://graph.microsoft.us would be configured.
            ["Providers:microsoft:AuthorizationEndpoint"] = $"{host}/{tenant}/oauth2/v2.0/authorize",
            ["Providers:microsoft:TokenEndpoint"] = $"{host}/{tenant}/oauth2/v2.0/token",
            ["Providers:microsoft:UserInfoEndpoint"] = host + "/v1.0/me",
            ["Providers:microsoft:ApiBaseUrl"] = host,
            ["Providers:microsoft:ClientId"] = MicrosoftFake.ClientId,
            ["Providers:microsoft:ClientSecret"] = MicrosoftFake.ClientSecret,
            ["Providers:microsoft:AllowPrivateNetwork"] = "true",
        });

        var (connectionId, _) = await FidelityConnect.ConnectAsync(server, "microsoft", scopes: ["offline_access", "User.Read", "Mail.Read"]);
        var mail = await ManagedTargetAsync(server, connectionId, "mail");
        Assert.Equal(host + "/v1.0/me/messages", mail.GetProperty("base_url").GetString());

        var (_, key) = await server.CreateKeyAsync("default", new { connection = connectionId });
        using var agent = server.Client(key);
        using var messages = await agent.GetAsync($"/v1/targets/{mail.GetProperty("id").GetString()}?$top=1");

        Assert.Equal(HttpStatusCode.OK, messages.StatusCode);
        Assert.Equal("Quarterly report", (await messages.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("value")[0].GetProperty("subject").GetString());
        Assert.Equal(("/v1.0/me/messages?$top=1", cloud.LastAccessToken), cloud.GraphCalls.Last());
        Assert.All(cloud.Tenants, t => Assert.Equal(tenant, t));
    }

    private static async Task<JsonElement> ManagedTargetAsync(ValetTestServer server, string connectionId, string name)
    {
        using var admin = server.Client();
        var targets = await admin.GetFromJsonAsync<JsonElement>("/v1/orgs/default/targets");
        var target = targets.EnumerateArray().Single(t => t.GetProperty("connection_id").GetString() == connectionId && t.GetProperty("name").GetString() == name);
        Assert.True(target.GetProperty("managed").GetBoolean());
        return target;
    }

    private static Connection Connection(string provider) => new()
    {
        Id = "conn_1", OrgId = "default", Provider = provider, AccountId = "acct", AccessToken = new Secret("at"),
    };
}
