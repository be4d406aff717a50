using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Valet.Core.OAuth;
using Valet.Core.Providers;
using Valet.Tests.OAuth;

namespace Valet.Tests.Providers;

public sealed class ProviderCatalogBuilderTests
{
    private static IConfiguration Config(params (string Key, string Value)[] pairs) =>
        new ConfigurationBuilder().AddInMemoryCollection(pairs.Select(p => new KeyValuePair<string, string?>(p.Key, p.Value))).Build();

    private static Task<ProviderCatalog> Build(IConfiguration config) => ProviderCatalogBuilder.BuildAsync(config, new HttpClient(), default);

    [Fact]
    public async Task Configuration_OverridesACatalogProvider()
    {
        var catalog = await Build(Config(
            ("Providers:github:ClientId", "Iv1.abc"),
            ("Providers:github:ClientSecret", "gh-secret"),
            ("Providers:github:Scopes", "repo  read:org"),
            ("Providers:github:DisplayName", "GitHub Enterprise"),
            ("Providers:github:TokenEndpointAuthMethod", "client_secret_basic")));

        var github = catalog.Find("github")!;
        Assert.Equal("Iv1.abc", github.ClientId);
        Assert.Equal("gh-secret", github.ClientSecret!.Value.Reveal());
        Assert.Equal(["repo", "read:org"], github.DefaultScopes);
        Assert.Equal("GitHub Enterprise", github.DisplayName);
        Assert.Equal(TokenEndpointAuthMethod.ClientSecretBasic, github.TokenEndpointAuth);
        Assert.True(github.HasPlatformClient);
    }

    [Fact]
    public async Task SelfHostedGitLab_ByBaseUrls()
    {
        var catalog = await Build(Config(
            ("Providers:gitlab:AuthorizationEndpoint", "https://git.example.com/oauth/authorize"),
            ("Providers:gitlab:TokenEndpoint", "https://git.example.com/oauth/token"),
            ("Providers:gitlab:ApiBaseUrl", "https://git.example.com/api/v4")));

        var gitlab = catalog.Find("gitlab")!;
        Assert.Equal("git.example.com", gitlab.TokenEndpoint!.Host);
        Assert.Equal(["https://git.example.com/api/v4"], gitlab.ApiBaseUrls);
    }

    [Fact]
    public async Task EnvironmentStyleUpperCaseId_DefinesALowerCaseOperatorProvider()
    {
        // VALET_PROVIDERS__ACME__… arrives as Providers:ACME:….
        var catalog = await Build(Config(
            ("Providers:ACME:AUTHORIZATIONENDPOINT", "https://id.acme.test/authorize"),
            ("Providers:ACME:TOKENENDPOINT", "https://id.acme.test/token"),
            ("Providers:ACME:SCOPES", "read write"),
            ("Providers:ACME:APIBASEURL", "https://api.acme.test, https://files.acme.test"),
            ("Providers:ACME:CLIENTID", "acme-client")));

        var acme = catalog.Find("acme");
        Assert.NotNull(acme);
        Assert.Equal("acme", acme.Id);
        Assert.Equal(["read", "write"], acme.DefaultScopes);
        Assert.Equal(["https://api.acme.test", "https://files.acme.test"], acme.ApiBaseUrls);
        Assert.Equal("acme-client", acme.ClientId);
        Assert.Same(acme, catalog.Find("ACME"));
    }

    [Fact]
    public async Task Validation_ReportsEveryProblemAtOnce_WithoutTheSecret()
    {
        var ex = await Assert.ThrowsAsync<CatalogValidationException>(() => Build(Config(
            ("Providers:acme:AuthorizationEndpoint", "/relative/authorize"),
            ("Providers:acme:ClientSecret", "super-secret-value"),
            ("Providers:plain:AuthorizationEndpoint", "http://auth.example.com/authorize"),
            ("Providers:plain:TokenEndpoint", "https://auth.example.com/token"),
            ("Providers:local:AuthorizationEndpoint", "http://127.0.0.1:9000/authorize"),
            ("Providers:local:TokenEndpoint", "http://127.0.0.1:9000/token"),
            ("Providers:meta:AuthorizationEndpoint", "https://169.254.169.254/authorize"),
            ("Providers:meta:TokenEndpoint", "https://10.0.0.5/token"),
            ("Providers:meta:TokenEndpointAuthMethod", "private_key_jwt"),
            ("Providers:meta:AllowPrivateNetwork", "yes"),
            ("Providers:bad id!:TokenEndpoint", "https://x.example.com/token"),
            ("Providers:github:ClientSecrt", "typo"))));

        var all = string.Join("\n", ex.Problems);
        Assert.Contains(ex.Problems, p => p.Contains("'acme'", StringComparison.Ordinal) && p.Contains("AuthorizationEndpoint is not an absolute", StringComparison.Ordinal));
        Assert.Contains(ex.Problems, p => p.Contains("'acme'", StringComparison.Ordinal) && p.Contains("no TokenEndpoint", StringComparison.Ordinal));
        // Given but unreadable is one problem, not also "no AuthorizationEndpoint" (the same rule as the runtime API's).
        Assert.DoesNotContain(ex.Problems, p => p.Contains("'acme'", StringComparison.Ordinal) && p.Contains("no AuthorizationEndpoint", StringComparison.Ordinal));
        Assert.Contains(ex.Problems, p => p.Contains("'acme'", StringComparison.Ordinal) && p.Contains("ClientSecret is set without ClientId", StringComparison.Ordinal));
        Assert.Contains(ex.Problems, p => p.Contains("'plain'", StringComparison.Ordinal) && p.Contains("plain http", StringComparison.Ordinal));
        Assert.Contains(ex.Problems, p => p.Contains("'local'", StringComparison.Ordinal) && p.Contains("AllowPrivateNetwork", StringComparison.Ordinal));
        Assert.Contains(ex.Problems, p => p.Contains("'meta'", StringComparison.Ordinal) && p.Contains("link-local", StringComparison.Ordinal));
        Assert.Contains(ex.Problems, p => p.Contains("'meta'", StringComparison.Ordinal) && p.Contains("TokenEndpointAuthMethod", StringComparison.Ordinal));
        Assert.Contains(ex.Problems, p => p.Contains("'meta'", StringComparison.Ordinal) && p.Contains("AllowPrivateNetwork must be", StringComparison.Ordinal));
        Assert.Contains(ex.Problems, p => p.Contains("'bad id!'", StringComparison.Ordinal) && p.Contains("slug", StringComparison.Ordinal));
        Assert.Contains(ex.Problems, p => p.Contains("'github'", StringComparison.Ordinal) && p.Contains("unknown setting 'ClientSecrt'", StringComparison.Ordinal));
        Assert.True(ex.Problems.Count >= 10, all);
        Assert.DoesNotContain("super-secret-value", ex.Message, StringComparison.Ordinal);
        Assert.DoesNotContain("typo", all, StringComparison.Ordinal);
    }

