using System.Diagnostics;
using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Valet.Core.OAuth;
using Valet.Core.Providers;
using Valet.Server.Proxy;
using Valet.Tests.Infrastructure;

namespace Valet.Tests.Providers.Fidelity;

/// <summary>
/// A Valet server whose catalog provider <c>zendesk</c> keeps its quirks and its <c>{subdomain}</c> templates, with
/// <c>zendesk.com</c> moved to <see cref="ZendeskFake.Domain"/> (every subdomain is the fake, by this test's DNS, for the
/// OAuth calls and for the proxy alike).
/// </summary>
public sealed class ZendeskServer : IAsyncLifetime
{
    internal ZendeskFake Zendesk { get; private set; } = null!;

    public ValetTestServer Server { get; private set; } = null!;

    public async Task InitializeAsync()
    {
        Zendesk = await ZendeskFake.StartAsync();
        var host = $"http://{{subdomain}}.{ZendeskFake.Domain}:{Zendesk.Port}";
        var zendesk = BuiltInProviders.Find("zendesk")! with
        {
            UrlTemplates = new ProviderUrlTemplates
            {
                AuthorizationEndpoint = host + "/oauth/authorizations/new",
                TokenEndpoint = host + "/oauth/tokens",
                UserInfoEndpoint = host + "/api/v2/users/me",
                ApiBaseUrls = [host + "/api/v2"],
            },
            AllowPrivateNetwork = true,
        };
        var config = new ConfigurationBuilder().AddInMemoryCollection(new Dictionary<string, string?>
        {
            ["Providers:zendesk:ClientId"] = ZendeskFake.ClientId,
            ["Providers:zendesk:ClientSecret"] = ZendeskFake.ClientSecret,
        }).Build();
        var catalog = await ProviderCatalogBuilder.BuildAsync(config, [.. BuiltInProviders.All.Where(p => p.Id != "zendesk"), zendesk],
            new HttpClient(), default);

        Server = await ValetTestServer.StartAsync(configure: builder =>
        {
            builder.Services.AddSingleton<IProviderCatalog>(catalog);
            builder.Services.AddSingleton<IUpstreamResolver>(new ZendeskResolver());
            builder.Services.AddHttpClient(OAuthHttp.ClientName).ConfigurePrimaryHttpMessageHandler(ZendeskFake.OAuthHandler);
        });
    }

    public async Task DisposeAsync()
    {
        await Server.DisposeAsync();
        await Zendesk.DisposeAsync();
    }

    /// <summary>The proxy's resolver: <c>*.zendesk.localhost</c> is loopback (its connect-time address check still runs).</summary>
    private sealed class ZendeskResolver : IUpstreamResolver
    {
        public Task<IPAddress[]> ResolveAsync(string host, CancellationToken cancellationToken) =>
            host.EndsWith("." + ZendeskFake.Domain, StringComparison.OrdinalIgnoreCase)
                ? Task.FromResult(new[] { IPAddress.Loopback })
                : Dns.GetHostAddressesAsync(host, cancellationToken);
    }
}

/// <summary>
/// Issue 15, item 5: provider URLs are templates over named connection parameters, given at connect time (API, CLI, import),
/// validated (a hostname label or a path-safe token, never a free URL), stored on the connection and used by every OAuth
/// call and by the proxy.
/// </summary>
public sealed class ConnectionParameterTests(ZendeskServer fixture) : IClassFixture<ZendeskServer>
{
    private ZendeskFake Zendesk => fixture.Zendesk;

    private ValetTestServer Server => fixture.Server;

    [Fact]
    public async Task Connect_WithASubdomain_BindsEveryOAuthUrl_StoresIt_AndTheProxyReachesThatSubdomain()
    {
        var before = Zendesk.TokenRequests.Count;

        var (id, connection) = await FidelityConnect.ConnectAsync(Server, "zendesk", parameters: new { subdomain = "Acme" }, dns: ZendeskFake.Connect);

        Assert.Equal("acme", connection.GetProperty("parameters").GetProperty("subdomain").GetString()); // a host label, stored lower case
        Assert.Equal(Zendesk.LastUser.ToString(System.Globalization.CultureInfo.InvariantCulture), connection.GetProperty("account").GetProperty("id").GetString());
        var (host, exchange) = Zendesk.TokenRequests.Skip(before).Single();
        Assert.Equal("acme." + ZendeskFake.Domain, host);
        Assert.Equal("application/json", exchange.ContentType); // "must be formatted as JSON"
        Assert.Equal(ZendeskFake.ClientSecret, exchange.Json!.Value.GetProperty("client_secret").GetString());

        var (_, key) = await Server.CreateKeyAsync("default", new { connection = id });
        using var agent = Server.Client(key);
        using var tickets = await agent.GetAsync($"/v1/proxy/{id}/tickets.json?page=2");

        Assert.Equal(HttpStatusCode.OK, tickets.StatusCode);
        Assert.Equal(("acme." + ZendeskFake.Domain, "/api/v2/tickets.json?page=2"), Zendesk.ApiCalls.Last());
    }

