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

    public static OAuthClient NewClient(HttpClient? http = null, TimeProvider? time = null) =>
        new(http ?? new HttpClient(), time ?? TimeProvider.System);
}
