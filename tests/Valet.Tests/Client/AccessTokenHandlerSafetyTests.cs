extern alias sdk;

using System.Collections.Concurrent;
using System.Net;
using System.Text;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Time.Testing;
using sdk::Microsoft.Extensions.DependencyInjection;
using sdk::Valet.Client;

namespace Valet.Tests.ClientSdk;

/// <summary>
/// Where <see cref="ValetAccessTokenHandler"/> sends a token and which token: only to its authorized URLs, never another
/// key's token from a shared cache, never a static API key as an <c>Authorization</c> scheme; short-lived tokens still
/// shared by a burst; the token request's body sent with a length.
/// </summary>
[Collection(SdkCollection.Name)]
public sealed class AccessTokenHandlerSafetyTests(SdkHarness harness)
{
    [Fact]
    public async Task Handler_SendsTheToken_OnlyUnderItsAuthorizedUrls_AndRetriesNothingElsewhere()
    {
        var token = "valid-" + Guid.NewGuid().ToString("N");
        var id = await harness.ImportAsync(token);
        var key = await harness.KeyAsync("default", new { connection = id });
        var counter = new Counter();
        using var app = App(key, counter, services => services.AddHttpClient("up")
            .AddValetAccessToken(connectionId: id, authorizedUrls: [new Uri(harness.ApiRoot, "api/allowed/")]));
        var http = app.GetRequiredService<IHttpClientFactory>().CreateClient("up");
        var run = Guid.NewGuid().ToString("N");

        using var allowed = await http.GetAsync(new Uri(harness.ApiRoot, $"api/allowed/{run}"));
        using var elsewhere = await http.GetAsync(new Uri(harness.ApiRoot, $"api/other/{run}"));
        using var refused = await http.GetAsync(new Uri(harness.ApiRoot, $"api/other/unauthorized/{run}"));

        Assert.Equal(HttpStatusCode.OK, allowed.StatusCode);
        Assert.Equal(HttpStatusCode.OK, elsewhere.StatusCode);
        Assert.Equal(HttpStatusCode.Unauthorized, refused.StatusCode);
        Assert.Equal("Bearer " + token, Assert.Single(harness.SeenUnder($"/api/allowed/{run}")).Authorization);
        Assert.Null(Assert.Single(harness.SeenUnder($"/api/other/{run}")).Authorization);
        Assert.Null(Assert.Single(harness.SeenUnder($"/api/other/unauthorized/{run}")).Authorization);
        Assert.Equal(1, counter.TokenRequests);
    }

    [Fact]
    public async Task Handler_ByDefault_IsAuthorizedForTheClientsBaseAddress_Only()
    {
        var token = "valid-" + Guid.NewGuid().ToString("N");
        var id = await harness.ImportAsync(token);
        var key = await harness.KeyAsync("default", new { connection = id });
        using var app = App(key, new Counter(), services => services.AddHttpClient("up", c => c.BaseAddress = new Uri(harness.ApiRoot, "api/"))
            .AddValetAccessToken(connectionId: id));
        var http = app.GetRequiredService<IHttpClientFactory>().CreateClient("up");
        var run = Guid.NewGuid().ToString("N");

        using var based = await http.GetAsync($"{run}/repos");
        using var outside = await http.GetAsync(new Uri(harness.ApiRoot, $"keyed/{run}"));

        Assert.Equal("Bearer " + token, Assert.Single(harness.SeenUnder($"/api/{run}/repos")).Authorization);
        Assert.Null(Assert.Single(harness.SeenUnder($"/keyed/{run}")).Authorization);
    }

    [Fact]
    public async Task Handler_WithNeitherABaseAddressNorAuthorizedUrls_RefusesToBeBuilt()
    {
        var key = await harness.KeyAsync("default", new { provider = "up" });
        using var app = App(key, new Counter(), services => services.AddHttpClient("up").AddValetAccessToken(provider: "up"));

        var error = Assert.Throws<InvalidOperationException>(() => app.GetRequiredService<IHttpClientFactory>().CreateClient("up"));

        Assert.Contains("BaseAddress", error.Message, StringComparison.Ordinal);
        Assert.Contains("authorizedUrls", error.Message, StringComparison.Ordinal);
        using var valet = new ValetClient(harness.BaseUrl, key);
        Assert.Throws<ArgumentException>(() => new ValetAccessTokenHandler(valet, app.GetRequiredService<ValetTokenCache>(),
            ValetTokenSource.ForProvider("up"), []));
    }