    [Fact]
    public async Task TwoSubdomains_AreTwoConnections_EachRefreshedAtItsOwnSubdomain_KeepingTheRotatedRefreshToken()
    {
        var (acme, _) = await FidelityConnect.ConnectAsync(Server, "zendesk", parameters: new { subdomain = "acme2" }, dns: ZendeskFake.Connect);
        var (globex, _) = await FidelityConnect.ConnectAsync(Server, "zendesk", parameters: new { subdomain = "globex" }, dns: ZendeskFake.Connect);
        Assert.NotEqual(acme, globex);
        var (_, key) = await Server.CreateKeyAsync("default", new { provider = "zendesk" });
        using var agent = Server.Client(key);

        for (var round = 0; round < 2; round++)
        {
            // A refresh invalidates the previous refresh token: the second round works only with the stored rotated one.
            Zendesk.ExpireAccessTokens();
            var before = Zendesk.TokenRequests.Count;
            using var viaGlobex = await agent.GetAsync($"/v1/proxy/{globex}/tickets.json");
            using var viaAcme = await agent.GetAsync($"/v1/proxy/{acme}/tickets.json");

            Assert.Equal(HttpStatusCode.OK, viaGlobex.StatusCode);
            Assert.Equal(HttpStatusCode.OK, viaAcme.StatusCode);
            Assert.Equal("globex", (await viaGlobex.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("subdomain").GetString());
            Assert.Equal("acme2", (await viaAcme.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("subdomain").GetString());
            var refreshes = Zendesk.TokenRequests.Skip(before).ToList();
            Assert.Equal(["globex." + ZendeskFake.Domain, "acme2." + ZendeskFake.Domain], refreshes.Select(r => r.Host));
            Assert.All(refreshes, r => Assert.Equal("refresh_token", r.Request.Json!.Value.GetProperty("grant_type").GetString()));
        }
    }

    public static TheoryData<string, string> BadParameters => new()
    {
        { "zendesk", "{}" },
        { "zendesk", """{"subdomain":""}""" },
        { "zendesk", """{"subdomain":"acme.evil.example"}""" },
        { "zendesk", """{"subdomain":"169.254.169.254"}""" },
        { "zendesk", """{"subdomain":"-acme"}""" },
        { "zendesk", """{"subdomain":"ac me"}""" },
        { "zendesk", """{"subdomain":"acme/../x"}""" },
        { "zendesk", """{"subdomain":"acme:8080"}""" },
        { "zendesk", """{"subdomain":"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"}""" },
        { "zendesk", """{"subdomain":"acme","tenant":"x"}""" },
        { "github", """{"subdomain":"acme"}""" },
    };

    [Theory]
    [MemberData(nameof(BadParameters))]
    public async Task BadConnectionParameters_Are422InvalidParameters_AtConnectAndImport_NothingStored(string provider, string parameters)
    {
        using var admin = Server.Client();
        var values = JsonSerializer.Deserialize<Dictionary<string, string>>(parameters);
        var flowsBefore = await FlowCountAsync();

        using var connect = await admin.PostAsJsonAsync("/v1/orgs/default/connect", new { provider, parameters = values });
        var credential = await (await admin.PostAsJsonAsync("/v1/orgs/default/credentials", new { provider, client_id = "c", client_secret = "s" }))
            .Content.ReadFromJsonAsync<JsonElement>();
        var account = "bad-" + Guid.NewGuid().ToString("N");
        using var import = await admin.PostAsJsonAsync("/v1/orgs/default/connections/import", new
        {
            provider, credential_id = credential.GetProperty("id").GetString(), access_token = "at", parameters = values, account = new { id = account },
        });

        foreach (var response in new[] { connect, import })
        {
            Assert.Equal(HttpStatusCode.UnprocessableEntity, response.StatusCode);
            Assert.Equal("application/problem+json", response.Content.Headers.ContentType?.MediaType);
            Assert.Equal("invalid_parameters", (await response.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("code").GetString());
        }

        Assert.Equal(flowsBefore, await FlowCountAsync());
        var all = await admin.GetFromJsonAsync<JsonElement>("/v1/orgs/default/connections");
        Assert.DoesNotContain(all.EnumerateArray(), c => c.GetProperty("account").GetProperty("id").GetString() == account);
    }

    [Fact]
    public async Task Import_WithParameters_StoresThem_AndTheProxyUsesThem()
    {
        using var admin = Server.Client();
        var credential = await (await admin.PostAsJsonAsync("/v1/orgs/default/credentials",
            new { provider = "zendesk", client_id = ZendeskFake.ClientId, client_secret = ZendeskFake.ClientSecret })).Content.ReadFromJsonAsync<JsonElement>();

        using var import = await admin.PostAsJsonAsync("/v1/orgs/default/connections/import", new
        {
            provider = "zendesk", credential_id = credential.GetProperty("id").GetString(), access_token = "not-valid-at-zendesk",
            parameters = new { subdomain = "initech" }, account = new { id = "imported-" + Guid.NewGuid().ToString("N") },
        });
        var connection = await import.Content.ReadFromJsonAsync<JsonElement>();
        var (_, key) = await Server.CreateKeyAsync("default", new { connection = connection.GetProperty("id").GetString() });
        using var agent = Server.Client(key);
        using var call = await agent.GetAsync($"/v1/proxy/{connection.GetProperty("id").GetString()}/users/me");

        Assert.Equal(HttpStatusCode.Created, import.StatusCode);
        Assert.Equal("initech", connection.GetProperty("parameters").GetProperty("subdomain").GetString());
        Assert.Equal(("initech." + ZendeskFake.Domain, "/api/v2/users/me"), Zendesk.ApiCalls.Last()); // the fake refused the token: it was reached
        Assert.Equal(HttpStatusCode.Conflict, call.StatusCode); // no refresh token: a person must reconnect
    }

    [Fact]
    public async Task Cli_ConnectWithParam_RunsTheFlowAgainstThatSubdomain()
    {
        var env = new Dictionary<string, string?> { ["VALET_URL"] = Server.BaseUrl.ToString(), ["VALET_DATA_DIR"] = Server.DataDirectory };
        using var process = Process.Start(CliRunner.StartInfo(
            ["connect", "zendesk", "--param", "subdomain=umbrella", "--callback-transport", "gateway", "--no-browser", "--json", "--timeout", "60s"], env))!;
        process.StandardInput.Close();
        var stdout = process.StandardOutput.ReadToEndAsync();
        var url = await ReadUrlFromStderrAsync(process);
        Assert.Equal("umbrella." + ZendeskFake.Domain, new Uri(url).Host);

        using var browser = new HttpClient(new SocketsHttpHandler { AllowAutoRedirect = false, ConnectCallback = ZendeskFake.Connect });
        using var consent = await browser.GetAsync(url);
        using var callback = await browser.GetAsync(consent.Headers.Location);
        await process.WaitForExitAsync(new CancellationTokenSource(TimeSpan.FromSeconds(30)).Token);

        Assert.Equal(0, process.ExitCode);
        var outcome = JsonDocument.Parse(await stdout).RootElement;
        Assert.Equal("complete", outcome.GetProperty("status").GetString());
        using var admin = Server.Client();
        var connection = await admin.GetFromJsonAsync<JsonElement>($"/v1/connections/{outcome.GetProperty("connection_id").GetString()}");
        Assert.Equal("umbrella", connection.GetProperty("parameters").GetProperty("subdomain").GetString());

        var malformed = await CliRunner.RunAsync(["connect", "zendesk", "--param", "subdomain", "--no-browser"], env);
        Assert.Equal(2, malformed.ExitCode);
        Assert.Contains("NAME=VALUE", malformed.StdErr, StringComparison.Ordinal);
        var refused = await CliRunner.RunAsync(["connect", "zendesk", "--param", "subdomain=evil.example", "--no-browser"], env);
        Assert.Equal(1, refused.ExitCode);
        Assert.Contains("invalid_parameters", refused.StdErr, StringComparison.Ordinal);
    }

    private async Task<long> FlowCountAsync() => await Refresh.RefreshKit.FlowCountAsync(Server);

    private static async Task<string> ReadUrlFromStderrAsync(Process process)
    {
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(30));
        while (await process.StandardError.ReadLineAsync(timeout.Token) is { } line)
        {
            const string prefix = "Open this URL to continue: ";
            if (line.StartsWith(prefix, StringComparison.Ordinal))
            {
                return line[prefix.Length..];
            }
        }

        throw new InvalidOperationException("valet connect printed no URL");
    }
}
