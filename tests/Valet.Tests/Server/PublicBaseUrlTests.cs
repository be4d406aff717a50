using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using Valet.Tests.Infrastructure;

namespace Valet.Tests.Server;

/// <summary>SPEC §7: a URL Valet hands out is built from VALET_PUBLIC_URL or the listening address, never from Host.</summary>
public sealed class PublicBaseUrlTests
{
    /// <summary>Without VALET_PUBLIC_URL the base is the listening address; with it, the public URL. Host never counts.</summary>
    [Fact]
    public async Task ConnectUrl_IgnoresAForgedHostHeader()
    {
        await ConnectUrlStartsWithAsync(publicUrl: null);
        await ConnectUrlStartsWithAsync(publicUrl: "https://valet.example");
    }

    private static async Task ConnectUrlStartsWithAsync(string? publicUrl)
    {
        await using var provider = await FakeOAuthServer.StartAsync();
        var settings = provider.ProviderSettings("acme");
        settings["Providers:acme:ClientId"] = "c-acme";
        settings["Providers:acme:ClientSecret"] = "s";
        settings["PUBLIC_URL"] = publicUrl;
        await using var server = await ValetTestServer.StartAsync(settings);
        var (_, key) = await server.CreateKeyAsync("default", new { provider = "acme" });
        using var agent = server.Client(key);

        using var request = new HttpRequestMessage(HttpMethod.Post, "/v1/providers/acme/token");
        request.Headers.Host = "phish.example";
        using var response = await agent.SendAsync(request);
        var envelope = await response.Content.ReadFromJsonAsync<JsonElement>();

        Assert.Equal(HttpStatusCode.Conflict, response.StatusCode);
        var expectedBase = publicUrl ?? server.BaseUrl.GetLeftPart(UriPartial.Authority);
        Assert.True(envelope.TryGetProperty("connect_url", out var connectUrl), envelope.ToString());
        Assert.StartsWith(expectedBase + "/connect-authorize?flow=", connectUrl.GetString(), StringComparison.Ordinal);
    }
}