    [Fact]
    public async Task TwoClients_OfTwoOrgs_SharingOneCache_EachGetTheirOwnToken()
    {
        var (orgA, orgB) = (await harness.OrgAsync(), await harness.OrgAsync());
        var (tokenA, tokenB) = ("org-a-" + Guid.NewGuid().ToString("N"), "org-b-" + Guid.NewGuid().ToString("N"));
        await harness.ImportAsync(tokenA, orgA);
        await harness.ImportAsync(tokenB, orgB);
        var keyA = await harness.KeyAsync(orgA, new { provider = "up" });
        var keyB = await harness.KeyAsync(orgB, new { provider = "up" });
        using var app = App(keyA, new Counter(), _ => { });
        var cache = app.GetRequiredService<ValetTokenCache>();
        using var valetA = new ValetClient(harness.BaseUrl, keyA);
        using var valetB = new ValetClient(harness.BaseUrl, keyB);
        var source = ValetTokenSource.ForProvider("up"); // the same source for both: only the key tells them apart
        using var apiA = new HttpClient(new ValetAccessTokenHandler(valetA, cache, source, [harness.ApiRoot]) { InnerHandler = new SocketsHttpHandler() });
        using var apiB = new HttpClient(new ValetAccessTokenHandler(valetB, cache, source, [harness.ApiRoot]) { InnerHandler = new SocketsHttpHandler() });
        var run = Guid.NewGuid().ToString("N");

        using var a = await apiA.GetAsync(new Uri(harness.ApiRoot, $"api/{run}/a"));
        using var b = await apiB.GetAsync(new Uri(harness.ApiRoot, $"api/{run}/b"));

        Assert.Equal("Bearer " + tokenA, Assert.Single(harness.SeenUnder($"/api/{run}/a")).Authorization);
        Assert.Equal("Bearer " + tokenB, Assert.Single(harness.SeenUnder($"/api/{run}/b")).Authorization);
    }

    [Fact]
    public async Task Handler_RefusesARevealedApiKey_AndSaysToUseTheProxy_WhichSendsItAsTheProviderSays()
    {
        var secret = "sk-" + Guid.NewGuid().ToString("N");
        var id = await harness.StaticAsync(new { provider = "keyed", api_key = secret, account = new { id = "acct-" + Guid.NewGuid().ToString("N") } });
        var key = await harness.KeyAsync("default", new { connection = id, reveal = true });
        using var app = App(key, new Counter(), services => services.AddHttpClient("keyed", c => c.BaseAddress = new Uri(harness.ApiRoot, "keyed/"))
            .AddValetAccessToken(connectionId: id));
        var http = app.GetRequiredService<IHttpClientFactory>().CreateClient("keyed");
        var run = Guid.NewGuid().ToString("N");

        var error = await Assert.ThrowsAsync<InvalidOperationException>(() => http.GetAsync($"{run}/things"));

        Assert.Contains("ValetClient.SendAsync", error.Message, StringComparison.Ordinal);
        Assert.DoesNotContain(secret, error.Message, StringComparison.Ordinal);
        Assert.Empty(harness.SeenUnder($"/keyed/{run}"));
        using var valet = new ValetClient(harness.BaseUrl, key);
        using var proxied = await valet.GetAsync(ValetRoute.Connection(id), $"{run}/things");
        var seen = Assert.Single(harness.SeenUnder($"/keyed/{run}"));
        Assert.Equal(secret, seen.ApiKey);
        Assert.Null(seen.Authorization);
    }

