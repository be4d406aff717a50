using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Valet.Core.Domain;
using Valet.Core.OAuth;
using Valet.Core.Providers;
using static Valet.Tests.OAuth.OAuthTestData;

namespace Valet.Tests.OAuth;

/// <summary>
/// SPEC §7: outbound OAuth calls never follow a redirect. Each endpoint answers 302, 307 or 308 towards a second local
/// port; that port must receive nothing, and the answer is a provider error. The client here is the one
/// <c>AddValetOAuthClient()</c> registers (see <see cref="OAuthTestData.NewClient"/>).
/// </summary>
public sealed class RedirectRefusalTests
{
    public static TheoryData<int> Redirects => new() { 302, 307, 308 };

    [Theory]
    [MemberData(nameof(Redirects))]
    public async Task Exchange_RedirectAnswer_IsAProviderError_AndTheCodeGoesNowhereElse(int status)
    {
        await using var fake = await RedirectingProvider.StartAsync();

        var result = await NewClient().ExchangeCodeAsync(fake.Provider(status), Client(), "the-code", "http://127.0.0.1/cb", "the-verifier", default);

        Assert.False(result.IsSuccess);
        Assert.Equal(TokenErrorKind.Transient, result.Error!.Kind);
        Assert.Equal(TokenResponseReader.ProviderRedirect, result.Error.Code);
        Assert.Equal(status, result.Error.HttpStatus);
        Assert.Empty(fake.Received);
    }

    [Theory]
    [MemberData(nameof(Redirects))]
    public async Task Refresh_RedirectAnswer_IsTransient_AndTheRefreshTokenGoesNowhereElse(int status)
    {
        await using var fake = await RedirectingProvider.StartAsync();

        var result = await NewClient().RefreshAsync(fake.Provider(status), Client(), "the-refresh-token", default);

        Assert.False(result.IsSuccess);
        Assert.Equal(TokenErrorKind.Transient, result.Error!.Kind);
        Assert.False(result.Error.IsTerminal);
        Assert.Equal(TokenResponseReader.ProviderRedirect, result.Error.Code);
        Assert.Empty(fake.Received);
    }

    [Theory]
    [MemberData(nameof(Redirects))]
    public async Task Revoke_RedirectAnswer_IsNotRevoked_AndTheTokenGoesNowhereElse(int status)
    {
        await using var fake = await RedirectingProvider.StartAsync();

        var revoked = await NewClient().RevokeAsync(fake.Provider(status), Client(), "the-refresh-token", "refresh_token", default);

        Assert.False(revoked);
        Assert.Empty(fake.Received);
    }

    [Theory]
    [MemberData(nameof(Redirects))]
    public async Task UserInfo_RedirectAnswer_IsNeverAnotherHostsIdentity(int status)
    {
        await using var fake = await RedirectingProvider.StartAsync();
        var client = NewClient();

        var withoutHint = await client.GetIdentityAsync(fake.Provider(status), new TokenSet { AccessToken = new Secret("the-access-token") }, default);
        var withHint = await client.GetIdentityAsync(fake.Provider(status),
            new TokenSet { AccessToken = new Secret("the-access-token"), AccountIdHint = "from-the-token-endpoint" }, default);

        Assert.Null(withoutHint); // the flow then fails with identity_unavailable
        Assert.Equal(new AccountIdentity("from-the-token-endpoint", null, null), withHint);
        Assert.Empty(fake.Received);
    }

    [Theory]
    [MemberData(nameof(Redirects))]
    public async Task Discovery_RedirectAnswer_FailsTheCatalog_WithAReadableProblem(int status)
    {
        await using var fake = await RedirectingProvider.StartAsync();
        var issuer = fake.Redirector.Url(status.ToString(System.Globalization.CultureInfo.InvariantCulture)).AbsoluteUri.TrimEnd('/');
        var configuration = new ConfigurationBuilder().AddInMemoryCollection(new Dictionary<string, string?>
        {
            ["Providers:acme:Issuer"] = issuer,
            ["Providers:acme:AllowPrivateNetwork"] = "true",
        }).Build();

        // The boot overload: the same hardened handler, before any container exists.
        var error = await Assert.ThrowsAsync<CatalogValidationException>(() => ProviderCatalogBuilder.BuildAsync(configuration, default));

        var problem = Assert.Single(error.Problems, p => p.Contains("discovery for issuer", StringComparison.Ordinal));
        Assert.StartsWith("provider 'acme'", problem, StringComparison.Ordinal);
        Assert.Contains($"answered a redirect (HTTP {status}), which Valet does not follow", problem, StringComparison.Ordinal);
        Assert.DoesNotContain('\n', error.Message);
        Assert.Empty(fake.Received);
    }

    [Fact]
    public async Task AnAnswerFromAnotherHost_IsRefused_EvenOverAClientThatFollowsRedirects()
    {
        // Defence in depth: if a redirect-following handler ever slipped in, the answer it brings back is still not used.
        await using var fake = await RedirectingProvider.StartAsync();
        using var following = new HttpClient();
        var client = NewClient(following);

        var exchange = await client.ExchangeCodeAsync(fake.Provider(302), Client(), "c", "http://127.0.0.1/cb", "v", default);
        var identity = await client.GetIdentityAsync(fake.Provider(302), new TokenSet { AccessToken = new Secret("at") }, default);

        Assert.Equal(TokenResponseReader.ProviderRedirect, exchange.Error?.Code);
        Assert.Null(identity);
        Assert.NotEmpty(fake.Received); // this client did follow: the refusal above is the last line, not the first
    }

    [Fact]
    public void AddValetOAuthClient_IsIdempotent_AndTheClientIsASingletonOverTheFactory()
    {
        var services = new ServiceCollection();

        services.AddValetOAuthClient().AddValetOAuthClient().AddValetProviders();

        var descriptor = Assert.Single(services, d => d.ServiceType == typeof(IOAuthClient));
        Assert.Equal(ServiceLifetime.Singleton, descriptor.Lifetime);
        Assert.Equal(typeof(OAuthClient), descriptor.ImplementationType);
        Assert.Null(typeof(OAuthClient).GetConstructors().Single().GetParameters().FirstOrDefault(p => p.ParameterType == typeof(HttpClient)));
    }

    [Fact]
    public void TheHardenedHandler_FollowsNoRedirect_AndHasTimeouts()
    {
        var pools = new List<SocketsHttpHandler>();
        using var handler = OAuthHttp.CreateHandler(pools.Add); // one pool per address policy
        using var standalone = OAuthHttp.CreateStandaloneClient();

        Assert.Equal(2, pools.Count);
        foreach (var pool in pools)
        {
            Assert.False(pool.AllowAutoRedirect);
            Assert.False(pool.UseCookies);
            Assert.True(pool.ConnectTimeout <= TimeSpan.FromSeconds(30));
            Assert.True(pool.PooledConnectionLifetime <= TimeSpan.FromMinutes(10));
            Assert.NotNull(pool.ConnectCallback);
        }

        Assert.Equal(OAuthHttp.Timeout, standalone.Timeout);
    }
}
