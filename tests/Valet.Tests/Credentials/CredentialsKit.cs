using System.Net.Http.Json;
using System.Text.Json;
using Valet.Tests.Infrastructure;

namespace Valet.Tests.Credentials;

/// <summary>The real IdP with 10-second client-credentials tokens, for renewal tests.</summary>
public sealed class ShortClientCredentialsIdpFixture : IdpFixture
{
    protected override int AccessTokenTtl => 10;
}

/// <summary>Shared steps of the client-credentials and device-flow tests against the real IdP.</summary>
internal static class CredentialsKit
{
    public const string CcClientId = "valet-cc";
    public const string CcClientSecret = "valet-cc-secret";
    public const string DeviceClientId = "valet-device";
    public const string DeviceClientSecret = "valet-device-secret";

    /// <summary>A runtime <c>oauth2_cc</c> provider document discovered from the IdP.</summary>
    public static object ClientCredentialsProvider(IdpFixture idp, string apiBase) => new
    {
        display_name = "Machine API",
        auth_mode = "oauth2_cc",
        issuer = idp.Issuer,
        scopes = new[] { "read", "write" },
        api_base_url = apiBase,
        allow_private_network = true,
    };

    public static async Task<int> ClientCredentialsCallsAsync(IdpFixture idp) =>
        (await idp.StatsAsync()).GetProperty("client_credentials").GetInt32();

    /// <summary>Registers the IdP's machine client as a BYOC credential of <paramref name="provider"/>; returns its id.</summary>
    public static async Task<string> RegisterClientAsync(HttpClient admin, string provider, string secret = CcClientSecret, string org = "default")
    {
        var response = await admin.PostAsJsonAsync($"/v1/orgs/{org}/credentials", new { provider, client_id = CcClientId, client_secret = secret });
        var body = await response.Content.ReadFromJsonAsync<JsonElement>();
        Assert.True(response.IsSuccessStatusCode, body.ToString());
        return body.GetProperty("id").GetString()!;
    }

    public static async Task<string> CreateConnectionAsync(HttpClient admin, object request, string org = "default")
    {
        var response = await admin.PostAsJsonAsync($"/v1/orgs/{org}/connections", request);
        var body = await response.Content.ReadFromJsonAsync<JsonElement>();
        Assert.True(response.IsSuccessStatusCode, body.ToString());
        return body.GetProperty("id").GetString()!;
    }

    public static async Task<bool> EventuallyAsync(Func<Task<bool>> condition, TimeSpan within)
    {
        var deadline = DateTimeOffset.UtcNow + within;
        while (DateTimeOffset.UtcNow < deadline)
        {
            if (await condition())
            {
                return true;
            }

            await Task.Delay(100);
        }

        return await condition();
    }
}
