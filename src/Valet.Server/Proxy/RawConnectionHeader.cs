using System.Text;
using Microsoft.AspNetCore.Http;

namespace Valet.Server.Proxy;

/// <summary>
/// The agent's <c>Connection</c> header as it was sent. Kestrel keeps only <c>close</c> or <c>keep-alive</c> of a value
/// that contains one and drops the header names beside it (<c>Connection: close, X-Secret-Hop</c> reaches every
/// application as <c>close</c>), so the proxy could not know that <c>X-Secret-Hop</c> is hop-by-hop (RFC 9110 §7.6.1).
/// Kestrel decodes that header's value with this encoding (<see cref="Selector"/>, set on the server), which keeps the
/// raw text of every <c>Connection</c> line of the request being parsed (two lines, <c>Connection: X-Secret-Hop</c> then
/// <c>Connection: close</c>, name the header as surely as one); <see cref="Take"/>, first in the pipeline, hands them to
/// that request and closes them, so that the next request on the connection starts afresh.
/// </summary>
internal sealed class RawConnectionHeader : Encoding
{
    private static readonly object ItemKey = new();
    private static readonly AsyncLocal<Box?> Last = new();
    private static readonly RawConnectionHeader Instance = new();

    /// <summary>For <c>KestrelServerOptions.RequestHeaderEncodingSelector</c>: this encoding for <c>Connection</c>, the default for the rest.</summary>
    public static Encoding? Selector(string headerName) =>
        string.Equals(headerName, "Connection", StringComparison.OrdinalIgnoreCase) ? Instance : null;

    /// <summary>
    /// First thing for every request: the <c>Connection</c> lines decoded since the previous request on this connection
    /// are this request's. Kestrel need not decode a value it recognises whole (a bare <c>close</c>); then nothing is open
    /// here and <c>Request.Headers.Connection</c> is already complete.
    /// </summary>
    public static void Take(HttpContext context)
    {
        if (Last.Value is { Taken: false } box)
        {
            box.Taken = true;
            context.Items[ItemKey] = box.Value;
        }
    }

    /// <summary>The raw <c>Connection</c> lines of this request, comma-joined; null when Kestrel decoded none.</summary>
    /// <remarks>
    /// A request without a <c>Connection</c> header (Kestrel keeps at least its directive when it cuts one down) has
    /// none: its items are not touched, since the first read of <c>HttpContext.Items</c> allocates the dictionary.
    /// </remarks>
    public static string? For(HttpContext context) =>
        context.Request.Headers.ContainsKey("Connection") && context.Items.TryGetValue(ItemKey, out var value) ? value as string : null;

    private static void Decoded(string value)
    {
        if (Last.Value is { Taken: false } open)
        {
            open.Value += ", " + value; // another line of the same request
        }
        else
        {
            Last.Value = new Box { Value = value };
        }
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
        Decoded(new string(chars[..count]));
        return count;
    }

    public override string GetString(byte[] bytes, int index, int count)
    {
        var value = Latin1.GetString(bytes, index, count);
        Decoded(value);
        return value;
    }

    public override int GetMaxByteCount(int charCount) => charCount;

    public override int GetMaxCharCount(int byteCount) => byteCount;

    private sealed class Box
    {
        public required string Value { get; set; }

        public bool Taken { get; set; }
    }
}