    [Fact]
    public async Task TokenRequestFormat_IsCatalogData_JsonForNotion_FormByDefault_AndConfigurable()
    {
        var catalog = await Build(Config(
            ("Providers:acme:AuthorizationEndpoint", "https://id.acme.test/authorize"),
            ("Providers:acme:TokenEndpoint", "https://id.acme.test/token"),
            ("Providers:acme:TokenRequestFormat", "JSON"),
            ("Providers:notion:TokenRequestFormat", "form")));

        Assert.Equal(TokenRequestFormat.Json, catalog.Find("acme")!.TokenRequestFormat);
        Assert.Equal(TokenRequestFormat.Form, catalog.Find("github")!.TokenRequestFormat);
        Assert.Equal(TokenRequestFormat.Json, BuiltInProviders.Find("notion")!.TokenRequestFormat);
        Assert.Equal(TokenRequestFormat.Form, catalog.Find("notion")!.TokenRequestFormat);

        var ex = await Assert.ThrowsAsync<CatalogValidationException>(() => Build(Config(("Providers:github:TokenRequestFormat", "xml"))));
        Assert.Contains(ex.Problems, p => p.Contains("'github'", StringComparison.Ordinal) && p.Contains("TokenRequestFormat must be form or json", StringComparison.Ordinal));
    }

    [Fact]
    public async Task ApiKeyProvider_AMalformedHeaderLine_IsOneProblem_NotAlsoAMissingOne()
    {
        var malformed = await Assert.ThrowsAsync<CatalogValidationException>(() => Build(Config(
            ("Providers:keyed:AuthMode", "api_key"), ("Providers:keyed:ApiBaseUrl", "https://api.keyed.test"),
            ("Providers:keyed:ApiKeyHeader", "x-api-key secret"))));
        var missing = await Assert.ThrowsAsync<CatalogValidationException>(() => Build(Config(
            ("Providers:keyed:AuthMode", "api_key"), ("Providers:keyed:ApiBaseUrl", "https://api.keyed.test"))));

        var problem = Assert.Single(malformed.Problems, p => p.Contains("'keyed'", StringComparison.Ordinal));
        Assert.Contains("ApiKeyHeader", problem, StringComparison.Ordinal);
        Assert.DoesNotContain("needs ApiKeyHeader", problem, StringComparison.Ordinal);
        Assert.Contains(missing.Problems, p => p.Contains("'keyed'", StringComparison.Ordinal) && p.Contains("needs ApiKeyHeader", StringComparison.Ordinal));
    }

    [Fact]
    public async Task LoopbackProvider_IsAccepted_WithAllowPrivateNetwork()
    {
        var catalog = await Build(Config(
            ("Providers:local:AuthorizationEndpoint", "http://127.0.0.1:9000/authorize"),
            ("Providers:local:TokenEndpoint", "http://localhost:9000/token"),
            ("Providers:local:AllowPrivateNetwork", "true")));

        Assert.True(catalog.Find("local")!.AllowPrivateNetwork);
    }

    [Fact]
    public async Task AddValetProviders_IsIdempotent_AndBuildsTheCatalogAtStart()
    {
        var services = new ServiceCollection();
        services.AddSingleton(Config(("Providers:github:ClientId", "cid")));
        services.AddValetProviders().AddValetProviders();
        await using var sp = services.BuildServiceProvider();

        foreach (var hosted in sp.GetServices<IHostedService>())
        {
            await hosted.StartAsync(default);
        }

        Assert.Single(services, d => d.ServiceType == typeof(IProviderCatalog));
        Assert.Single(services, d => d.ServiceType == typeof(IOAuthClient));
        Assert.Equal("cid", sp.GetRequiredService<IProviderCatalog>().Find("github")!.ClientId);
        Assert.IsType<OAuthClient>(sp.GetRequiredService<IOAuthClient>());
    }
}
