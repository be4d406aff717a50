using System.Net;
using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Text;
using System.Text.Json;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Valet.Tests.Connect;
using Valet.Tests.Infrastructure;

namespace Valet.Tests.Proxy;

/// <summary>
/// The proxy against real parts end to end: a connection made in Chromium at the real oidc-provider, and an upstream
/// resource server that accepts a bearer only when the IdP's introspection says it is active.
/// </summary>
[Collection("idp")]
public sealed class ProxyAgainstRealIdpTests(IdpFixture idp, BrowserFixture browser) : ConnectTestBase(idp, browser)
{
    private WebApplication? _upstream;
    private string _upstreamUrl = null!;
    private readonly System.Collections.Concurrent.ConcurrentDictionary<string, bool> _distrusted = new(StringComparer.Ordinal);
    private int _rejected;

    protected override IDictionary<string, string?> ExtraSettings
    {
        get
        {
            // The upstream must exist before the server reads its configuration.
            var builder = WebApplication.CreateSlimBuilder();
            builder.Logging.ClearProviders();
            builder.WebHost.UseUrls("http://127.0.0.1:0");
            _upstream = builder.Build();
            _upstream.MapGet("/api/whoami", async (HttpRequest request) =>
            {
                var header = request.Headers.Authorization.ToString();
                var token = header.StartsWith("Bearer ", StringComparison.Ordinal) ? header[7..] : string.Empty;
                if (token.Length == 0 || _distrusted.ContainsKey(token) || !await Idp.IsActiveAsync(token))
                {
                    Interlocked.Increment(ref _rejected);
                    return Results.Json(new { error = "invalid_token" }, statusCode: 401);
                }

                return Results.Json(new { ok = true, query = request.QueryString.Value });
            });
            _upstream.StartAsync().GetAwaiter().GetResult();
            _upstreamUrl = _upstream.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.First();
            return new Dictionary<string, string?> { ["Providers:idp:ApiBaseUrl"] = _upstreamUrl + "/api" };
        }
    }

    [Fact]
    public async Task ProxiedCall_UsesALiveToken_AndOnAnUpstream401_RefreshesOnceAtTheIdpAndRetries()
    {
        var (connectionId, _) = await ConnectAsync("quinn");
        var (_, key) = await Server.CreateKeyAsync("default", new { connection = connectionId });
        using var agent = Server.Client(key);

        var first = await agent.GetAsync($"/v1/proxy/{connectionId}/whoami?x=1");
        Assert.Equal(HttpStatusCode.OK, first.StatusCode);
        Assert.Contains("?x=1", await first.Content.ReadAsStringAsync(), StringComparison.Ordinal);

        // The upstream stops accepting the current token (the grant stays alive at the IdP).
        using var service = Server.Client(Server.ServiceToken);
        var token = await TokenAsync(service, connectionId);
        _distrusted[token] = true;
        var refreshesBefore = await Idp.RefreshRequestsAsync();

        var second = await agent.GetAsync($"/v1/proxy/{connectionId}/whoami");

        Assert.Equal(HttpStatusCode.OK, second.StatusCode);
        Assert.Equal(1, await Idp.RefreshRequestsAsync() - refreshesBefore);
        Assert.Equal(1, _rejected);
        var fresh = await TokenAsync(service, connectionId);
        Assert.NotEqual(token, fresh);
        Assert.True(await Idp.IsActiveAsync(fresh));
    }

    [Fact]
    public async Task GrantRevokedAtTheIdp_ProxyAnswersTheReauthEnvelope()
    {
        var (connectionId, _) = await ConnectAsync("rupert");
        var (_, key) = await Server.CreateKeyAsync("default", new { connection = connectionId });
        using var agent = Server.Client(key);
        using var service = Server.Client(Server.ServiceToken);

        // oidc-provider revokes every token of the grant when one of its access tokens is revoked.
        await RevokeAsync(await TokenAsync(service, connectionId));
        var response = await agent.GetAsync($"/v1/proxy/{connectionId}/whoami");

        Assert.Equal(HttpStatusCode.Conflict, response.StatusCode);
        var envelope = await response.Content.ReadFromJsonAsync<JsonElement>();
        Assert.Equal("reauth_required", envelope.GetProperty("code").GetString());
        Assert.Contains("/connect-authorize?flow=", envelope.GetProperty("connect_url").GetString(), StringComparison.Ordinal);
    }

    private static async Task<string> TokenAsync(HttpClient service, string connectionId) =>
        (await (await service.PostAsync($"/v1/connections/{connectionId}/token", null)).Content.ReadFromJsonAsync<JsonElement>())
            .GetProperty("access_token").GetString()!;

    private async Task RevokeAsync(string token)
    {
        using var request = new HttpRequestMessage(HttpMethod.Post, Idp.Issuer + "/token/revocation")
        {
            Content = new FormUrlEncodedContent(new Dictionary<string, string>
            {
                ["token"] = token, ["token_type_hint"] = "access_token", ["client_id"] = IdpFixture.ClientId, ["client_secret"] = IdpFixture.ClientSecret,
            }),
        };
        (await Idp.Http.SendAsync(request)).EnsureSuccessStatusCode();
        Assert.False(await Idp.IsActiveAsync(token));
    }

    public override async Task DisposeAsync()
    {
        await base.DisposeAsync();
        if (_upstream is not null)
        {
            await _upstream.DisposeAsync();
        }
    }
}
