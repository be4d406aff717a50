using System.Net;
using System.Net.Http.Json;
using System.Text;
using System.Text.Json;

namespace Valet.Tests.Proxy;

/// <summary>
/// The audit event's <c>bytes_out</c>: the body the agent got, however it got it — a declared length, a chunked body,
/// no body (HEAD), a body that broke off, Valet's own answer, the retry after a refresh (docs/proxy.md, "Audit").
/// </summary>
[Collection(ProxyCollection.Name)]
public sealed class AuditBytesTests(ProxyHarness harness)
{
    [Fact]
    public async Task ADeclaredLength_IsTheBodyTheAgentGot()
    {
        var (connectionId, key, _) = await harness.ConnectedAsync();
        using var agent = harness.Client(key);

        var body = await agent.GetByteArrayAsync($"/v1/proxy/{connectionId}/download?bytes=300000");

        Assert.Equal(300_000, body.Length);
        var audited = await OnlyEventAsync(connectionId);
        Assert.Equal(300_000, audited.GetProperty("bytes_out").GetInt64());
        Assert.Equal(200, audited.GetProperty("status").GetInt32());
    }

    [Fact]
    public async Task AChunkedBody_IsCountedAsItPasses()
    {
        var (connectionId, key, _) = await harness.ConnectedAsync();
        using var agent = harness.Client(key);

        using var response = await agent.GetAsync($"/v1/proxy/{connectionId}/chunked?parts=5", HttpCompletionOption.ResponseHeadersRead);
        var body = await response.Content.ReadAsByteArrayAsync();

        Assert.True(response.Headers.TransferEncodingChunked); // no length declared
        Assert.True(body.Length > 20);
        Assert.Equal(body.Length, (await OnlyEventAsync(connectionId)).GetProperty("bytes_out").GetInt64());
    }

    [Fact]
    public async Task AHeadRequest_RelaysNoBody_WhateverItsContentLengthSays()
    {
        var (connectionId, key, _) = await harness.ConnectedAsync();
        using var agent = harness.Client(key);

        using var response = await agent.SendAsync(new HttpRequestMessage(HttpMethod.Head, $"/v1/proxy/{connectionId}/download?bytes=5000"));

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal(5000, response.Content.Headers.ContentLength);
        Assert.Equal(0, (await OnlyEventAsync(connectionId)).GetProperty("bytes_out").GetInt64());
    }

    [Fact]
    public async Task A204_RelaysNoBody()
    {
        var (connectionId, key, _) = await harness.ConnectedAsync();
        using var agent = harness.Client(key);

        using var response = await agent.GetAsync($"/v1/proxy/{connectionId}/nocontent");

        Assert.Equal(HttpStatusCode.NoContent, response.StatusCode);
        Assert.Equal(0, (await OnlyEventAsync(connectionId)).GetProperty("bytes_out").GetInt64());
    }

    [Fact]
    public async Task AnUpstreamThatDropsBeforeItsBody_GivesValetsOwn502_CountedWhole()
    {
        // Headers with a Content-Length, then nothing: the forwarder clears the unstarted response, and Valet answers.
        var (connectionId, key, _) = await harness.ConnectedAsync();
        using var agent = harness.Client(key);

        using var response = await agent.GetAsync($"/v1/proxy/{connectionId}/headers-only");
        var body = await response.Content.ReadAsByteArrayAsync();

        Assert.Equal(HttpStatusCode.BadGateway, response.StatusCode);
        Assert.Contains("provider_unavailable", System.Text.Encoding.UTF8.GetString(body), StringComparison.Ordinal);
        var audited = await OnlyEventAsync(connectionId);
        Assert.Equal(body.Length, audited.GetProperty("bytes_out").GetInt64());
    }

    [Fact]
    public async Task ADeclaredBodyThatBreaksOff_IsAuditedWithoutAByteCount()
    {
        var (connectionId, key, _) = await harness.ConnectedAsync();
        using var agent = harness.Client(key);

        using var response = await agent.GetAsync($"/v1/proxy/{connectionId}/broken?bytes=200000", HttpCompletionOption.ResponseHeadersRead);
        Assert.Equal(200_000, response.Content.Headers.ContentLength);
        await Assert.ThrowsAnyAsync<Exception>(() => response.Content.ReadAsByteArrayAsync());

        var audited = await OnlyEventAsync(connectionId);
        Assert.False(audited.TryGetProperty("bytes_out", out _)); // not known: not claimed (null fields are left out)
        Assert.StartsWith("upstream_responsebody", audited.GetProperty("detail").GetString(), StringComparison.Ordinal);
    }

    [Fact]
    public async Task ValetsOwnAnswer_AfterAHeldBack401_CountsOnlyItsBody()
    {
        // The upstream's 401 is held back (its body never goes out), the refresh finds the grant dead: the agent gets the envelope.
        var connectionId = await harness.ImportAsync("acme", "stale-" + Guid.NewGuid().ToString("N"), "rt-revoked-" + Guid.NewGuid().ToString("N"));
        var key = await harness.KeyAsync("default", new { connection = connectionId });
        using var agent = harness.Client(key);

        using var response = await agent.GetAsync($"/v1/proxy/{connectionId}/me");
        var body = await response.Content.ReadAsByteArrayAsync();

        Assert.Equal(HttpStatusCode.Conflict, response.StatusCode);
        var audited = await OnlyEventAsync(connectionId);
        Assert.Equal("reauth_required", audited.GetProperty("detail").GetString());
        Assert.Equal(body.Length, audited.GetProperty("bytes_out").GetInt64());
    }

    [Fact]
    public async Task TheRetryAfterARefresh_CountsOnlyTheAnswerTheAgentGot()
    {
        var refreshToken = "rt-" + Guid.NewGuid().ToString("N");
        harness.Upstream.ValidRefreshTokens[refreshToken] = true;
        var connectionId = await harness.ImportAsync("acme", "stale-" + Guid.NewGuid().ToString("N"), refreshToken);
        var key = await harness.KeyAsync("default", new { connection = connectionId });
        using var agent = harness.Client(key);

        using var response = await agent.PostAsync($"/v1/proxy/{connectionId}/items",
            new StringContent("{\"name\":\"replayed\"}", Encoding.UTF8, "application/json"));
        var body = await response.Content.ReadAsByteArrayAsync();

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        var audited = await OnlyEventAsync(connectionId);
        Assert.Equal("retried_after_401", audited.GetProperty("detail").GetString());
        Assert.Equal(body.Length, audited.GetProperty("bytes_out").GetInt64()); // the held-back 401's body is not in it
        Assert.Equal(19, audited.GetProperty("bytes_in").GetInt64());
    }

    private async Task<JsonElement> OnlyEventAsync(string connectionId) => (await harness.AuditEventsAsync(connectionId, expected: 1))[0];
}
