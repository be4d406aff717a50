using System.IO.Compression;
using System.Net;
using System.Net.Http.Headers;
using System.Text;
using Valet.Server.Proxy;

namespace Valet.Tests.Proxy;

/// <summary>
/// <see cref="SecretQueryHandler"/> over a stub upstream: what a query secret's call asks for and how the answer is relayed
/// (docs/credentials.md). Cases found in a review of the body masking.
/// </summary>
public sealed class SecretQueryHandlerTests
{
    private const string Secret = "AIzaSyD-Gemini-Style-Key-0123456789abc"; // 39 chars, like a Gemini key

    /// <summary>A decoded (gzip) body, and any masked one, is relayed without what described the upstream's bytes.</summary>
    [Fact]
    public async Task Gzip_Decoded_DropsHeadersThatDescribedTheUpstreamsBytes()
    {
        var plain = Encoding.ASCII.GetBytes("{\"ok\":true}");
        using var compressed = new MemoryStream();
        await using (var gz = new GZipStream(compressed, CompressionLevel.Fastest, leaveOpen: true))
        {
            await gz.WriteAsync(plain);
        }

        var bytes = compressed.ToArray();
        using var invoker = new HttpMessageInvoker(new SecretQueryHandler(new Stub(_ =>
        {
            var response = new HttpResponseMessage(HttpStatusCode.OK) { Content = new ByteArrayContent(bytes) };
            response.Content.Headers.ContentEncoding.Add("gzip");
            response.Content.Headers.ContentMD5 = new byte[16];
            response.Content.Headers.TryAddWithoutValidation("Content-Digest", "sha-256=:abc=:");
            response.Headers.ETag = new EntityTagHeaderValue("\"gzip-etag\"");
            return response;
        })));
        using var request = new HttpRequestMessage(HttpMethod.Get, "http://upstream.test/x");
        request.Options.Set(SecretQueryHandler.Key, ("key", Secret));
        using var answer = await invoker.SendAsync(request, CancellationToken.None);
        Assert.Equal(plain, await answer.Content.ReadAsByteArrayAsync());
        Assert.Null(answer.Content.Headers.ContentMD5); // MD5 of the gzip bytes, not of what is relayed
        Assert.False(answer.Content.Headers.Contains("Content-Digest") || answer.Headers.Contains("Content-Digest"));
        Assert.Equal(("\"gzip-etag\"", true), (answer.Headers.ETag!.Tag, answer.Headers.ETag.IsWeak)); // the same resource, not the same bytes
    }

    /// <summary>
    /// Each slice of a range request would be checked on its own: two that cut an echoed secret between them (the first
    /// ending fewer than six characters into it) would hand it over whole. Range is not forwarded on these calls.
    /// </summary>
    [Fact]
    public async Task Range_IsNotForwarded_SoTwoSlicesCannotSplitAnEchoedSecret()
    {
        string? sentKey = null;
        var ranged = 0;
        using var invoker = new HttpMessageInvoker(new SecretQueryHandler(new Stub(request =>
        {
            sentKey = System.Web.HttpUtility.ParseQueryString(request.RequestUri!.Query)["key"];
            var body = Encoding.ASCII.GetBytes("{\"self\":\"" + request.RequestUri!.OriginalString + "\"}");
            ranged += request.Headers.Range is null && !request.Headers.Contains("If-Range") ? 0 : 1;
            if (request.Headers.Range is null)
            {
                return new HttpResponseMessage(HttpStatusCode.OK) { Content = new ByteArrayContent(body) };
            }

            var range = request.Headers.Range!.Ranges.Single();
            var from = (int)range.From!.Value;
            var to = Math.Min((int)range.To!.Value, body.Length - 1);
            var response = new HttpResponseMessage(HttpStatusCode.PartialContent) { Content = new ByteArrayContent(body[from..(to + 1)]) };
            response.Content.Headers.ContentRange = new ContentRangeHeaderValue(from, to, body.Length);
            return response;
        })));

        var prefix = "{\"self\":\"http://upstream.test/x?key=".Length;
        var split = prefix + 5; // first range ends 5 characters into the secret: fewer than the 6 of a cut tail
        var first = await GetRange(invoker, 0, split - 1);
        var second = await GetRange(invoker, split, 500);
        var joined = first + second;
        Assert.Equal(Secret, sentKey);
        Assert.Equal(0, ranged);
        Assert.DoesNotContain("Gemini", joined, StringComparison.Ordinal);
    }

    /// <summary>HEAD answered with Content-Encoding: gzip and no body.</summary>
    [Fact]
    public async Task Head_WithGzip_ReadsAsEmpty()
    {
        using var invoker = new HttpMessageInvoker(new SecretQueryHandler(new Stub(_ =>
        {
            var response = new HttpResponseMessage(HttpStatusCode.OK) { Content = new ByteArrayContent([]) };
            response.Content.Headers.ContentEncoding.Add("gzip");
            return response;
        })));
        using var request = new HttpRequestMessage(HttpMethod.Head, "http://upstream.test/x");
        request.Options.Set(SecretQueryHandler.Key, ("key", Secret));
        using var answer = await invoker.SendAsync(request, CancellationToken.None);
        Assert.Empty(await answer.Content.ReadAsByteArrayAsync());
    }

    private static async Task<string> GetRange(HttpMessageInvoker invoker, long from, long to)
    {
        using var request = new HttpRequestMessage(HttpMethod.Get, "http://upstream.test/x");
        request.Options.Set(SecretQueryHandler.Key, ("key", Secret));
        request.Headers.Range = new RangeHeaderValue(from, to);
        request.Headers.TryAddWithoutValidation("If-Range", "\"v1\"");
        using var answer = await invoker.SendAsync(request, CancellationToken.None);
        return await answer.Content.ReadAsStringAsync();
    }

    private sealed class Stub(Func<HttpRequestMessage, HttpResponseMessage> answer) : HttpMessageHandler
    {
        protected override Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken cancellationToken) =>
            Task.FromResult(answer(request));
    }
}
