using System.IO.Compression;
using System.Net;
using System.Text;
using System.Text.RegularExpressions;

namespace Valet.Server.Proxy;

/// <summary>
/// Adds an api_key provider's secret query parameter at the last moment: after YARP has logged the destination and
/// before the socket, and removes it from the request again once the call returns, so the secret is in the request
/// line sent to the provider and nowhere else (not in a log, an audit path, an exception or <c>RequestMessage</c>).
/// </summary>
internal sealed class SecretQueryHandler(HttpMessageHandler inner) : DelegatingHandler(inner)
{
    public static readonly HttpRequestOptionsKey<(string Name, string Value)> Key = new("valet.secret-query");

    private static readonly UriCreationOptions Verbatim = new() { DangerousDisablePathAndQueryCanonicalization = true };

    protected override async Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken cancellationToken)
    {
        if (!request.Options.TryGetValue(Key, out var query) || request.RequestUri is not { } original)
        {
            return await base.SendAsync(request, cancellationToken);
        }

        request.RequestUri = With(original, query.Name, query.Value);
        // The body is read for echoes of the secret (below), so it must come as bytes Valet can read: without the header a
        // server may pick any coding (RFC 9110 §12.5.3); the agent's own preference gives way.
        request.Headers.AcceptEncoding.Clear();
        request.Headers.TryAddWithoutValidation("Accept-Encoding", "identity");
        // Whole bodies only: each slice of a range request is checked on its own, so two slices that cut an echoed secret
        // between them would hand it over in two halves (found in review). A server may ignore Range (RFC 9110 §14.2).
        request.Headers.Range = null;
        request.Headers.Remove("If-Range");
        try
        {
            var response = await base.SendAsync(request, cancellationToken);
            if (!TryDecoding(response.Content.Headers.ContentEncoding, out var decoding))
            {
                var coding = string.Join(", ", response.Content.Headers.ContentEncoding);
                response.Dispose();
                throw new UpstreamBodyUnreadableException(coding.Length > 64 ? coding[..64] + "…" : coding);
            }

            // An upstream that echoes the request URL in its body would hand the secret on (EchoMaskingStream). The body's
            // reader can quote the request too: a non-HTTP server that sends a valid head declaring a chunked body and then
            // echoes the request makes the chunk parser throw with the "size" line's bytes in hex.
            response.Content = new RedactingContent(response.Content, query, decoding);

            // The bytes the agent gets may differ from the upstream's (masked, or decoded): what described those bytes goes.
            response.Headers.Remove("Content-Digest");
            response.Headers.Remove("Repr-Digest");
            if (response.Headers.ETag is { IsWeak: false } etag)
            {
                response.Headers.ETag = new System.Net.Http.Headers.EntityTagHeaderValue(etag.Tag, isWeak: true);
            }

            return response;
        }
        catch (Exception error) when (Quotes(error, query))
        {
            // The client's own error can quote the request line: SocketsHttpHandler's "Received an invalid status line:
            // 'GET /items?api_key=… HTTP/1.1'" when a non-HTTP server echoes it (a mis-set port on Redis or SMTP). YARP
            // logs that exception with its message, so it is rethrown with the secret cut out, same kind and error class,
            // and without the inner chain that may quote it too.
            throw Redacted(error, query);
        }
        finally
        {
            request.RequestUri = original;
        }
    }

    /// <summary>
    /// Whether an error's message, or an inner one's, quotes the parameter: its name followed by '=', or the value, as
    /// text or as the request line's bytes in hex (<see cref="BitConverter.ToString(byte[])"/>, the chunk parser's form).
    /// </summary>
    private static bool Quotes(Exception error, (string Name, string Value) query)
    {
        string[] quoted = [Uri.EscapeDataString(query.Name) + "=", query.Value, Uri.EscapeDataString(query.Value), Hex(Uri.EscapeDataString(query.Name) + "="), Hex(Uri.EscapeDataString(query.Value))];
        for (var e = error; e is not null; e = e.InnerException)
        {
            if (quoted.Any(q => e.Message.Contains(q, StringComparison.Ordinal)))
            {
                return true;
            }
        }

        return false;
    }

    private static Exception Redacted(Exception error, (string Name, string Value) query)
    {
        const string Mark = "[redacted]";
        var name = Uri.EscapeDataString(query.Name);
        var value = Uri.EscapeDataString(query.Value);
        var message = error.Message.Replace(value, Mark, StringComparison.Ordinal).Replace(query.Value, Mark, StringComparison.Ordinal)
            .Replace(Hex(value), Mark, StringComparison.Ordinal);
        // Whatever follows the parameter's name up to the next separator: a line cut short may hold part of the value. In
        // hex: the byte pairs after "?name=" or "&name=" up to '&' (26), a space (20) or the line's end.
        message = Regex.Replace(message, "(?<=[?&]" + Regex.Escape(name) + "=)[^&\\s'\"]*", Mark);
        message = Regex.Replace(message, "(?<=(?:3F|26)-" + Regex.Escape(Hex(name + "=")) + ")(?:-(?!26|20|0D|0A)[0-9A-F]{2})+", "-" + Mark);
        return error switch
        {
            OperationCanceledException canceled => new OperationCanceledException(message, null, canceled.CancellationToken),
            HttpRequestException http => new HttpRequestException(http.HttpRequestError, message, null, http.StatusCode),
            HttpIOException io => new HttpIOException(io.HttpRequestError, message),
            IOException => new IOException(message),
            _ => new HttpRequestException(HttpRequestError.Unknown, message),
        };
    }

    private static string Hex(string ascii) => BitConverter.ToString(Encoding.ASCII.GetBytes(ascii));

    /// <summary>
    /// How to read a body in these content codings (RFC 9110 §8.4.1, listed in the order applied): <paramref name="decode"/>
    /// is null when there is nothing to undo (none, or only <c>identity</c>). False when one is not known: an upstream that
    /// ignored <c>identity</c> with a coding .NET cannot decode is refused rather than relayed unread.
    /// </summary>
    private static bool TryDecoding(ICollection<string> codings, out Func<Stream, Stream>? decode)
    {
        decode = null;
        foreach (var coding in codings.Reverse())
        {
            Func<Stream, Stream> step;
            switch (coding.ToLowerInvariant())
            {
                case "identity":
                    continue;
                case "gzip" or "x-gzip":
                    step = body => new GZipStream(body, CompressionMode.Decompress);
                    break;
                case "deflate":
                    step = body => new ZLibStream(body, CompressionMode.Decompress); // RFC 9110 §8.4.1.2: the zlib format
                    break;
                case "br":
                    step = body => new BrotliStream(body, CompressionMode.Decompress);
                    break;
                default:
                    return false;
            }

            var before = decode;
            decode = before is null ? step : body => step(before(body));
        }

        return true;
    }

    /// <summary>
    /// The upstream's body with every spelling of the secret masked (<see cref="EchoMaskingStream"/>), decoded first if the
    /// upstream compressed it anyway (then without its <c>Content-Encoding</c> and <c>Content-Length</c>, which described the
    /// compressed bytes); a read failure quoting the secret is rethrown without it.
    /// </summary>
    private sealed class RedactingContent : HttpContent
    {
        private readonly HttpContent _inner;
        private readonly (string Name, string Value) _query;
        private readonly Func<Stream, Stream>? _decode; // null: the body comes as it is to be read

        public RedactingContent(HttpContent inner, (string Name, string Value) query, Func<Stream, Stream>? decode)
        {
            _inner = inner;
            _query = query;
            _decode = decode;
            foreach (var (name, values) in inner.Headers.NonValidated)
            {
                if ((_decode is not null && (name.Equals("Content-Encoding", StringComparison.OrdinalIgnoreCase) || name.Equals("Content-Length", StringComparison.OrdinalIgnoreCase)))
                    || name is "Content-MD5" or "Content-Digest" or "Repr-Digest")
                {
                    continue;
                }

                Headers.TryAddWithoutValidation(name, values);
            }
        }

        protected override async Task<Stream> CreateContentReadStreamAsync(CancellationToken cancellationToken) =>
            Masking(await _inner.ReadAsStreamAsync(cancellationToken));

        protected override Task<Stream> CreateContentReadStreamAsync() => CreateContentReadStreamAsync(CancellationToken.None);

        protected override Stream CreateContentReadStream(CancellationToken cancellationToken) => Masking(_inner.ReadAsStream(cancellationToken));

        private EchoMaskingStream Masking(Stream body) =>
            new(_decode is null ? body : _decode(body), _query.Value, error => Quotes(error, _query) ? Redacted(error, _query) : null);

        protected override void SerializeToStream(Stream stream, TransportContext? context, CancellationToken cancellationToken)
        {
            using var body = CreateContentReadStream(cancellationToken);
            body.CopyTo(stream);
        }

        protected override Task SerializeToStreamAsync(Stream stream, TransportContext? context) => SerializeToStreamAsync(stream, context, CancellationToken.None);

        protected override async Task SerializeToStreamAsync(Stream stream, TransportContext? context, CancellationToken cancellationToken)
        {
            await using var body = await CreateContentReadStreamAsync(cancellationToken);
            await body.CopyToAsync(stream, cancellationToken);
        }

        protected override bool TryComputeLength(out long length)
        {
            // Masking keeps the length; decoding does not.
            length = _decode is not null ? -1 : _inner.Headers.ContentLength ?? -1;
            return length >= 0;
        }

        protected override void Dispose(bool disposing)
        {
            if (disposing)
            {
                _inner.Dispose();
            }

            base.Dispose(disposing);
        }
    }

    /// <summary><paramref name="uri"/> with <c>name=value</c> (escaped) appended to its query, byte for byte otherwise.</summary>
    internal static Uri With(Uri uri, string name, string value)
    {
        var text = uri.OriginalString;
        var separator = text.Contains('?', StringComparison.Ordinal) ? (text.EndsWith('?') || text.EndsWith('&') ? string.Empty : "&") : "?";
        return new Uri(text + separator + Uri.EscapeDataString(name) + "=" + Uri.EscapeDataString(value), Verbatim);
    }

    /// <summary>
    /// The agent's query without any parameter named <paramref name="name"/> (a caller must not pick or shadow the
    /// secret Valet injects). <paramref name="query"/> is empty or starts with '?'.
    /// </summary>
    internal static string Without(string query, string name)
    {
        if (query.Length <= 1)
        {
            return query;
        }

        var kept = query[1..].Split('&').Where(pair =>
        {
            var key = pair.Split('=', 2)[0];
            string decoded;
            try
            {
                decoded = Uri.UnescapeDataString(key.Replace('+', ' '));
            }
            catch (UriFormatException)
            {
                decoded = key;
            }

            return !string.Equals(decoded, name, StringComparison.Ordinal);
        }).ToList();
        return kept.Count == 0 ? string.Empty : "?" + string.Join('&', kept);
    }
}

/// <summary>
/// The upstream compressed its answer in a coding .NET cannot decode, against the <c>identity</c> Valet asked for, so the
/// body could not be checked for the query secret: it is not relayed (502 <c>upstream_body_unreadable</c>).
/// </summary>
internal sealed class UpstreamBodyUnreadableException(string coding)
    : Exception($"The upstream answered in a content coding Valet cannot read ({coding}).")
{
    public string Coding { get; } = coding;
}
