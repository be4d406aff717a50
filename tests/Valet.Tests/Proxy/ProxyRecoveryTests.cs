using System.Net;
using System.Net.Http.Json;
using System.Text;
using System.Text.Json;

namespace Valet.Tests.Proxy;

/// <summary>Refresh-on-401, envelopes, upstream failures.</summary>
[Collection(ProxyCollection.Name)]
public sealed class ProxyRecoveryTests(ProxyHarness harness)
{
    [Fact]
    public async Task Upstream401_RefreshesOnce_AndRetriesWithTheNewToken_ReplayingASmallBody()
    {
        var refreshToken = "rt-" + Guid.NewGuid().ToString("N");
        harness.Upstream.ValidRefreshTokens[refreshToken] = true;
        var stale = "stale-" + Guid.NewGuid().ToString("N");
        var connectionId = await harness.ImportAsync("acme", stale, refreshToken);
        var key = await harness.KeyAsync("default", new { connection = connectionId });
        using var agent = harness.Client(key);
        var refreshesBefore = harness.Upstream.RefreshCalls;
        var path = "/api/items-" + Guid.NewGuid().ToString("N");

        using var response = await agent.PostAsync($"/v1/proxy/{connectionId}{path[4..]}",
            new StringContent("{\"name\":\"replayed\"}", Encoding.UTF8, "application/json"));

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal(refreshesBefore + 1, harness.Upstream.RefreshCalls);
        var attempts = harness.Upstream.Seen.Where(s => s.RawTarget == path).ToList();
        Assert.Equal(2, attempts.Count);
        Assert.Equal(stale, attempts[0].Bearer);
        Assert.Equal(harness.Upstream.LastMintedToken, attempts[1].Bearer);
        Assert.Equal(19, attempts[1].BodyBytes);
        Assert.Equal(19, (await response.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("body_bytes").GetInt32());
        Assert.DoesNotContain(stale, harness.Logs.All, StringComparison.Ordinal);
        Assert.DoesNotContain(harness.Upstream.LastMintedToken, harness.Logs.All, StringComparison.Ordinal);
        Assert.DoesNotContain(refreshToken, harness.Logs.All, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Upstream401_OnAStreamedLargeBody_GoesBack_ButTheNextCallCarriesTheRefreshedToken()
    {
        var refreshToken = "rt-" + Guid.NewGuid().ToString("N");
        harness.Upstream.ValidRefreshTokens[refreshToken] = true;
        var connectionId = await harness.ImportAsync("acme", "stale-" + Guid.NewGuid().ToString("N"), refreshToken);
        var key = await harness.KeyAsync("default", new { connection = connectionId });
        using var agent = harness.Client(key);

        using var rejected = await agent.PostAsync($"/v1/proxy/{connectionId}/upload", new ByteArrayContent(new byte[100 * 1024]));
        using var next = await agent.PostAsync($"/v1/proxy/{connectionId}/upload", new ByteArrayContent(new byte[100 * 1024]));

        Assert.Equal(HttpStatusCode.Unauthorized, rejected.StatusCode);
        Assert.Equal(HttpStatusCode.OK, next.StatusCode);
    }

    [Fact]
    public async Task Upstream401_WhenTheGrantIsDead_GivesTheReauthEnvelope_ThenNoUpstreamCallAtAll()
    {
        var connectionId = await harness.ImportAsync("acme", "stale-" + Guid.NewGuid().ToString("N"), "rt-revoked-" + Guid.NewGuid().ToString("N"));
        var key = await harness.KeyAsync("default", new { connection = connectionId });
        using var agent = harness.Client(key);

        using var first = await agent.GetAsync($"/v1/proxy/{connectionId}/me");
        var seenAfterFirst = harness.Upstream.Seen.Count;
        using var second = await agent.GetAsync($"/v1/proxy/{connectionId}/me");

        foreach (var response in new[] { first, second })
        {
            Assert.Equal(HttpStatusCode.Conflict, response.StatusCode);
            var envelope = await response.Content.ReadFromJsonAsync<JsonElement>();
            Assert.Equal("reauth_required", envelope.GetProperty("code").GetString());
            Assert.Equal("urn:valet:problem:reauth_required", envelope.GetProperty("type").GetString());
            Assert.Equal(connectionId, envelope.GetProperty("connection_id").GetString());
            Assert.Equal("invalid_grant", envelope.GetProperty("reason").GetString());
        }

        Assert.Equal(seenAfterFirst, harness.Upstream.Seen.Count);
    }

    public static TheoryData<string, HttpStatusCode, int, int> Outages => new()
    {
        // refresh token prefix, status, Retry-After range (seconds): the backoff (30 s + up to 30 s jitter) or the provider's 7.
        { ResourceServer.Outage5xx, HttpStatusCode.BadGateway, 30, 60 },
        { ResourceServer.Outage429, HttpStatusCode.BadGateway, 30, 60 },
        { ResourceServer.OutageHang, HttpStatusCode.GatewayTimeout, 30, 60 },
    };

    /// <summary>
    /// Issue 15, item 2: for a token without expires_in the upstream 401 is the only expiry signal; when the refresh it
    /// triggers meets an outage the agent must learn that the provider is down, not that its credentials are wrong.
    /// </summary>
    [Theory]
    [MemberData(nameof(Outages))]
    public async Task Upstream401_WhenTheRefreshMeetsAnOutage_IsProviderUnavailableWithRetryAfter_NotThe401(string outage, HttpStatusCode status,
        int minRetryAfter, int maxRetryAfter)
    {
        var refreshToken = outage + Guid.NewGuid().ToString("N");
        var stale = "stale-" + Guid.NewGuid().ToString("N");
        var connectionId = await harness.ImportAsync("acme", stale, refreshToken);
        var key = await harness.KeyAsync("default", new { connection = connectionId });
        using var admin = harness.Client();
        var before = await admin.GetFromJsonAsync<JsonElement>($"/v1/connections/{connectionId}");
        using var agent = harness.Client(key);
        var path = "/api/outage-" + Guid.NewGuid().ToString("N");

        using var response = await agent.GetAsync($"/v1/proxy/{connectionId}{path[4..]}");

        Assert.Equal(status, response.StatusCode);
        Assert.Equal("application/problem+json", response.Content.Headers.ContentType?.MediaType);
        Assert.Equal("provider_unavailable", (await response.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("code").GetString());
        var retryAfter = response.Headers.RetryAfter?.Delta;
        Assert.NotNull(retryAfter);
        Assert.InRange(retryAfter.Value, TimeSpan.FromSeconds(minRetryAfter), TimeSpan.FromSeconds(maxRetryAfter));
        Assert.True(response.Headers.WwwAuthenticate.Count == 0, "the upstream's 401 challenge must not reach the agent");
        Assert.Equal(1, harness.Upstream.SeenCount(path)); // not retried without a token

        // An outage never marks a connection broken, nor loses its tokens.
        var after = await admin.GetFromJsonAsync<JsonElement>($"/v1/connections/{connectionId}");
        Assert.Equal("active", after.GetProperty("status").GetString());
        Assert.Equal(before.GetProperty("expires_at").GetDateTimeOffset(), after.GetProperty("expires_at").GetDateTimeOffset());
        Assert.Contains(harness.Logs.Lines, l => l.Contains("[5006]", StringComparison.Ordinal) && l.Contains(connectionId, StringComparison.Ordinal));
        Assert.DoesNotContain(refreshToken, harness.Logs.All, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Upstream401_OnAStreamedBody_WhenTheRefreshMeetsAnOutage_IsProviderUnavailable_NotThe401()
    {
        var connectionId = await harness.ImportAsync("acme", "stale-" + Guid.NewGuid().ToString("N"), ResourceServer.Outage5xx + Guid.NewGuid().ToString("N"));
        var key = await harness.KeyAsync("default", new { connection = connectionId });
        using var agent = harness.Client(key);

        using var response = await agent.PostAsync($"/v1/proxy/{connectionId}/upload", new ByteArrayContent(new byte[100 * 1024]));

        Assert.Equal(HttpStatusCode.BadGateway, response.StatusCode);
        Assert.Equal("provider_unavailable", (await response.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("code").GetString());
        Assert.NotNull(response.Headers.RetryAfter?.Delta);
    }

    [Fact]
    public async Task Target_WithRequiredScopesTheConnectionLacks_GivesMissingScopes_UnknownScopesNeverBlock()
    {
        var token = "valid-" + Guid.NewGuid().ToString("N");
        harness.Upstream.ValidTokens[token] = true;
        var narrow = await harness.ImportAsync("acme", token, scopes: ["profile"]);
        var unknown = await harness.ImportAsync("acme", token);
        var granted = await harness.ImportAsync("acme", token, scopes: ["profile", "mail.read"]);
        var key = await harness.KeyAsync("default", new { provider = "acme" });
        using var agent = harness.Client(key);

        using var missing = await agent.GetAsync($"/v1/targets/{await MailTargetAsync(narrow)}/inbox");
        using var unknownOk = await agent.GetAsync($"/v1/targets/{await MailTargetAsync(unknown)}/inbox?top=5");
        using var grantedOk = await agent.GetAsync($"/v1/targets/{await MailTargetAsync(granted)}/");

        Assert.Equal(HttpStatusCode.Conflict, missing.StatusCode);
        var envelope = await missing.Content.ReadFromJsonAsync<JsonElement>();
        Assert.Equal("missing_scopes", envelope.GetProperty("code").GetString());
        Assert.Equal(["mail.read"], envelope.GetProperty("missing_scopes").EnumerateArray().Select(s => s.GetString()));
        Assert.Equal(HttpStatusCode.OK, unknownOk.StatusCode);
        Assert.Equal("/api/mail/inbox?top=5", (await unknownOk.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("raw_target").GetString());
        Assert.Equal(HttpStatusCode.OK, grantedOk.StatusCode);
        Assert.Equal("/api/mail/", (await grantedOk.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("raw_target").GetString());
    }

    [Fact]
    public async Task UpstreamDown_Is502ProviderUnavailable_AndTheConnectionIsUnchanged()
    {
        var connectionId = await harness.ImportAsync("gone", "token-" + Guid.NewGuid().ToString("N"), "rt-" + Guid.NewGuid().ToString("N"));
        var key = await harness.KeyAsync("default", new { connection = connectionId });
        using var admin = harness.Client();
        var before = await admin.GetStringAsync($"/v1/connections/{connectionId}");
        using var agent = harness.Client(key);

        using var response = await agent.GetAsync($"/v1/proxy/{connectionId}/anything");

        Assert.Equal(HttpStatusCode.BadGateway, response.StatusCode);
        Assert.Equal("provider_unavailable", (await response.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("code").GetString());
        Assert.Equal(TimeSpan.FromSeconds(5), response.Headers.RetryAfter?.Delta); // every provider_unavailable says when (SPEC §12)
        Assert.False(response.Headers.Contains("Valet-Upstream")); // Valet's own answer, not the upstream's
        Assert.Equal(before, await admin.GetStringAsync($"/v1/connections/{connectionId}"));
    }

    private async Task<string> MailTargetAsync(string connectionId)
    {
        using var admin = harness.Client();
        var targets = await admin.GetFromJsonAsync<JsonElement>("/v1/orgs/default/targets");
        return targets.EnumerateArray().Single(t => t.GetProperty("connection_id").GetString() == connectionId).GetProperty("id").GetString()!;
    }
}
