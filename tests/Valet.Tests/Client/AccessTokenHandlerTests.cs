extern alias sdk;

using System.Net;
using System.Net.Http.Json;
using System.Text;
using System.Text.Json;
using Microsoft.Extensions.DependencyInjection;
using sdk::Microsoft.Extensions.DependencyInjection;
using sdk::Valet.Client;
using Valet.Tests.Proxy;

namespace Valet.Tests.ClientSdk;

/// <summary>
/// <see cref="ValetAccessTokenHandler"/> on an application's own <see cref="HttpClient"/> calling a real upstream
/// (<see cref="ResourceServer"/>) directly, with tokens from the real Valet server: injection, caching, and exactly one
/// extra token request and one resend on an upstream 401.
/// </summary>
[Collection(ProxyCollection.Name)]
public sealed class AccessTokenHandlerTests(ProxyHarness harness)
{
    [Fact]
    public async Task Handler_InjectsTheToken_AndAsksValetOnceForManyCalls()
    {
        var (connectionId, key, token) = await harness.ConnectedAsync();
        using var app = App(key, b => b.AddValetAccessToken(connectionId: connectionId), out var counter);
        var api = app.GetRequiredService<IHttpClientFactory>().CreateClient("acme");
        var path = "/api/handler-" + Guid.NewGuid().ToString("N");

        for (var i = 0; i < 3; i++)
        {
            using var response = await api.GetAsync(path);
            Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        }

        Assert.Equal(1, counter.TokenRequests);
        Assert.All(harness.Upstream.Seen.Where(s => s.RawTarget == path), s => Assert.Equal(token, s.Bearer));
        Assert.Equal(3, harness.Upstream.SeenCount(path));
    }

