using Microsoft.Extensions.Configuration;
using Valet.Core.Providers;

namespace Valet.Tests.Providers;

/// <summary>Templated provider URLs: what a declaration may say (checked at boot) and what a binding may give (checked per connection).</summary>
public sealed class ConnectionParametersTests
{
    private static ProviderDefinition Templated(string host, ConnectionParameterKind kind = ConnectionParameterKind.HostLabel, string name = "sub",
        bool allowPrivate = false) => new()
    {
        Id = "acme",
        DisplayName = "Acme",
        ConnectionParameters = [new ConnectionParameterDefinition { Name = name, Kind = kind }],
        UrlTemplates = new ProviderUrlTemplates
        {
            AuthorizationEndpoint = host + "/oauth/authorize",
            TokenEndpoint = host + "/oauth/token",
            ApiBaseUrls = [host + "/api"],
        },
        AllowPrivateNetwork = allowPrivate,
    };

    private static Task<ProviderCatalog> Build(IEnumerable<ProviderDefinition> providers, params (string Key, string Value)[] config) =>
        ProviderCatalogBuilder.BuildAsync(
            new ConfigurationBuilder().AddInMemoryCollection(config.Select(p => new KeyValuePair<string, string?>(p.Key, p.Value))).Build(),
            providers, new HttpClient(), default);

    [Fact]
    public void Bind_FillsEveryTemplate_WithTheLowerCasedLabel()
    {
        var zendesk = BuiltInProviders.Find("zendesk")!;

        var bound = ConnectionParameters.Bind(zendesk, new Dictionary<string, string> { ["subdomain"] = "Acme-Corp" }, out var problem);

        Assert.Null(problem);
        Assert.Equal("https://acme-corp.zendesk.com/oauth/authorizations/new", bound!.AuthorizationEndpoint!.AbsoluteUri);
        Assert.Equal("https://acme-corp.zendesk.com/oauth/tokens", bound.TokenEndpoint!.AbsoluteUri);
        Assert.Equal("https://acme-corp.zendesk.com/api/v2/users/me", bound.UserInfoEndpoint!.AbsoluteUri);
        Assert.Equal(["https://acme-corp.zendesk.com/api/v2"], bound.ApiBaseUrls);
        Assert.Null(zendesk.TokenEndpoint); // unbound, the provider has no URL at all: nothing can call it by mistake
    }

    [Fact]
    public void Bind_PathToken_TakesOneSegment()
    {
        var provider = Templated("https://login.example.com/{tenant}", ConnectionParameterKind.PathToken, "tenant");

        var bound = ConnectionParameters.Bind(provider, new Dictionary<string, string> { ["tenant"] = "Contoso.onmicrosoft.com" }, out _);
        var refused = ConnectionParameters.Bind(provider, new Dictionary<string, string> { ["tenant"] = ".." }, out var problem);

        Assert.Equal("https://login.example.com/Contoso.onmicrosoft.com/oauth/token", bound!.TokenEndpoint!.AbsoluteUri);
        Assert.Null(refused);
        Assert.Contains("one path segment", problem, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("https://{sub}.254.169.254", "169", false)] // 169.254.169.254: cloud metadata, never
    [InlineData("https://{sub}.254.169.254", "169", true)]
    [InlineData("https://{sub}.0.0.1", "127", false)]       // 127.0.0.1: loopback, only with AllowPrivateNetwork
    [InlineData("https://{sub}.168.0.1", "192", false)]
    public void Bind_WhenTheResolvedHostIsAPrivateOrLinkLocalAddress_IsRefused(string host, string value, bool allowPrivate)
    {
        var provider = Templated(host, allowPrivate: allowPrivate);

        var bound = ConnectionParameters.Bind(provider, new Dictionary<string, string> { ["sub"] = value }, out var problem);

        Assert.Null(bound);
        Assert.Contains("may not use", problem, StringComparison.Ordinal);
    }

    public static TheoryData<string, string> BadTemplates => new()
    {
        { "https://zendesk.{sub}", "at least two fixed labels" },          // the registrable domain would be the caller's
        { "https://{sub}.com", "at least two fixed labels" },
        { "https://x{sub}.example.com", "whole label" },
        { "https://{other}.example.com", "undeclared parameter 'other'" },
        { "https://{sub}.example.com:{sub}", "port" },
        { "https://example.com/{sub}", "path-token parameter" },          // a host label where a segment goes
        { "https://example.com/api?x={sub}", "only in host labels and path segments" },
        { "{sub}://example.com", "only in host labels and path segments" },
        { "https://example.com", "used by no URL template" },
    };

    [Theory]
    [MemberData(nameof(BadTemplates))]
    public async Task Declaration_PlaceholdersThatCouldMoveTheHost_FailTheBoot(string host, string expected)
    {
        var ex = await Assert.ThrowsAsync<CatalogValidationException>(() => Build([Templated(host)]));

        Assert.Contains(ex.Problems, p => p.Contains("'acme'", StringComparison.Ordinal) && p.Contains(expected, StringComparison.Ordinal));
    }

    [Fact]
    public async Task Override_AnExplicitUrl_ReplacesItsTemplate_AndAParameterNoTemplateUses_IsDropped()
    {
        var catalog = await Build(BuiltInProviders.All,
            ("Providers:zendesk:AuthorizationEndpoint", "https://support.example.com/oauth/authorizations/new"),
            ("Providers:zendesk:TokenEndpoint", "https://support.example.com/oauth/tokens"),
            ("Providers:zendesk:UserInfoEndpoint", "https://support.example.com/api/v2/users/me"),
            ("Providers:zendesk:ApiBaseUrl", "https://support.example.com/api/v2"));

        var zendesk = catalog.Find("zendesk")!;

        Assert.Empty(zendesk.ConnectionParameters);
        Assert.Null(zendesk.UrlTemplates);
        Assert.Same(zendesk, ConnectionParameters.Bind(zendesk, null, out _));
        Assert.Equal("support.example.com", zendesk.TokenEndpoint!.Host);
    }

    [Fact]
    public void Normalize_NamesTheMissingOrUnknownParameter_AndAProviderWithoutParametersTakesNone()
    {
        var zendesk = BuiltInProviders.Find("zendesk")!;

        Assert.Null(ConnectionParameters.Normalize(zendesk, null, out var missing));
        Assert.Null(ConnectionParameters.Normalize(zendesk, new Dictionary<string, string> { ["subdomain"] = "a", ["x"] = "b" }, out var unknown));
        Assert.Null(ConnectionParameters.Normalize(BuiltInProviders.Find("github")!, new Dictionary<string, string> { ["x"] = "b" }, out var none));

        Assert.Contains("needs the connection parameter 'subdomain'", missing, StringComparison.Ordinal);
        Assert.Contains("no connection parameter 'x'", unknown, StringComparison.Ordinal);
        Assert.Contains("takes no connection parameters", none, StringComparison.Ordinal);
    }
}
