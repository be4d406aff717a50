using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using Valet.Server.Proxy;

namespace Valet.Tests.Proxy;

[Collection(ProxyCollection.Name)]
public sealed class ProxySsrfTests(ProxyHarness harness)
{
    public static TheoryData<string> UnsafePaths() =>
    [
        "/../admin",
        "/a/../../admin",
        "/a/./b",
        "/a/%2e%2e/b",
        "/%2E%2E/admin",
        "/a/.%2e/b",
        "/a/%252e%252e/b",
        "/a%2fb",
        "/a%2Fb/c",
        "/a%5cb",
        "/a\\b",
        "//evil.test/x",
        "/a//b",
        "/evil.test@attacker.test/x",
        "/user%40attacker.test",
        "/http://evil.test/x",
        "/https:%2f%2fevil.test",
        "/javascript:alert(1)",
        "/a%00b",
        "/a%0d%0aX-Injected:%201",
    ];

    [Theory]
    [MemberData(nameof(UnsafePaths))]
    public async Task UnsafePath_IsRefusedWith400_AndNeverReachesUpstream(string rest)
    {
        var (connectionId, key, _) = await harness.ConnectedAsync();
        var before = harness.Upstream.Seen.Count;

        var (status, text) = await RawHttp.SendAsync(harness.BaseUrl, "GET", $"/v1/proxy/{connectionId}{rest}", key);

        Assert.Equal(400, status);
        Assert.Equal(before, harness.Upstream.Seen.Count);
        if (text.Contains("application/problem+json", StringComparison.Ordinal))
        {
            Assert.Contains("\"invalid_path\"", text, StringComparison.Ordinal);
        }
    }

    [Fact]
    public async Task SafePath_WithEncodedCharactersAndAtSignLaterOn_IsForwardedByteForByte()
    {
        var (connectionId, key, _) = await harness.ConnectedAsync();

        var (status, text) = await RawHttp.SendAsync(harness.BaseUrl, "GET", $"/v1/proxy/{connectionId}/users/alice@example.test/files/a%20b.txt?x=%2F", key);

        Assert.Equal(200, status);
        Assert.Contains("\"raw_target\":\"/api/users/alice@example.test/files/a%20b.txt?x=%2F\"", text, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("faraway")]   // a public-looking name whose DNS answer is 127.0.0.1
    [InlineData("mixed")]     // one public and one loopback answer: any bad answer refuses
    [InlineData("metadata")]  // 169.254.169.254, refused even with AllowPrivateNetwork
    public async Task HostResolvingToForbiddenAddress_IsRefusedAtConnectTime(string provider)
    {
        var token = "valid-" + Guid.NewGuid().ToString("N");
        harness.Upstream.ValidTokens[token] = true;
        var connectionId = await harness.ImportAsync(provider, token);
        var key = await harness.KeyAsync("default", new { connection = connectionId });
        using var agent = harness.Client(key);
        var before = harness.Upstream.Seen.Count;

        using var response = await agent.GetAsync($"/v1/proxy/{connectionId}/user");

        Assert.Equal(HttpStatusCode.BadGateway, response.StatusCode);
        Assert.Equal("upstream_address_refused", (await response.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("code").GetString());
        Assert.Equal(before, harness.Upstream.Seen.Count);
    }

    [Theory]
    [InlineData("127.0.0.1", "Private")]
    [InlineData("10.1.2.3", "Private")]
    [InlineData("172.16.0.1", "Private")]
    [InlineData("172.31.255.255", "Private")]
    [InlineData("172.32.0.1", "Public")]
    [InlineData("192.168.1.1", "Private")]
    [InlineData("100.64.0.1", "Private")]
    [InlineData("100.128.0.1", "Public")]
    [InlineData("169.254.169.254", "Forbidden")]
    [InlineData("169.254.0.1", "Forbidden")]
    [InlineData("0.0.0.0", "Forbidden")]
    [InlineData("224.0.0.1", "Forbidden")]
    [InlineData("255.255.255.255", "Forbidden")]
    [InlineData("8.8.8.8", "Public")]
    [InlineData("::1", "Private")]
    [InlineData("::", "Forbidden")]
    [InlineData("fe80::1", "Forbidden")]
    [InlineData("fc00::1", "Private")]
    [InlineData("fd12:3456::1", "Private")]
    [InlineData("fd00:ec2::254", "Forbidden")]
    [InlineData("ff02::1", "Forbidden")]
    [InlineData("::ffff:127.0.0.1", "Private")]
    [InlineData("::ffff:169.254.169.254", "Forbidden")]
    [InlineData("64:ff9b::a9fe:a9fe", "Forbidden")]
    [InlineData("64:ff9b::808:808", "Public")]
    [InlineData("2606:4700:4700::1111", "Public")]
    public void Classify_SortsAddressesIntoPublicPrivateAndForbidden(string address, string expected) =>
        Assert.Equal(expected, UpstreamNetwork.Classify(IPAddress.Parse(address)).ToString());
}
