using System.Net;
using System.Net.Http.Json;
using System.Text.Json;

namespace Valet.Tests.Proxy;

[Collection(ProxyCollection.Name)]
public sealed class ProxyHeaderTests(ProxyHarness harness)
{
    [Fact]
    public async Task Forward_InjectsTokenAndApiHeaders_KeepsQuery_DropsAgentCredentialsAndForwardingHeaders()
    {
        var (connectionId, key, token) = await harness.ConnectedAsync();
        using var agent = harness.Client(key);
        using var request = new HttpRequestMessage(HttpMethod.Get, $"/v1/proxy/{connectionId}/repos/octo/hello?page=2&q=two%20words&empty=");
        request.Headers.TryAddWithoutValidation("Cookie", "agent-session=abc");
        request.Headers.TryAddWithoutValidation("X-Forwarded-For", "10.0.0.1");
        request.Headers.TryAddWithoutValidation("X-Forwarded-Host", "evil.test");
        request.Headers.TryAddWithoutValidation("Forwarded", "for=10.0.0.1");
        request.Headers.TryAddWithoutValidation("Proxy-Authorization", "Basic Zm9vOmJhcg==");
        request.Headers.TryAddWithoutValidation("X-Valet-Debug", "1");
        request.Headers.TryAddWithoutValidation("Connection", "X-Hop");
        request.Headers.TryAddWithoutValidation("X-Hop", "drop-me");
        request.Headers.TryAddWithoutValidation("X-Agent-Note", "keep-me");

        using var response = await agent.SendAsync(request);

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        var seen = harness.Upstream.Seen.Last(s => s.RawTarget.StartsWith("/api/repos/octo/hello", StringComparison.Ordinal));
        Assert.Equal("/api/repos/octo/hello?page=2&q=two%20words&empty=", seen.RawTarget);
        Assert.Equal(token, seen.Bearer);
        Assert.Equal("2024-06-01", seen.Headers["Acme-Version"]);
        Assert.Equal("keep-me", seen.Headers["X-Agent-Note"]);
        Assert.Equal(harness.Upstream.BaseUrl.Authority, seen.Headers["Host"]);
        foreach (var dropped in new[] { "Cookie", "X-Forwarded-For", "X-Forwarded-Host", "Forwarded", "Proxy-Authorization", "X-Valet-Debug", "X-Hop" })
        {
            Assert.False(seen.Headers.ContainsKey(dropped), dropped + " reached the upstream");
        }

        Assert.DoesNotContain(seen.Headers.Values, value => value.Contains(key, StringComparison.Ordinal));
    }

    [Fact]
    public async Task Forward_ConnectionNamingAContentHeaderOrAMalformedToken_DropsWhatItCan_AndNeverFails()
    {
        var (connectionId, key, _) = await harness.ConnectedAsync();
        using var agent = harness.Client(key);
        using var request = new HttpRequestMessage(HttpMethod.Post, $"/v1/proxy/{connectionId}/echo-headers")
        {
            Content = new StringContent("{}", System.Text.Encoding.UTF8, "application/json"),
        };
        request.Content.Headers.TryAddWithoutValidation("Content-Language", "en");
        request.Headers.TryAddWithoutValidation("Connection", "Content-Language, Authorization, not a header name, X-Hop");
        request.Headers.TryAddWithoutValidation("X-Hop", "drop-me");

        using var response = await agent.SendAsync(request);

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        var seen = harness.Upstream.Seen.Last(s => s.RawTarget.StartsWith("/api/echo-headers", StringComparison.Ordinal));
        Assert.False(seen.Headers.ContainsKey("Content-Language"), "a content header named by Connection reached the upstream");
        Assert.False(seen.Headers.ContainsKey("X-Hop"));
        Assert.Equal("application/json; charset=utf-8", seen.Headers["Content-Type"]);
    }