    [Fact]
    public async Task Handler_SendsARevealedBasicCredential_AsBasic()
    {
        var password = "pw-" + Guid.NewGuid().ToString("N");
        var id = await harness.StaticAsync(new { provider = "basicapi", username = "ops-bot", password, account = new { id = "ops-" + Guid.NewGuid().ToString("N") } });
        var key = await harness.KeyAsync("default", new { connection = id, reveal = true });
        using var app = App(key, new Counter(), services => services.AddHttpClient("basic", c => c.BaseAddress = new Uri(harness.ApiRoot, "basic/"))
            .AddValetAccessToken(connectionId: id));
        var http = app.GetRequiredService<IHttpClientFactory>().CreateClient("basic");
        var run = Guid.NewGuid().ToString("N");

        using var response = await http.GetAsync($"{run}/things");

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal("Basic " + Convert.ToBase64String(Encoding.UTF8.GetBytes("ops-bot:" + password)),
            Assert.Single(harness.SeenUnder($"/basic/{run}")).Authorization);
    }

    [Fact]
    public async Task Handler_KeepsATokenShorterLivedThanTheMargin_ForHalfItsLife_SoABurstMakesOneFetch()
    {
        var token = "short-" + Guid.NewGuid().ToString("N");
        var id = await harness.ImportAsync(token, expiresIn: 30); // under the default 60 s TokenRefreshMargin
        var key = await harness.KeyAsync("default", new { connection = id });
        var time = new FakeTimeProvider(DateTimeOffset.UtcNow);
        var counter = new Counter();
        using var app = App(key, counter, services => services.AddHttpClient("up", c => c.BaseAddress = new Uri(harness.ApiRoot, "api/"))
            .AddValetAccessToken(connectionId: id), time);
        var http = app.GetRequiredService<IHttpClientFactory>().CreateClient("up");
        var run = Guid.NewGuid().ToString("N");

        await BurstAsync(http, $"{run}/first");
        Assert.Equal(1, counter.TokenRequests);

        time.Advance(TimeSpan.FromSeconds(10)); // under half of the ~30 s it had left
        await BurstAsync(http, $"{run}/second", calls: 1);
        Assert.Equal(1, counter.TokenRequests);

        time.Advance(TimeSpan.FromSeconds(6)); // past half: asked again
        await BurstAsync(http, $"{run}/third", calls: 1);
        Assert.Equal(2, counter.TokenRequests);

        // The local clock runs ahead, past the token's expiry (Valet's clock still says it is fresh): a burst still shares
        // one fetch, and the next second asks again.
        time.Advance(TimeSpan.FromMinutes(2));
        await BurstAsync(http, $"{run}/ahead");
        Assert.Equal(3, counter.TokenRequests);
        time.Advance(TimeSpan.FromSeconds(2));
        await BurstAsync(http, $"{run}/later", calls: 1);
        Assert.Equal(4, counter.TokenRequests);
        Assert.All(harness.SeenUnder($"/api/{run}"), s => Assert.Equal("Bearer " + token, s.Authorization));
    }

    [Fact]
    public async Task TokenRequest_WithScopes_SendsItsJsonBodyWithAContentLength()
    {
        var token = "valid-" + Guid.NewGuid().ToString("N");
        var id = await harness.ImportAsync(token, scopes: ["profile", "read"]);
        var key = await harness.KeyAsync("default", new { connection = id });
        var bodies = new ConcurrentQueue<(long? Declared, int Actual, string? MediaType)>();
        using var http = new HttpClient(new BodyRecorder(bodies) { InnerHandler = new SocketsHttpHandler() });
        ValetClient.Configure(http, harness.BaseUrl, key);
        using var valet = new ValetClient(http);

        var granted = await valet.GetTokenAsync(id, ["read"]);
        var missing = await Assert.ThrowsAsync<ValetMissingScopesException>(() => valet.GetTokenAsync(id, ["write"]));

        Assert.Equal(token, granted.AccessToken);
        Assert.Equal(["write"], missing.MissingScopes); // Valet read the body
        Assert.Equal(2, bodies.Count);
        Assert.All(bodies, b =>
        {
            Assert.Equal(b.Actual, b.Declared);
            Assert.Equal("application/json", b.MediaType);
        });
    }