    [Fact]
    public async Task Handler_OnAnUpstream401_AsksValetOnceMore_BypassingItsCache_AndResendsTheBodyOnce()
    {
        using var admin = harness.Client();
        var account = "acct-" + Guid.NewGuid().ToString("N");
        var credentialId = (await ProxyHarness.PostOkAsync(admin, "/v1/orgs/default/credentials",
            new { provider = "acme", client_id = "client-acme", client_secret = "secret-acme" })).GetProperty("id").GetString()!;
        var old = "old-" + Guid.NewGuid().ToString("N");
        harness.Upstream.ValidTokens[old] = true;
        var connectionId = await ImportAsync(admin, credentialId, account, old);
        var key = await harness.KeyAsync("default", new { provider = "acme" });
        using var app = App(key, b => b.AddValetAccessToken(provider: "acme"), out var counter);
        var api = app.GetRequiredService<IHttpClientFactory>().CreateClient("acme");
        using (var warm = await api.GetAsync("/api/warm"))
        {
            Assert.Equal(HttpStatusCode.OK, warm.StatusCode); // the handler now holds the old token
        }

        // Elsewhere the grant moves on: Valet stores a new token and the upstream stops taking the old one.
        var renewed = "new-" + Guid.NewGuid().ToString("N");
        harness.Upstream.ValidTokens[renewed] = true;
        Assert.Equal(connectionId, await ImportAsync(admin, credentialId, account, renewed));
        harness.Upstream.ValidTokens.TryRemove(old, out _);
        var path = "/api/retried-" + Guid.NewGuid().ToString("N");

        using var response = await api.PostAsync(path, new StringContent("{\"name\":\"sent twice\"}", Encoding.UTF8, "application/json"));

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal(2, counter.TokenRequests); // the warm-up's, and exactly one more
        var attempts = harness.Upstream.Seen.Where(s => s.RawTarget == path).ToList();
        Assert.Equal(2, attempts.Count);
        Assert.Equal(old, attempts[0].Bearer);
        Assert.Equal(renewed, attempts[1].Bearer);
        Assert.Equal(21, attempts[1].BodyBytes);
        Assert.Equal(21, (await response.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("body_bytes").GetInt32());

        // The new token is cached: the next call asks Valet nothing.
        using var next = await api.GetAsync(path);
        Assert.Equal(HttpStatusCode.OK, next.StatusCode);
        Assert.Equal(2, counter.TokenRequests);
    }

    [Fact]
    public async Task Handler_OnA401AfterARedirect_DoesNotRetry_SoTheFreshTokenNeverGoesWhereTheRedirectPointed()
    {
        using var admin = harness.Client();
        var account = "acct-" + Guid.NewGuid().ToString("N");
        var credentialId = (await ProxyHarness.PostOkAsync(admin, "/v1/orgs/default/credentials",
            new { provider = "acme", client_id = "client-acme", client_secret = "secret-acme" })).GetProperty("id").GetString()!;
        var old = "old-" + Guid.NewGuid().ToString("N");
        harness.Upstream.ValidTokens[old] = true;
        var connectionId = await ImportAsync(admin, credentialId, account, old);
        var key = await harness.KeyAsync("default", new { connection = connectionId });
        using var app = App(key, b => b.AddValetAccessToken(connectionId: connectionId), out _);
        var api = app.GetRequiredService<IHttpClientFactory>().CreateClient("acme");
        using (var warm = await api.GetAsync("/api/warm"))
        {
            Assert.Equal(HttpStatusCode.OK, warm.StatusCode); // the handler holds the old token, still good upstream
        }

        // Valet now holds a newer token, so a 401 would make the handler ask for it and resend.
        var renewed = "new-" + Guid.NewGuid().ToString("N");
        harness.Upstream.ValidTokens[renewed] = true;
        await ImportAsync(admin, credentialId, account, renewed);
        var before = harness.Upstream.SeenCount("/api/elsewhere");

        // /api/redirect answers 302 to /api/elsewhere; HttpClient follows it (dropping Authorization) and meets a 401 there.
        using var response = await api.GetAsync("/api/redirect");

        Assert.Equal(HttpStatusCode.Unauthorized, response.StatusCode);
        var atTarget = harness.Upstream.Seen.Where(s => s.RawTarget == "/api/elsewhere").Skip(before).ToList();
        Assert.Null(Assert.Single(atTarget).Bearer); // one request, without a token: not resent with the fresh one
    }

    [Fact]
    public async Task Handler_OnAnUpstream401_WhenValetHasNothingNewer_GivesBackThe401_WithoutASecondSend()
    {
        var refused = "refused-" + Guid.NewGuid().ToString("N"); // never valid upstream
        var connectionId = await harness.ImportAsync("acme", refused);
        var key = await harness.KeyAsync("default", new { connection = connectionId });
        using var app = App(key, b => b.AddValetAccessToken(connectionId: connectionId), out var counter);
        var api = app.GetRequiredService<IHttpClientFactory>().CreateClient("acme");
        var path = "/api/refused-" + Guid.NewGuid().ToString("N");

        using var response = await api.GetAsync(path);

        Assert.Equal(HttpStatusCode.Unauthorized, response.StatusCode);
        Assert.Equal(2, counter.TokenRequests);
        Assert.Equal(1, harness.Upstream.SeenCount(path));
    }

    [Fact]
    public async Task Handler_WhenAPersonMustAct_ThrowsTheTypedEnvelope_FromTheApplicationsOwnClient()
    {
        using var admin = harness.Client();
        var org = "sdk-" + Guid.NewGuid().ToString("N")[..12];
        await ProxyHarness.PostOkAsync(admin, "/v1/orgs", new { id = org });
        var key = await harness.KeyAsync(org, new { provider = "acme" });
        using var app = App(key, b => b.AddValetAccessToken(provider: "acme", scopes: ["mail.read"]), out _);
        var api = app.GetRequiredService<IHttpClientFactory>().CreateClient("acme");
        var seen = harness.Upstream.Seen.Count;

        var envelope = await Assert.ThrowsAsync<ValetNeedsAuthenticationException>(() => api.GetAsync("/api/anything"));

        Assert.Equal("acme", envelope.Provider);
        Assert.Equal(["mail.read"], envelope.RequiredScopes);
        Assert.False(envelope.Headless);
        Assert.Equal(seen, harness.Upstream.Seen.Count);
    }

    private ServiceProvider App(string key, Action<IHttpClientBuilder> addToken, out TokenRequestCounter counter)
    {
        var services = new ServiceCollection();
        var count = new TokenRequestCounter();
        services.AddValetClient(o =>
        {
            o.BaseAddress = harness.BaseUrl;
            o.ApiKey = key;
        }).AddHttpMessageHandler(() => new CountingHandler(count));
        addToken(services.AddHttpClient("acme", c => c.BaseAddress = harness.Upstream.BaseUrl));
        counter = count;
        return services.BuildServiceProvider();
    }

    private static async Task<string> ImportAsync(HttpClient admin, string credentialId, string account, string accessToken) =>
        (await ProxyHarness.PostOkAsync(admin, "/v1/orgs/default/connections/import", new
        {
            provider = "acme",
            credential_id = credentialId,
            access_token = accessToken,
            expires_in = 3600,
            account = new { id = account },
        })).GetProperty("id").GetString()!;

    internal sealed class TokenRequestCounter
    {
        private int _count;

        public int TokenRequests => Volatile.Read(ref _count);

        public void Add() => Interlocked.Increment(ref _count);
    }

    /// <summary>Counts the token requests Valet's own HttpClient sends.</summary>
    private sealed class CountingHandler(TokenRequestCounter counter) : DelegatingHandler
    {
        protected override Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken cancellationToken)
        {
            if (request.RequestUri!.AbsolutePath.EndsWith("/token", StringComparison.Ordinal))
            {
                counter.Add();
            }

            return base.SendAsync(request, cancellationToken);
        }
    }
}
