using System.Net;
using System.Net.Http.Json;
using System.Text.Json;

namespace Valet.Tests.Proxy;

[Collection(ProxyCollection.Name)]
public sealed class AuditTrailTests(ProxyHarness harness)
{
    [Fact]
    public async Task EveryProxiedCall_IsAudited_WithoutQueryValuesHeadersOrBodies_AndPagesNewestFirst()
    {
        var (connectionId, key, token) = await harness.ConnectedAsync();
        using var agent = harness.Client(key);
        var marker = "audit-" + Guid.NewGuid().ToString("N");
        (await agent.PostAsync($"/v1/proxy/{connectionId}/{marker}?secret=hunter2&page=3", new StringContent("body-secret"))).EnsureSuccessStatusCode();
        (await agent.GetAsync($"/v1/proxy/{connectionId}/{marker}-second")).EnsureSuccessStatusCode();
        using var admin = harness.Client();

        var events = await harness.AuditEventsAsync(connectionId, expected: 2);

        var second = events[0];
        var first = events[1];
        Assert.Equal($"/{marker}-second", second.GetProperty("path").GetString());
        Assert.Equal($"/{marker}?secret&page", first.GetProperty("path").GetString());
        Assert.Equal("proxy.request", first.GetProperty("kind").GetString());
        Assert.Equal("POST", first.GetProperty("method").GetString());
        Assert.Equal(200, first.GetProperty("status").GetInt32());
        Assert.Equal(11, first.GetProperty("bytes_in").GetInt64());
        Assert.True(first.GetProperty("bytes_out").GetInt64() > 0);
        Assert.True(first.GetProperty("duration_ms").GetInt64() >= 0);
        Assert.StartsWith("key_", first.GetProperty("key_id").GetString(), StringComparison.Ordinal);
        foreach (var secret in new[] { "hunter2", "body-secret", token, key })
        {
            Assert.DoesNotContain(secret, string.Join('\n', events.Select(e => e.ToString())), StringComparison.Ordinal);
        }

        var page1 = await admin.GetFromJsonAsync<JsonElement>("/v1/orgs/default/audit?limit=1");
        var next = page1.GetProperty("next").GetInt64();
        var page2 = await admin.GetFromJsonAsync<JsonElement>($"/v1/orgs/default/audit?limit=1&before={next}");
        Assert.Single(page1.GetProperty("events").EnumerateArray());
        Assert.True(page2.GetProperty("events")[0].GetProperty("id").GetInt64() < next);
        Assert.Equal(HttpStatusCode.UnprocessableEntity, (await admin.GetAsync("/v1/orgs/default/audit?limit=0")).StatusCode);
        Assert.Equal(HttpStatusCode.Forbidden, (await agent.GetAsync("/v1/orgs/default/audit")).StatusCode);
    }
}
