namespace Valet.Tests.Proxy;

/// <summary>
/// Traversal forms that some upstreams treat as <c>..</c> although they are not a plain dot segment: Tomcat-style path
/// parameters (<c>..;</c>, <c>..;jsessionid=x</c>) and full-width or other compatibility dots (U+FF0E, U+FE52, U+2024,
/// U+2025), percent-encoded as UTF-8 (once or twice). Raw non-ASCII bytes in a request target never get this far: Kestrel
/// refuses them. All are refused with the same 400 <c>invalid_path</c> as <c>..</c>.
/// </summary>
[Collection(ProxyCollection.Name)]
public sealed class ProxyPathTests(ProxyHarness harness)
{
    public static TheoryData<string> LookalikeTraversals() =>
    [
        "/a/..;/admin",
        "/..;/admin",
        "/a/..;jsessionid=1/admin",
        "/a/.;/admin",
        "/a/%2e%2e;/admin",
        "/a/%2e%2e%3b/admin",
        "/a/%EF%BC%8E%EF%BC%8E/admin",
        "/a/%ef%bc%8e/admin",
        "/a/.%EF%BC%8E/admin",
        "/a/%25EF%25BC%258E%25EF%25BC%258E/admin",
        "/a/%EF%B9%92%EF%B9%92/admin",
        "/a/%E2%80%A5/admin",
        "/a/%EF%BC%8E%EF%BC%8E;/admin",
        "/a/%u002e%u002e/admin", // IIS's %u escapes: a '%' without two hex digits
        "/a/%c0%ae%c0%ae/admin", // overlong UTF-8 for '.', which a lenient decoder reads as a dot
        "/a/%25c0%25ae%25c0%25ae/admin", // the same, encoded twice
        "/a/..%20/admin", // '.. ': '..' to a server that trims trailing spaces from names
        "/a/%20.%20/admin",
        "/a/%25u002e%25u002e/admin", // IIS's %u form, encoded twice
    ];

    [Theory]
    [MemberData(nameof(LookalikeTraversals))]
    public async Task LookalikeTraversalSegment_IsRefusedAsInvalidPath_AndNeverReachesUpstream(string rest)
    {
        var (connectionId, key, _) = await harness.ConnectedAsync();
        var before = harness.Upstream.Seen.Count;

        var (status, text) = await RawHttp.SendAsync(harness.BaseUrl, "GET", $"/v1/proxy/{connectionId}{rest}", key);

        Assert.Equal(400, status);
        Assert.Contains("\"invalid_path\"", text, StringComparison.Ordinal);
        Assert.Equal(before, harness.Upstream.Seen.Count);
    }

    [Theory]
    [InlineData("/a/...;/b")]
    [InlineData("/a/b;v=1/c")]
    [InlineData("/a/%EF%BC%8Eprofile")]
    [InlineData("/a/v1.2/b")]
    [InlineData("/a/100%25/b")]
    [InlineData("/a/%E2%82%AC%20off/b")]
    [InlineData("/a/50%2525/b")]
    [InlineData("/a/100%25Cafe/b")] // "100%Cafe": a literal '%' before hex letters, not an escape
    public async Task SegmentsThatOnlyLookSimilar_AreForwardedByteForByte(string rest)
    {
        var (connectionId, key, _) = await harness.ConnectedAsync();

        var (status, text) = await RawHttp.SendAsync(harness.BaseUrl, "GET", $"/v1/proxy/{connectionId}{rest}", key);

        Assert.Equal(200, status);
        Assert.Contains($"\"raw_target\":\"/api{rest}\"", text, StringComparison.Ordinal);
    }
}