    [Fact]
    public async Task Handler_WhenValetFailsOnTheSecondAsk_DisposesTheUpstreams401()
    {
        var id = await harness.ImportAsync("valid-" + Guid.NewGuid().ToString("N"));
        var key = await harness.KeyAsync("default", new { connection = id });
        var counter = new Counter { FailFrom = 2 };
        var responses = new ConcurrentQueue<HttpResponseMessage>();
        using var app = App(key, counter, services => services.AddHttpClient("up", c => c.BaseAddress = new Uri(harness.ApiRoot, "api/"))
            .AddValetAccessToken(connectionId: id)
            .AddHttpMessageHandler(() => new ResponseKeeper(responses)));
        var http = app.GetRequiredService<IHttpClientFactory>().CreateClient("up");

        await Assert.ThrowsAsync<HttpRequestException>(() => http.GetAsync($"unauthorized/{Guid.NewGuid():N}"));

        var first = Assert.Single(responses);
        Assert.Equal(HttpStatusCode.Unauthorized, first.StatusCode);
        await Assert.ThrowsAsync<ObjectDisposedException>(() => first.Content.ReadAsStringAsync());
        Assert.Equal(2, counter.TokenRequests);
    }

    private static async Task BurstAsync(HttpClient http, string path, int calls = 5) =>
        await Task.WhenAll(Enumerable.Range(0, calls).Select(async i =>
        {
            using var response = await http.GetAsync($"{path}/{i}");
            Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        }));

    private ServiceProvider App(string key, Counter counter, Action<IServiceCollection> addClients, TimeProvider? time = null)
    {
        var services = new ServiceCollection();
        if (time is not null)
        {
            services.AddSingleton(time);
        }

        services.AddValetClient(o =>
        {
            o.BaseAddress = harness.BaseUrl;
            o.ApiKey = key;
        }).AddHttpMessageHandler(() => new CountingHandler(counter));
        addClients(services);
        return services.BuildServiceProvider();
    }

    private sealed class Counter
    {
        private int _count;

        public int TokenRequests => Volatile.Read(ref _count);

        /// <summary>From this token request on, Valet is unreachable (0: never).</summary>
        public int FailFrom { get; init; }

        public int Add() => Interlocked.Increment(ref _count);
    }

    /// <summary>Counts the token requests Valet's own HttpClient sends, and fails them from <see cref="Counter.FailFrom"/> on.</summary>
    private sealed class CountingHandler(Counter counter) : DelegatingHandler
    {
        protected override Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken cancellationToken)
        {
            if (request.RequestUri!.AbsolutePath.EndsWith("/token", StringComparison.Ordinal)
                && counter.Add() is var n && counter.FailFrom > 0 && n >= counter.FailFrom)
            {
                throw new HttpRequestException("Valet is unreachable (test).");
            }

            return base.SendAsync(request, cancellationToken);
        }
    }

    /// <summary>Keeps every response the upstream gave, to look at after the handler is done with it.</summary>
    private sealed class ResponseKeeper(ConcurrentQueue<HttpResponseMessage> responses) : DelegatingHandler
    {
        protected override async Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken cancellationToken)
        {
            var response = await base.SendAsync(request, cancellationToken);
            responses.Enqueue(response);
            return response;
        }
    }

    /// <summary>Records each request body's declared Content-Length against its real length, before sending it.</summary>
    private sealed class BodyRecorder(ConcurrentQueue<(long? Declared, int Actual, string? MediaType)> bodies) : DelegatingHandler
    {
        protected override async Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken cancellationToken)
        {
            if (request.Content is { } content)
            {
                var declared = content.Headers.ContentLength;
                var bytes = await content.ReadAsByteArrayAsync(cancellationToken);
                bodies.Enqueue((declared, bytes.Length, content.Headers.ContentType?.MediaType));
            }

            return await base.SendAsync(request, cancellationToken);
        }
    }
}
