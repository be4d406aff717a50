using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Valet.Tests.Infrastructure;

namespace Valet.Tests.Credentials;

/// <summary>
/// Starting a device flow (<c>valet connect … --device</c>, RFC 8628 §3.1–3.2) against a device authorization endpoint
/// that refuses or fails: a refusal (an OAuth error such as <c>invalid_scope</c>) is the caller's to fix — 422
/// <c>device_authorization_refused</c> — and an outage is <c>provider_unavailable</c> with <c>Retry-After</c>. A provider
/// without the grant leaves no credential behind.
/// </summary>
public sealed class DeviceStartFailureTests : IAsyncLifetime
{
    private WebApplication _provider = null!;
    private ValetTestServer _server = null!;
    private (int Status, string Body) _answer;

    public async Task InitializeAsync()
    {
        var builder = WebApplication.CreateSlimBuilder();
        builder.Logging.ClearProviders();
        builder.WebHost.UseUrls("http://127.0.0.1:0");
        _provider = builder.Build();
        _provider.MapPost("/device/auth", () => Results.Content(_answer.Body, "application/json", statusCode: _answer.Status));
        await _provider.StartAsync();
        var url = _provider.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.First();
        _server = await ValetTestServer.StartAsync(new Dictionary<string, string?>
        {
            ["Providers:dev:AuthorizationEndpoint"] = url + "/authorize",
            ["Providers:dev:TokenEndpoint"] = url + "/token",
            ["Providers:dev:DeviceAuthorizationEndpoint"] = url + "/device/auth",
            ["Providers:dev:ClientId"] = "dev-client",
            ["Providers:dev:ClientSecret"] = "dev-secret",
            ["Providers:dev:Scopes"] = "read",
            ["Providers:dev:AllowPrivateNetwork"] = "true",
            ["Providers:nodevice:AuthorizationEndpoint"] = url + "/authorize",
            ["Providers:nodevice:TokenEndpoint"] = url + "/token",
            ["Providers:nodevice:AllowPrivateNetwork"] = "true",
        });
    }

    public async Task DisposeAsync()
    {
        await _server.DisposeAsync();
        await _provider.DisposeAsync();
    }

    [Fact]
    public async Task ARefusal_Is422DeviceAuthorizationRefused_AnOutage_IsProviderUnavailableWithRetryAfter()
    {
        using var cli = _server.Client(_server.ServiceToken);

        _answer = (400, """{"error":"invalid_scope","error_description":"no such scope"}""");
        using var refused = await cli.PostAsJsonAsync("/internal/oauth/connect/device", new { provider = "dev", scopes = new[] { "bad" } });
        Assert.Equal(HttpStatusCode.UnprocessableEntity, refused.StatusCode);
        var problem = await refused.Content.ReadFromJsonAsync<JsonElement>();
        Assert.Equal("device_authorization_refused", problem.GetProperty("code").GetString());
        Assert.Contains("invalid_scope", problem.GetProperty("detail").GetString(), StringComparison.Ordinal);
        Assert.Null(refused.Headers.RetryAfter);

        _answer = (503, """{"error":"temporarily_unavailable"}""");
        using var down = await cli.PostAsJsonAsync("/internal/oauth/connect/device", new { provider = "dev" });
        Assert.Equal(HttpStatusCode.BadGateway, down.StatusCode);
        Assert.Equal("provider_unavailable", (await down.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("code").GetString());
        Assert.Equal(TimeSpan.FromSeconds(5), down.Headers.RetryAfter?.Delta);
    }

    [Fact]
    public async Task AProviderWithoutTheGrant_IsRefusedBeforeTheClientGivenWithItIsStored()
    {
        using var cli = _server.Client(_server.ServiceToken);

        using var unsupported = await cli.PostAsJsonAsync("/internal/oauth/connect/device",
            new { provider = "nodevice", client_id = "stray-client", client_secret = "stray-secret" });

        Assert.Equal(HttpStatusCode.UnprocessableEntity, unsupported.StatusCode);
        Assert.Equal("device_flow_unsupported", (await unsupported.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("code").GetString());
        var credentials = await cli.GetStringAsync("/v1/orgs/default/credentials");
        Assert.DoesNotContain("stray-client", credentials, StringComparison.Ordinal);
    }
}