    [Theory]
    [InlineData("close, X-Secret-Hop")]
    [InlineData("keep-alive, X-Secret-Hop")]
    [InlineData("X-Secret-Hop, close")]
    [InlineData("X-Secret-Hop")]
    [InlineData("X-Secret-Hop\r\nConnection: close")] // two Connection lines: both name hop-by-hop headers
    [InlineData("X-Secret-Hop\r\nConnection: keep-alive")]
    [InlineData("keep-alive, X-Secret-Hop\r\nConnection: keep-alive")]
    [InlineData("close\r\nConnection: X-Secret-Hop")]
    [InlineData("X-Other\r\nConnection: X-Secret-Hop")]
    public async Task Request_HeaderNamedByTheAgentsConnectionHeader_DoesNotReachUpstream_EvenBesideADirective(string connection)
    {
        var (connectionId, key, _) = await harness.ConnectedAsync();
        var marker = Guid.NewGuid().ToString("N");

        // Raw bytes: HttpClient would rewrite the Connection header. Kestrel itself reduces "close, X-Secret-Hop" to
        // "close" before any application runs; the proxy must still see the name.
        using var tcp = new System.Net.Sockets.TcpClient();
        await tcp.ConnectAsync(harness.BaseUrl.Host, harness.BaseUrl.Port);
        var stream = tcp.GetStream();
        var raw = $"GET /v1/proxy/{connectionId}/echo-headers?m={marker} HTTP/1.1\r\nHost: {harness.BaseUrl.Authority}\r\n" +
            $"Authorization: Bearer {key}\r\nConnection: {connection}\r\nX-Secret-Hop: secret-hop-value\r\nX-Kept: kept\r\n\r\n";
        await stream.WriteAsync(System.Text.Encoding.ASCII.GetBytes(raw));
        var buffer = new byte[8192];
        var read = await stream.ReadAsync(buffer).AsTask().WaitAsync(TimeSpan.FromSeconds(30));

        Assert.StartsWith("HTTP/1.1 200", System.Text.Encoding.ASCII.GetString(buffer, 0, read), StringComparison.Ordinal);
        var seen = harness.Upstream.Seen.Last(s => s.RawTarget.Contains(marker, StringComparison.Ordinal));
        Assert.False(seen.Headers.ContainsKey("X-Secret-Hop"), $"Connection: {connection} — X-Secret-Hop reached the upstream");
        Assert.Equal("kept", seen.Headers["X-Kept"]);
    }

    [Fact]
    public async Task Request_AHeaderValueThatIsNotAscii_Is400InvalidHeader_NotAnOutage_AndNothingIsSent()
    {
        var (connectionId, key, _) = await harness.ConnectedAsync();
        var marker = Guid.NewGuid().ToString("N");

        // UTF-8 "café" as raw bytes: Kestrel accepts it, HttpClient cannot send it.
        var (status, text) = await RawHttp.SendAsync(harness.BaseUrl, "GET", $"/v1/proxy/{connectionId}/echo-headers?m={marker}", key,
            "X-Note: caf\u00c3\u00a9\r\n");

        Assert.Equal(400, status);
        Assert.Contains("\"code\":\"invalid_header\"", text, StringComparison.Ordinal);
        Assert.Contains("X-Note", text, StringComparison.Ordinal);
        Assert.DoesNotContain(harness.Upstream.Seen, s => s.RawTarget.Contains(marker, StringComparison.Ordinal));

        // The same value in a header the agent's Connection header names is dropped, not refused.
        var dropped = Guid.NewGuid().ToString("N");
        var (droppedStatus, _) = await RawHttp.SendAsync(harness.BaseUrl, "GET", $"/v1/proxy/{connectionId}/echo-headers?m={dropped}", key,
            "Connection: X-Note\r\nX-Note: caf\u00c3\u00a9\r\n");
        Assert.Equal(200, droppedStatus);
        Assert.False(harness.Upstream.Seen.Last(s => s.RawTarget.Contains(dropped, StringComparison.Ordinal)).Headers.ContainsKey("X-Note"));
    }

    [Theory]
    [InlineData("TRACE")]
    [InlineData("TRACK")]
    public async Task Request_TraceOrTrack_Is405_AndNeverReachesTheUpstream_WhichWouldEchoTheCredential(string method)
    {
        var (connectionId, key, _) = await harness.ConnectedAsync();
        var marker = Guid.NewGuid().ToString("N");

        var (status, text) = await RawHttp.SendAsync(harness.BaseUrl, method, $"/v1/proxy/{connectionId}/echo-headers?m={marker}", key);

        Assert.Equal(405, status);
        Assert.Contains("\"code\":\"method_not_allowed\"", text, StringComparison.Ordinal);
        Assert.Contains("Allow: GET, HEAD, POST, PUT, PATCH, DELETE, OPTIONS", text, StringComparison.OrdinalIgnoreCase);
        Assert.DoesNotContain(harness.Upstream.Seen, s => s.RawTarget.Contains(marker, StringComparison.Ordinal));
    }

