using Microsoft.Extensions.DependencyInjection;
using Valet.Core.OAuth;
using Valet.Core.Providers;

namespace Valet.Tests.OAuth;

internal static class OAuthTestData
{
    /// <summary>A built-in provider with its quirks intact, its endpoints moved onto a local fake.</summary>
    public static ProviderDefinition At(string id, FakeProvider fake) => BuiltInProviders.Find(id)! with
    {
        AuthorizationEndpoint = fake.Url("authorize"),
        TokenEndpoint = fake.Url("token"),
        RevocationEndpoint = fake.Url("revoke"),
        UserInfoEndpoint = fake.Url("userinfo"),
        AllowPrivateNetwork = true,
    };

    public static ClientCredentials Client(string secret = "client-secret-value") => new("client-id", new(secret));

    /// <summary>
    /// The client as the server registers it (<c>AddValetOAuthClient()</c>, hardened handler); or, when a test brings its
    /// own <paramref name="http"/>, over that one client.
    /// </summary>
    public static OAuthClient NewClient(HttpClient? http = null, TimeProvider? time = null) =>
        new(http is null ? Registered.GetRequiredService<IHttpClientFactory>() : new SingleClientFactory(http), time ?? TimeProvider.System);

    private static readonly ServiceProvider Registered = new ServiceCollection().AddValetOAuthClient().BuildServiceProvider();

    private sealed class SingleClientFactory(HttpClient http) : IHttpClientFactory
    {
        public HttpClient CreateClient(string name) => http;
    }
}
