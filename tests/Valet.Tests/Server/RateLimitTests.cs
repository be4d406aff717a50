using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using Valet.Tests.Infrastructure;

namespace Valet.Tests.Server;

/// <summary>
/// SPEC §4/§7: failed sign-ins and failed bearer authentications are limited per client address, API keys per key;
/// a refusal is 429 <c>rate_limited</c> with <c>Retry-After</c>. Each test has its own server, so its own counters.
/// </summary>
public sealed class RateLimitTests
{
    private static Dictionary<string, string> SignInForm(string token) => new() { ["token"] = token, ["org"] = "default" };

    private static async Task AssertRateLimitedAsync(HttpResponseMessage response)
    {
        Assert.Equal(HttpStatusCode.TooManyRequests, response.StatusCode);
        Assert.Equal("application/problem+json", response.Content.Headers.ContentType?.MediaType);
        Assert.Equal("rate_limited", (await response.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("code").GetString());
        var wait = response.Headers.RetryAfter?.Delta;
        Assert.NotNull(wait);
        Assert.InRange(wait.Value, TimeSpan.FromSeconds(1), TimeSpan.FromMinutes(2));
    }

    /// <summary>
    /// The default burst, refilled once a minute instead of every 6 s: the exact counts below would otherwise depend on the
    /// whole sequence finishing within 6 s of the first failure, which a loaded 2-core machine does not promise.
    /// </summary>
    private static readonly Dictionary<string, string?> SlowRefill = new() { ["RateLimits:FailuresPerMinute"] = "1" };

    [Fact]
    public async Task SignIn_ThirtyBadGuessesFromOneAddress_AreRefusedWith429_AndWhileLockedOutTheRightTokenIsRefusedToo()
    {
        await using var server = await ValetTestServer.StartAsync(SlowRefill);
        using var person = new HttpClient(new HttpClientHandler { AllowAutoRedirect = false, UseCookies = true }) { BaseAddress = server.BaseUrl };

        var statuses = new List<HttpStatusCode>();
        HttpResponseMessage? last = null;
        for (var i = 0; i < 30; i++)
        {
            last?.Dispose();
            last = await SignInForms.SignInAsync(person, SignInForm("guess-" + i));
            statuses.Add(last.StatusCode);
        }

        // The default burst: 20 failures are answered as failures, then the address is refused before any check.
        Assert.Equal(20, statuses.Count(s => s == HttpStatusCode.Unauthorized));
        Assert.Equal(10, statuses.Count(s => s == HttpStatusCode.TooManyRequests));
        Assert.All(statuses.Skip(20), s => Assert.Equal(HttpStatusCode.TooManyRequests, s));
        await AssertRateLimitedAsync(last!);

        // Locked out means locked out: the right token is not even checked (else the limiter would confirm a guess).
        using var right = await SignInForms.SignInAsync(person, SignInForm(ValetTestServer.AdminToken));
        await AssertRateLimitedAsync(right);
        using var admin = server.Client();
        await AssertRateLimitedAsync(await admin.GetAsync("/v1/orgs/default"));

        // A browser at the sign-in form is told on a page, with the same status and Retry-After.
        using var fromBrowser = new HttpRequestMessage(HttpMethod.Post, "/signin") { Content = new FormUrlEncodedContent(SignInForm(ValetTestServer.AdminToken)) };
        fromBrowser.Headers.TryAddWithoutValidation("Accept", "text/html,application/xhtml+xml,*/*;q=0.8");
        using var page = await person.SendAsync(fromBrowser);
        Assert.Equal(HttpStatusCode.TooManyRequests, page.StatusCode);
        Assert.Equal("text/html", page.Content.Headers.ContentType?.MediaType);
        Assert.NotNull(page.Headers.RetryAfter?.Delta);
        Assert.Contains("Too many failed sign-ins from this address", await page.Content.ReadAsStringAsync(), StringComparison.Ordinal);

        // A request without credentials is not affected.
        using var anonymous = server.Client(null);
        Assert.Equal(HttpStatusCode.OK, (await anonymous.GetAsync("/healthz")).StatusCode);
    }

    [Fact]
    public async Task BadBearerStorm_OnRoutedAndProxyRoutes_IsRefusedWith429()
    {
        await using var server = await ValetTestServer.StartAsync(SlowRefill);
        var (_, key) = await server.CreateKeyAsync("default");
        using var forged = server.Client("vk_0123456789_not-a-real-secret-0000000000000000000000000000");

        // Failures count across routes: the proxy lane authenticates on its own, before routing.
        for (var i = 0; i < 20; i++)
        {
            using var response = i % 2 == 0 ? await forged.GetAsync("/v1/bootstrap") : await forged.GetAsync("/v1/proxy/conn_x/user");
            Assert.Equal(HttpStatusCode.Unauthorized, response.StatusCode);
        }

        await AssertRateLimitedAsync(await forged.GetAsync("/v1/bootstrap"));
        await AssertRateLimitedAsync(await forged.GetAsync("/v1/proxy/conn_x/user"));
        using var agent = server.Client(key);
        await AssertRateLimitedAsync(await agent.GetAsync("/v1/bootstrap"));

        // The agent lane applies the same limit itself: a locked-out address is refused before even a good key is checked.
        await AssertRateLimitedAsync(await agent.GetAsync("/v1/proxy/conn_x/user"));
        await AssertRateLimitedAsync(await agent.PostAsync("/v1/providers/github/token", null));
    }

    [Fact]
    public async Task WhileAnAddressIsLockedOut_OnlyBearersThisNodeHasSeenSucceed_GetThrough()
    {
        await using var server = await ValetTestServer.StartAsync(SlowRefill);
        var (_, working) = await server.CreateKeyAsync("default");
        var (_, unused) = await server.CreateKeyAsync("default");
        var (revokedId, revoked) = await server.CreateKeyAsync("default");
        using var agent = server.Client(working);
        using var revokedAgent = server.Client(revoked);
        Assert.Equal(HttpStatusCode.OK, (await agent.GetAsync("/v1/bootstrap")).StatusCode);
        Assert.Equal(HttpStatusCode.OK, (await revokedAgent.GetAsync("/v1/bootstrap")).StatusCode);
        using var admin = server.Client();
        Assert.Equal(HttpStatusCode.NoContent, (await admin.DeleteAsync($"/v1/keys/{revokedId}")).StatusCode);

        // One client on this address stuck on a stale key locks the address out…
        using var stale = server.Client("vk_0123456789_stale-or-forged-secret-00000000000000000000000");
        for (var i = 0; i < 20; i++)
        {
            Assert.Equal(HttpStatusCode.Unauthorized, (await stale.GetAsync("/v1/bootstrap")).StatusCode);
        }

        await AssertRateLimitedAsync(await stale.GetAsync("/v1/bootstrap"));

        // …but an agent whose key this node has verified before goes on working, on routed and lane routes alike (checked
        // in memory: the cached row and the secret it last verified).
        Assert.Equal(HttpStatusCode.OK, (await agent.GetAsync("/v1/bootstrap")).StatusCode);
        Assert.Equal(HttpStatusCode.NotFound, (await agent.GetAsync("/v1/proxy/conn_unknown/user")).StatusCode);
        Assert.Equal(HttpStatusCode.OK, (await agent.GetAsync("/v1/bootstrap")).StatusCode);

        // The local service token (the CLI's) too: it is generated, 256 bits.
        using var cli = server.Client(server.ServiceToken);
        Assert.Equal(HttpStatusCode.OK, (await cli.GetAsync("/v1/orgs/default")).StatusCode);

        // Everything else is refused before it is checked, as before: a right key never presented to this node, a revoked
        // one, a wrong secret behind a working key's prefix, and the admin token (which an operator may have chosen).
        using var unusedAgent = server.Client(unused);
        await AssertRateLimitedAsync(await unusedAgent.GetAsync("/v1/bootstrap"));
        await AssertRateLimitedAsync(await unusedAgent.GetAsync("/v1/proxy/conn_unknown/user"));
        await AssertRateLimitedAsync(await revokedAgent.GetAsync("/v1/bootstrap"));
        await AssertRateLimitedAsync(await revokedAgent.GetAsync("/v1/proxy/conn_unknown/user"));
        using var samePrefix = server.Client(working[..working.IndexOf('_', 3)] + "_" + new string('A', 43));
        await AssertRateLimitedAsync(await samePrefix.GetAsync("/v1/bootstrap"));
        await AssertRateLimitedAsync(await samePrefix.GetAsync("/v1/proxy/conn_unknown/user"));
        await AssertRateLimitedAsync(await admin.GetAsync("/v1/orgs/default"));
    }

    [Fact]
    public async Task AServiceTokenTheOperatorChose_DoesNotPassALockout_OnlyAGeneratedOneDoes()
    {
        const string Chosen = "service-token-an-operator-typed-in-2026";
        await using var server = await ValetTestServer.StartAsync(new Dictionary<string, string?>(SlowRefill) { ["SERVICE_TOKEN"] = Chosen });
        using var chosen = server.Client(Chosen);
        Assert.Equal(HttpStatusCode.OK, (await chosen.GetAsync("/v1/orgs/default")).StatusCode);
        using var wrong = server.Client("a-wrong-guess");
        for (var i = 0; i < 20; i++)
        {
            Assert.Equal(HttpStatusCode.Unauthorized, (await wrong.GetAsync("/v1/orgs/default")).StatusCode);
        }

        // It may be weak: passing it through would make the lockout an oracle for guessing it.
        await AssertRateLimitedAsync(await chosen.GetAsync("/v1/orgs/default"));
    }

    [Fact]
    public async Task FailureLimit_OnlyFailuresCount_ManyGoodCallsAndAFewBadOnesNeverLockOut()
    {
        await using var server = await ValetTestServer.StartAsync(new Dictionary<string, string?> { ["RateLimits:FailureBurst"] = "3" });
        using var admin = server.Client();
        using var wrong = server.Client("not-the-admin-token");

        for (var i = 0; i < 30; i++)
        {
            Assert.Equal(HttpStatusCode.OK, (await admin.GetAsync("/v1/orgs/default")).StatusCode);
        }

        for (var i = 0; i < 3; i++)
        {
            Assert.Equal(HttpStatusCode.Unauthorized, (await wrong.GetAsync("/v1/orgs/default")).StatusCode);
        }

        await AssertRateLimitedAsync(await wrong.GetAsync("/v1/orgs/default"));
    }

    [Fact]
    public async Task FailureLimit_CountsAnIPv6ClientByItsSlash64_RotatingAddressesInsideItBuysNoFreshBucket()
    {
        // The client's address comes from a trusted proxy's X-Forwarded-For, the real path behind a load balancer.
        await using var server = await ValetTestServer.StartAsync(new Dictionary<string, string?>
        {
            ["RateLimits:FailureBurst"] = "3", ["TRUSTED_PROXIES"] = "127.0.0.1",
        });
        using var wrong = server.Client("not-the-admin-token");

        Task<HttpResponseMessage> From(string address)
        {
            var request = new HttpRequestMessage(HttpMethod.Get, "/v1/orgs/default");
            request.Headers.Add("X-Forwarded-For", address);
            return wrong.SendAsync(request);
        }

        for (var i = 1; i <= 3; i++)
        {
            Assert.Equal(HttpStatusCode.Unauthorized, (await From($"2001:db8:0:7::{i}")).StatusCode);
        }

        await AssertRateLimitedAsync(await From("2001:db8:0:7:ffff::99")); // same /64, an address never seen
        Assert.Equal(HttpStatusCode.Unauthorized, (await From("2001:db8:0:8::1")).StatusCode); // the next /64 has its own bucket
        Assert.Equal(HttpStatusCode.Unauthorized, (await From("192.0.2.7")).StatusCode);
    }

    [Fact]
    public async Task AgentKey_OverItsConfiguredRate_Gets429WithRetryAfter_OnRoutesAndProxy_AnotherKeyIsUnaffected()
    {
        await using var server = await ValetTestServer.StartAsync(new Dictionary<string, string?>
        {
            ["RateLimits:AgentRequestsPerSecond"] = "1",
            ["RateLimits:AgentBurst"] = "3",
        });
        var (_, busyKey) = await server.CreateKeyAsync("default");
        var (_, otherKey) = await server.CreateKeyAsync("default");
        using var busy = server.Client(busyKey);
        using var other = server.Client(otherKey);

        for (var i = 0; i < 3; i++)
        {
            Assert.Equal(HttpStatusCode.OK, (await busy.GetAsync("/v1/bootstrap")).StatusCode);
        }

        await AssertRateLimitedAsync(await busy.GetAsync("/v1/bootstrap"));
        await AssertRateLimitedAsync(await busy.GetAsync("/v1/proxy/conn_unknown/user"));
        await AssertRateLimitedAsync(await busy.PostAsync("/v1/providers/github/token", null));

        Assert.Equal(HttpStatusCode.OK, (await other.GetAsync("/v1/bootstrap")).StatusCode);
        Assert.Equal(HttpStatusCode.NotFound, (await other.GetAsync("/v1/proxy/conn_unknown/user")).StatusCode);

        // An over-limit key is not a failed authentication: the address is not locked out.
        using var admin = server.Client();
        Assert.Equal(HttpStatusCode.OK, (await admin.GetAsync("/v1/orgs/default")).StatusCode);
    }

    [Theory]
    [InlineData("RateLimits:FailuresPerMinute", "-1")]
    [InlineData("RateLimits:AgentBurst", "0")]
    public async Task InvalidRateLimitSettings_FailTheBoot(string setting, string value)
    {
        var error = await Assert.ThrowsAnyAsync<Exception>(() => ValetTestServer.StartAsync(new Dictionary<string, string?> { [setting] = value }));

        Assert.Contains(setting, error.Message, StringComparison.Ordinal);
    }
}
