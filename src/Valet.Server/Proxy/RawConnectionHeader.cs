using System.Text;
using Microsoft.AspNetCore.Connections.Features;
using Microsoft.AspNetCore.Http;

namespace Valet.Server.Proxy;

/// <summary>
/// The agent's <c>Connection</c> header as it was sent. Kestrel keeps only <c>close</c> or <c>keep-alive</c> of a value
/// that contains one and drops the header names beside it (<c>Connection: close, X-Secret-Hop</c> reaches every
/// application as <c>close</c>), so the proxy could not know that <c>X-Secret-Hop</c> is hop-by-hop (RFC 9110 §7.6.1).
/// Kestrel decodes that header's value with this encoding (<see cref="Selector"/>, set on the server), which keeps the
/// raw text for the request being parsed; <see cref="For"/> hands it to the proxy once, per request.
/// </summary>
internal sealed class RawConnectionHeader : Encoding
{
    private const string SeenKey = "valet.raw-connection";
    private static readonly AsyncLocal<Box?> Last = new();
    private static readonly RawConnectionHeader Instance = new();

    /// <summary>For <c>KestrelServerOptions.RequestHeaderEncodingSelector</c>: this encoding for <c>Connection</c>, the default for the rest.</summary>
    public static Encoding? Selector(string headerName) =>
        string.Equals(headerName, "Connection", StringComparison.OrdinalIgnoreCase) ? Instance : null;

    /// <summary>
    /// The raw <c>Connection</c> value of this request, or null when there is none or it cannot be told apart from an
    /// earlier request's on the same connection (Kestrel need not decode a value it recognises whole, such as a bare
    /// <c>close</c>; then <c>Request.Headers.Connection</c> is already complete).
    /// </summary>
    public static string? For(HttpContext context)
    {
        if (Last.Value is not { } box || context.Features.Get<IConnectionItemsFeature>()?.Items is not { } items)
        {
            return null;
        }

        if (items.TryGetValue(SeenKey, out var seen) && ReferenceEquals(seen, box))
        {
            return null; // decoded for an earlier request on this connection
        }

        items[SeenKey] = box;
        return box.Value;
    }

    public override int GetByteCount(char[] chars, int index, int count) => Latin1.GetByteCount(chars, index, count);

    public override int GetBytes(char[] chars, int charIndex, int charCount, byte[] bytes, int byteIndex) =>
        Latin1.GetBytes(chars, charIndex, charCount, bytes, byteIndex);

    public override int GetCharCount(byte[] bytes, int index, int count) => count;

    public override int GetCharCount(ReadOnlySpan<byte> bytes) => bytes.Length;

    public override int GetChars(byte[] bytes, int byteIndex, int byteCount, char[] chars, int charIndex) =>
        GetChars(bytes.AsSpan(byteIndex, byteCount), chars.AsSpan(charIndex));

    public override int GetChars(ReadOnlySpan<byte> bytes, Span<char> chars)
    {
        var count = Latin1.GetChars(bytes, chars);
        Last.Value = new Box(new string(chars[..count]));
        return count;
    }

    public override string GetString(byte[] bytes, int index, int count)
    {
        var value = Latin1.GetString(bytes, index, count);
        Last.Value = new Box(value);
        return value;
    }

    public override int GetMaxByteCount(int charCount) => charCount;

    public override int GetMaxCharCount(int byteCount) => byteCount;

    private sealed record Box(string Value);
}