    [Fact]
    public async Task Request_ANameFromAnEarlierRequestOnTheSameConnection_IsNotDroppedFromALaterOne()
    {
        var (connectionId, key, _) = await harness.ConnectedAsync();
        var first = Guid.NewGuid().ToString("N");
        var second = Guid.NewGuid().ToString("N");
        using var tcp = new System.Net.Sockets.TcpClient();
        await tcp.ConnectAsync(harness.BaseUrl.Host, harness.BaseUrl.Port);
        var stream = tcp.GetStream();

        async Task SendAsync(string marker, string connectionLine)
        {
            var raw = $"GET /v1/proxy/{connectionId}/echo-headers?m={marker} HTTP/1.1\r\nHost: {harness.BaseUrl.Authority}\r\n" +
                $"Authorization: Bearer {key}\r\n{connectionLine}X-Secret-Hop: value\r\n\r\n";
            await stream.WriteAsync(System.Text.Encoding.ASCII.GetBytes(raw));
            var buffer = new byte[8192];
            var text = string.Empty;
            while (!text.Contains("\r\n0\r\n\r\n", StringComparison.Ordinal) && !text.Contains("Content-Length", StringComparison.OrdinalIgnoreCase))
            {
                var read = await stream.ReadAsync(buffer).AsTask().WaitAsync(TimeSpan.FromSeconds(30));
                Assert.True(read > 0);
                text += System.Text.Encoding.ASCII.GetString(buffer, 0, read);
            }

            await Task.Delay(100); // let the rest of a body arrive before the next request
            while (stream.DataAvailable && await stream.ReadAsync(buffer) > 0)
            {
            }
        }

        await SendAsync(first, "Connection: keep-alive, X-Secret-Hop\r\n");
        await SendAsync(second, "Connection: keep-alive\r\n");

        Assert.False(harness.Upstream.Seen.Last(s => s.RawTarget.Contains(first, StringComparison.Ordinal)).Headers.ContainsKey("X-Secret-Hop"));
        Assert.True(harness.Upstream.Seen.Last(s => s.RawTarget.Contains(second, StringComparison.Ordinal)).Headers.ContainsKey("X-Secret-Hop"),
            "a header named only by the previous request's Connection header was dropped");
    }

    [Fact]
    public async Task Response_HeaderNamedByTheUpstreamsConnectionHeader_DoesNotReachTheAgent()
    {
        var (connectionId, key, _) = await harness.ConnectedAsync();

        var (status, text) = await RawHttp.SendAsync(harness.BaseUrl, "GET", $"/v1/proxy/{connectionId}/hop-headers", key);

        Assert.Equal(200, status);
        var head = text[..text.IndexOf("\r\n\r\n", StringComparison.Ordinal)];
        Assert.DoesNotContain("X-Secret-Hop", head, StringComparison.OrdinalIgnoreCase);
        Assert.DoesNotContain("upstream-hop-value", text, StringComparison.Ordinal);
        Assert.Contains("X-Upstream-Note: keep-me", head, StringComparison.OrdinalIgnoreCase);
    }

