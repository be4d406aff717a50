using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Configuration;
using Valet.Core.Providers;
using Valet.Tests.OAuth;

namespace Valet.Tests.Providers;

public sealed class DiscoveryTests
{
    private static Task<ProviderCatalog> Build(params (string Key, string Value)[] pairs) =>
        ProviderCatalogBuilder.BuildAsync(
            new ConfigurationBuilder().AddInMemoryCollection(pairs.Select(p => new KeyValuePair<string, string?>(p.Key, p.Value))).Build(),
            new HttpClient(), default);

    private static object Metadata(string issuer, string root, bool iss = true) => new
    {
        issuer,
        authorization_endpoint = root + "/auth",
        token_endpoint = root + "/token",
        revocation_endpoint = root + "/revoke",
        userinfo_endpoint = root + "/me",
        authorization_response_iss_parameter_supported = iss,
    };

    [Fact]
    public async Task Rfc8414Metadata_FillsEndpoints_AndExplicitSettingsWin()
    {
        string issuer = "";
        await using var fake = await FakeProvider.StartAsync(app =>
            app.MapGet("/.well-known/oauth-authorization-server", () => Results.Json(Metadata(issuer, issuer))));
        issuer = fake.BaseUri.AbsoluteUri.TrimEnd('/');

        var catalog = await Build(
            ("Providers:ACME:Issuer", issuer),
            ("Providers:ACME:AllowPrivateNetwork", "true"),
            ("Providers:ACME:TokenEndpoint", issuer + "/explicit-token"));

        var acme = catalog.Find("acme")!;
        Assert.Equal(issuer, acme.Issuer);
        Assert.Equal(new Uri(issuer + "/auth"), acme.AuthorizationEndpoint);
        Assert.Equal(new Uri(issuer + "/explicit-token"), acme.TokenEndpoint);
        Assert.Equal(new Uri(issuer + "/revoke"), acme.RevocationEndpoint);
        Assert.Equal(new Uri(issuer + "/me"), acme.UserInfoEndpoint);
        Assert.True(acme.IssParameterSupported);
        Assert.Equal(("sub", "preferred_username", "email"), (acme.Identity.IdPath, acme.Identity.LoginPath, acme.Identity.EmailPath));
    }

    [Fact]
    public async Task OpenIdConfiguration_IsTheFallback()
    {
        string issuer = "";
        await using var fake = await FakeProvider.StartAsync(app =>
            app.MapGet("/.well-known/openid-configuration", () => Results.Json(Metadata(issuer, issuer, iss: false))));
        issuer = fake.BaseUri.AbsoluteUri.TrimEnd('/');

        var catalog = await Build(("Providers:oidc:Issuer", issuer), ("Providers:oidc:AllowPrivateNetwork", "true"));

        Assert.Equal(new Uri(issuer + "/token"), catalog.Find("oidc")!.TokenEndpoint);
        Assert.False(catalog.Find("oidc")!.IssParameterSupported);
    }

    [Fact]
    public async Task IssuerWithPath_UsesRfc8414PathInsertion()
    {
        string issuer = "";
        var hits = new List<string>();
        await using var fake = await FakeProvider.StartAsync(app =>
        {
            app.Use(async (ctx, next) => { hits.Add(ctx.Request.Path); await next(); });
            app.MapGet("/.well-known/oauth-authorization-server/tenants/t1", () => Results.Json(Metadata(issuer, issuer)));
        });
        issuer = fake.BaseUri.AbsoluteUri + "tenants/t1";

        var catalog = await Build(("Providers:tenant:Issuer", issuer), ("Providers:tenant:AllowPrivateNetwork", "true"));

        Assert.Equal(new Uri(issuer + "/auth"), catalog.Find("tenant")!.AuthorizationEndpoint);
        Assert.Equal(["/.well-known/oauth-authorization-server/tenants/t1"], hits);
    }

    [Fact]
    public void CandidateUrls_FollowRfc8414ThenOidc()
    {
        var urls = ProviderDiscovery.CandidateUrls(new Uri("https://id.example.com/realms/x/")).Select(u => u.AbsoluteUri);

        Assert.Equal(
        [
            "https://id.example.com/.well-known/oauth-authorization-server/realms/x",
            "https://id.example.com/realms/x/.well-known/openid-configuration",
            "https://id.example.com/.well-known/openid-configuration/realms/x",
        ], urls);
    }

    [Fact]
    public async Task IssuerMismatch_IsAProblem()
    {
        string root = "";
        await using var fake = await FakeProvider.StartAsync(app =>
            app.MapGet("/.well-known/oauth-authorization-server", () => Results.Json(Metadata("https://attacker.example.com", root))));
        root = fake.BaseUri.AbsoluteUri.TrimEnd('/');

        var ex = await Assert.ThrowsAsync<CatalogValidationException>(() =>
            Build(("Providers:acme:Issuer", root), ("Providers:acme:AllowPrivateNetwork", "true")));

        Assert.Contains(ex.Problems, p => p.Contains("issuer mismatch", StringComparison.Ordinal) && p.Contains("attacker.example.com", StringComparison.Ordinal));
    }

    [Fact]
    public async Task DiscoveryFailure_AndPrivateIssuerWithoutOptIn_AreProblems_ReportedTogether()
    {
        await using var fake = await FakeProvider.StartAsync(_ => { });
        var root = fake.BaseUri.AbsoluteUri.TrimEnd('/');

        var ex = await Assert.ThrowsAsync<CatalogValidationException>(() => Build(
            ("Providers:gone:Issuer", root),
            ("Providers:gone:AllowPrivateNetwork", "true"),
            ("Providers:shy:Issuer", root)));

        Assert.Contains(ex.Problems, p => p.Contains("'gone'", StringComparison.Ordinal) && p.Contains("discovery", StringComparison.Ordinal) && p.Contains("404", StringComparison.Ordinal));
        Assert.Contains(ex.Problems, p => p.Contains("'shy'", StringComparison.Ordinal) && p.Contains("AllowPrivateNetwork", StringComparison.Ordinal));
    }
}
