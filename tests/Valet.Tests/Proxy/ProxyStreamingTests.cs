using System.Net;
using System.Net.Http.Json;
using System.Text.Json;

namespace Valet.Tests.Proxy;

/// <summary>
/// 50 MB each way through the proxy. The whole test process (Valet, the upstream and the client share it) must allocate far
/// less than the payload: a proxy that buffered a body would allocate at least 50 MB for it. The collection runs alone.
/// </summary>
[Collection(ProxyCollection.Name)]
public sealed class ProxyStreamingTests(ProxyHarness harness)
{
    private const long Payload = 50L * 1024 * 1024;
    private const long AllocationBudget = 16L * 1024 * 1024;

    [Fact]
    public async Task Upload50MB_IsStreamed_WithFlatMemory()
    {
        var (connectionId, key, _) = await harness.ConnectedAsync();
        using var agent = harness.Client(key);
        agent.Timeout = TimeSpan.FromMinutes(2);
        await WarmUpAsync(agent, connectionId);

        var allocatedBefore = GC.GetTotalAllocatedBytes(precise: true);
        using var response = await agent.PostAsync($"/v1/proxy/{connectionId}/upload", new ZeroContent(Payload));
        var body = await response.Content.ReadFromJsonAsync<JsonElement>();
        var allocated = GC.GetTotalAllocatedBytes(precise: true) - allocatedBefore;

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal(Payload, body.GetProperty("body_bytes").GetInt64());
        Assert.True(allocated < AllocationBudget, $"allocated {allocated / 1024 / 1024} MB while proxying a 50 MB upload");
    }

    [Fact]
    public async Task Download50MB_IsStreamed_WithFlatMemory()
    {
        var (connectionId, key, _) = await harness.ConnectedAsync();
        using var agent = harness.Client(key);
        agent.Timeout = TimeSpan.FromMinutes(2);
        await WarmUpAsync(agent, connectionId);

        var allocatedBefore = GC.GetTotalAllocatedBytes(precise: true);
        using var response = await agent.GetAsync($"/v1/proxy/{connectionId}/download?bytes={Payload}", HttpCompletionOption.ResponseHeadersRead);
        await using var stream = await response.Content.ReadAsStreamAsync();
        var buffer = new byte[64 * 1024];
        long total = 0;
        int read;
        while ((read = await stream.ReadAsync(buffer)) > 0)
        {
            total += read;
        }

        var allocated = GC.GetTotalAllocatedBytes(precise: true) - allocatedBefore;

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal(Payload, total);
        Assert.True(allocated < AllocationBudget, $"allocated {allocated / 1024 / 1024} MB while proxying a 50 MB download");
    }

    private static async Task WarmUpAsync(HttpClient agent, string connectionId)
    {
        // First calls JIT and fill pools; they are not what is measured.
        (await agent.PostAsync($"/v1/proxy/{connectionId}/upload", new ZeroContent(1024 * 1024))).EnsureSuccessStatusCode();
        (await agent.GetAsync($"/v1/proxy/{connectionId}/download?bytes=1048576")).EnsureSuccessStatusCode();
    }

    /// <summary>A body of zeros written from one reused buffer, so the client adds nothing to the measurement.</summary>
    private sealed class ZeroContent(long length) : HttpContent
    {
        private static readonly byte[] Chunk = new byte[64 * 1024];

        protected override async Task SerializeToStreamAsync(Stream stream, TransportContext? context)
        {
            for (long sent = 0; sent < length; sent += Chunk.Length)
            {
                await stream.WriteAsync(Chunk.AsMemory(0, (int)Math.Min(Chunk.Length, length - sent)));
            }
        }

        protected override bool TryComputeLength(out long length2)
        {
            length2 = length;
            return true;
        }
    }
}
