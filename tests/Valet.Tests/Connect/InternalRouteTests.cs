using System.Net;
using System.Net.Http.Json;
using System.Text;
using Valet.Tests.Infrastructure;

namespace Valet.Tests.Connect;

/// <summary>/internal/* accepts only the service principal, on every path that reaches it.</summary>
public sealed class InternalRouteTests : IAsyncLifetime
{
    private ValetTestServer _server = null!;

    public async Task InitializeAsync() => _server = await ValetTestServer.StartAsync();

    public async Task DisposeAsync() => await _server.DisposeAsync();

    public static TheoryData<string> Paths => new()
    {
        "/internal/oauth/connect/start",
        "/INTERNAL/oauth/connect/start",
        "//internal/oauth/connect/start",
        "/internal//oauth/connect/start",
        "/%69nternal/oauth/connect/start",
        "/internal%2Foauth%2Fconnect%2Fstart",
        "/v1/../internal/oauth/connect/start",
        "/internal/oauth/connect/./start",
        "/internal/oauth/connect/start/",
    };

    [Theory]
    [MemberData(nameof(Paths))]
    public async Task ApiKey_AndAdminToken_AreRefused_OnEveryPath(string path)
    {
        var (_, key) = await _server.CreateKeyAsync("default", new { provider = "github" });
        foreach (var bearer in new[] { key, ValetTestServer.AdminToken })
        {
            using var client = _server.Client(bearer);
            using var request = new HttpRequestMessage(HttpMethod.Post, new Uri(_server.BaseUrl.ToString().TrimEnd('/') + path))
            {
                Content = new StringContent("""{"provider":"github"}""", Encoding.UTF8, "application/json"),
            };

            var response = await client.SendAsync(request);

            Assert.True(response.StatusCode is HttpStatusCode.Forbidden or HttpStatusCode.NotFound,
                $"{path} with {(bearer == key ? "an API key" : "the admin token")}: {(int)response.StatusCode}");
        }
    }

    [Fact]
    public async Task Status_RefusesOtherPrincipals_AndAnonymousIs401()
    {
        var (_, key) = await _server.CreateKeyAsync("default");
        using var agent = _server.Client(key);
        using var anonymous = _server.Client(null);

        Assert.Equal(HttpStatusCode.Forbidden, (await agent.GetAsync("/internal/oauth/connect/status/abc")).StatusCode);
        Assert.Equal(HttpStatusCode.Unauthorized, (await anonymous.GetAsync("/internal/oauth/connect/status/abc")).StatusCode);
        Assert.Equal(HttpStatusCode.Unauthorized, (await anonymous.PostAsJsonAsync("/internal/oauth/connect/start", new { provider = "github" })).StatusCode);
    }

    [Fact]
    public async Task ServicePrincipal_IsAccepted_AndGetsClearErrors()
    {
        using var service = _server.Client(_server.ServiceToken);

        var noClient = await service.PostAsJsonAsync("/internal/oauth/connect/start", new { provider = "github" });
        var unknown = await service.PostAsJsonAsync("/internal/oauth/connect/start", new { provider = "nope" });
        var badTransport = await service.PostAsJsonAsync("/internal/oauth/connect/start", new { provider = "github", callback_transport = "carrier-pigeon" });

        Assert.Equal(HttpStatusCode.UnprocessableEntity, noClient.StatusCode);
        Assert.Contains("no_client", await noClient.Content.ReadAsStringAsync(), StringComparison.Ordinal);
        Assert.Equal(HttpStatusCode.UnprocessableEntity, unknown.StatusCode);
        Assert.Equal(HttpStatusCode.UnprocessableEntity, badTransport.StatusCode);
        Assert.Equal(HttpStatusCode.NotFound, (await service.GetAsync("/internal/oauth/connect/status/nope")).StatusCode);
    }
}