    [Theory]
    [InlineData(null)]
    [InlineData("vk_0123456789_not-a-real-secret-0000000000000000000000000000")]
    [InlineData("some-opaque-token")]
    public async Task BothProxyRoutes_WithoutAValidKey_Answer401Problem(string? bearer)
    {
        var (connectionId, _, _) = await harness.ConnectedAsync();
        using var caller = harness.Client(bearer);

        foreach (var path in new[] { $"/v1/proxy/{connectionId}/user", "/v1/targets/tgt_unknown/user", "/v1/targets/tgt_unknown" })
        {
            using var response = await caller.GetAsync(path);
            Assert.Equal(HttpStatusCode.Unauthorized, response.StatusCode);
            Assert.Equal("application/problem+json", response.Content.Headers.ContentType?.MediaType);
            Assert.Equal("unauthorized", (await response.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("code").GetString());
        }
    }

    [Fact]
    public async Task UpstreamBodiless404_PassesThroughAsTheUpstreamSentIt_NotAsAValetProblem()
    {
        var (connectionId, key, _) = await harness.ConnectedAsync();
        using var agent = harness.Client(key);

        using var response = await agent.GetAsync($"/v1/proxy/{connectionId}/gone");

        Assert.Equal(HttpStatusCode.NotFound, response.StatusCode);
        Assert.Null(response.Content.Headers.ContentType);
        Assert.Empty(await response.Content.ReadAsByteArrayAsync());
    }

    [Fact]
    public async Task Forward_DropsUpstreamSetCookie()
    {
        var (connectionId, key, _) = await harness.ConnectedAsync();
        using var agent = harness.Client(key);

        using var response = await agent.GetAsync($"/v1/proxy/{connectionId}/cookie");

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.False(response.Headers.Contains("Set-Cookie"));
    }

    [Fact]
    public async Task RateLimited_429_PassesBackWithRetryAfterAndRateLimitHeaders()
    {
        var (connectionId, key, _) = await harness.ConnectedAsync();
        using var agent = harness.Client(key);

        using var limited = await agent.GetAsync($"/v1/proxy/{connectionId}/limited");
        using var resetOnly = await agent.GetAsync($"/v1/proxy/{connectionId}/limited-no-retry-after");

        Assert.Equal(HttpStatusCode.TooManyRequests, limited.StatusCode);
        Assert.Equal(TimeSpan.FromSeconds(7), limited.Headers.RetryAfter?.Delta);
        Assert.Equal("0", limited.Headers.GetValues("X-RateLimit-Remaining").Single());
        Assert.Equal(HttpStatusCode.TooManyRequests, resetOnly.StatusCode);
        Assert.Equal(TimeSpan.FromSeconds(12), resetOnly.Headers.RetryAfter?.Delta);
    }

    [Fact]
    public async Task Redirects_AreNotFollowed_TheAgentGetsTheRedirect()
    {
        var (connectionId, key, _) = await harness.ConnectedAsync();
        using var agent = harness.Client(key);
        var before = harness.Upstream.SeenCount("/api/elsewhere");

        using var response = await agent.GetAsync($"/v1/proxy/{connectionId}/redirect");

        Assert.Equal(HttpStatusCode.Found, response.StatusCode);
        Assert.Equal(before, harness.Upstream.SeenCount("/api/elsewhere"));
    }

    [Fact]
    public async Task Permissions_AnotherOrgsKeyGets404_AKeyWithoutPermissionGets403()
    {
        var (connectionId, _, _) = await harness.ConnectedAsync();
        using var admin = harness.Client();
        var org = "other-" + Guid.NewGuid().ToString("N")[..8];
        (await admin.PostAsJsonAsync("/v1/orgs", new { id = org, name = "Other" })).EnsureSuccessStatusCode();
        var foreignKey = await harness.KeyAsync(org, new { provider = "acme" });
        var (_, unrelatedKey, _) = await harness.ConnectedAsync();

        using var foreign = harness.Client(foreignKey);
        using var unrelated = harness.Client(unrelatedKey);
        using var notFound = await foreign.GetAsync($"/v1/proxy/{connectionId}/user");
        using var forbidden = await unrelated.GetAsync($"/v1/proxy/{connectionId}/user");
        using var anonymous = await harness.Client(bearer: null).GetAsync($"/v1/proxy/{connectionId}/user");

        Assert.Equal(HttpStatusCode.NotFound, notFound.StatusCode);
        Assert.Equal(HttpStatusCode.Forbidden, forbidden.StatusCode);
        Assert.Equal("forbidden", (await forbidden.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("code").GetString());
        Assert.Equal(HttpStatusCode.Unauthorized, anonymous.StatusCode);
    }

    [Fact]
    public async Task ProviderPermission_CoversEveryConnectionOfTheProvider_AndTheBareConnectionPathReachesTheApiBase()
    {
        var (connectionId, _, _) = await harness.ConnectedAsync();
        var key = await harness.KeyAsync("default", new { provider = "acme" });
        using var agent = harness.Client(key);

        using var response = await agent.GetAsync($"/v1/proxy/{connectionId}");

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal("/api", (await response.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("raw_target").GetString());
    }

    [Fact]
    public async Task RequestBody_OverTheLimit_Is413WithoutReachingUpstream()
    {
        var (connectionId, key, _) = await harness.ConnectedAsync();
        var before = harness.Upstream.Seen.Count;

        var (status, text) = await RawHttp.SendAsync(harness.BaseUrl, "POST", $"/v1/proxy/{connectionId}/upload", key,
            $"Content-Length: {ProxyHarness.MaxRequestBytes + 1}\r\n");

        Assert.Equal(413, status);
        Assert.Contains("payload_too_large", text, StringComparison.Ordinal);
        Assert.Equal(before, harness.Upstream.Seen.Count);
    }
}
