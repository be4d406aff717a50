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
        try
        {
            var response = await base.SendAsync(request, cancellationToken);
            // The body's reader can quote the request too: a non-HTTP server that sends a valid head declaring a chunked
            // body and then echoes the request makes the chunk parser throw with the "size" line's bytes in hex.
            response.Content = new RedactingContent(response.Content, query);
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

    /// <summary>The upstream's body as it came, except that a read failure quoting the secret is rethrown without it.</summary>
    private sealed class RedactingContent : HttpContent
    {
        private readonly HttpContent _inner;
        private readonly (string Name, string Value) _query;

        public RedactingContent(HttpContent inner, (string Name, string Value) query)
        {
            _inner = inner;
            _query = query;
            foreach (var (name, values) in inner.Headers.NonValidated)
            {
                Headers.TryAddWithoutValidation(name, values);
            }
        }

        protected override async Task<Stream> CreateContentReadStreamAsync(CancellationToken cancellationToken) =>
            new RedactingStream(await _inner.ReadAsStreamAsync(cancellationToken), _query);

        protected override Task<Stream> CreateContentReadStreamAsync() => CreateContentReadStreamAsync(CancellationToken.None);

        protected override Stream CreateContentReadStream(CancellationToken cancellationToken) =>
            new RedactingStream(_inner.ReadAsStream(cancellationToken), _query);

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
            length = _inner.Headers.ContentLength ?? -1;
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

    /// <summary>Reads through; a read that fails quoting the secret is rethrown without it. No state machine per read.</summary>
    private sealed class RedactingStream(Stream inner, (string Name, string Value) query) : ReadThroughStream(inner)
    {
        public override int Read(Span<byte> buffer)
        {
            try
            {
                return Inner.Read(buffer);
            }
            catch (Exception error) when (Quotes(error, query))
            {
                throw Redacted(error, query);
            }
        }

        public override ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default)
        {
            ValueTask<int> read;
            try
            {
                read = Inner.ReadAsync(buffer, cancellationToken);
            }
            catch (Exception error) when (Quotes(error, query))
            {
                throw Redacted(error, query);
            }

            return read.IsCompletedSuccessfully ? read : AwaitedAsync(read);
        }

        private async ValueTask<int> AwaitedAsync(ValueTask<int> read)
        {
            try
            {
                return await read;
            }
            catch (Exception error) when (Quotes(error, query))
            {
                throw Redacted(error, query);
            }
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
