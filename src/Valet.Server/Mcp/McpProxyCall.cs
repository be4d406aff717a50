using System.Text;
using System.Text.Json;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Http.Features;
using Microsoft.Net.Http.Headers;
using Valet.Core.Access;
using Valet.Core.Domain;
using Valet.Server.Audit;
using Valet.Server.Proxy;
using Valet.Server.Tokens;

namespace Valet.Server.Mcp;

/// <summary>What one proxied call gave: the upstream's answer, Valet's envelope, or Valet's own refusal (problem+json).</summary>
internal abstract record ProxyAnswer
{
    public sealed record Upstream(CallApiOutput Output, string? BinaryContentType) : ProxyAnswer;

    public sealed record Envelope(AuthEnvelope Value) : ProxyAnswer;

    public sealed record Refused(int Status, JsonElement Problem) : ProxyAnswer;
}

/// <summary>
/// <c>call_api</c> runs the proxy itself, in process: the same <see cref="ProxyHandler"/> an HTTP call to
/// <c>/v1/proxy/…</c> or <c>/v1/targets/…</c> reaches, with the caller's own principal, so permissions, the API-base
/// and SSRF rules, refresh-on-401, envelopes and the audit event are exactly the proxy's (the audit detail says
/// <c>via mcp</c>). In process rather than over loopback: no second request through the rate limiter, no guessing
/// the node's own listening address behind TLS or a load balancer.
/// </summary>
internal sealed class McpProxyCall(ProxyHandler handler, AuditWriter audit, TimeProvider time)
{
    /// <summary>Response bodies past this are cut (<c>truncated: true</c>): a model's context is not a download.</summary>
    public const int MaxBodyBytes = 100 * 1024;

    private static readonly string[] SafeHeaders = [HeaderNames.ContentType, HeaderNames.ETag, HeaderNames.Link, HeaderNames.RetryAfter];

    /// <summary>Headers the agent may not set: Valet adds the credential; the rest belong to the connection, not the call.</summary>
    private static readonly HashSet<string> Forbidden = new(StringComparer.OrdinalIgnoreCase)
    {
        "Authorization", "Proxy-Authorization", "Cookie", "Host", "Connection", "Keep-Alive", "Proxy-Connection", "TE", "Trailer",
        "Transfer-Encoding", "Upgrade", "Content-Length", "Forwarded", "X-Forwarded-For", "X-Forwarded-Host", "X-Forwarded-Proto",
        "Accept-Encoding", // the answer must come as text Valet can read (and redact), not compressed
    };

    /// <summary>Null when the header may be sent; else why not.</summary>
    public static string? RefuseHeader(string name) =>
        Forbidden.Contains(name) || name.StartsWith("X-Valet-", StringComparison.OrdinalIgnoreCase) || name.StartsWith("Proxy-", StringComparison.OrdinalIgnoreCase)
            ? $"The header '{name}' cannot be set through call_api: Valet adds the credential and owns the connection headers."
            : null;

    /// <summary>
    /// A call by provider that Valet refused while choosing the connection, so the proxy never ran: the audit event the
    /// proxy writes when it refuses a call by connection (SPEC §11, same audit) — kind <c>proxy.request</c>, the key, the
    /// connection when one is known, method, path (parameter names only), the status and code the HTTP routes answer
    /// (<see cref="TokenEndpoints.Problem"/>, 409 for an envelope), and the detail with <c>via mcp</c>
    /// (<c>forbidden via mcp</c>, <c>needs_authentication via mcp</c>).
    /// </summary>
    public ValueTask AuditRefusalAsync(ApiKey key, string method, string rawPathAndQuery, AccessOutcome outcome, TimeSpan elapsed)
    {
        var (status, code, connectionId) = outcome switch
        {
            AccessOutcome.Envelope envelope => (StatusCodes.Status409Conflict, envelope.Code, envelope.Connection?.Id), // Envelopes.ToResult
            AccessOutcome.ProviderUnavailable unavailable => (unavailable.TimedOut ? StatusCodes.Status504GatewayTimeout : StatusCodes.Status502BadGateway,
                "token_unavailable", null), // the proxy's detail for the same outcome
            _ => TokenEndpoints.Problem(outcome, new DefaultHttpContext().Response) is var problem
                ? (problem.StatusCode, problem.Code, (outcome as AccessOutcome.Forbidden)?.Connection?.Id)
                : default,
        };
        var queryAt = rawPathAndQuery.IndexOf('?', StringComparison.Ordinal);
        return audit.EnqueueAsync(new AuditEvent
        {
            OrgId = key.OrgId,
            Kind = "proxy.request",
            KeyId = key.Id,
            ConnectionId = connectionId,
            Method = method,
            Path = queryAt < 0 ? ProxyPath.ForAudit("/" + rawPathAndQuery, string.Empty)
                : ProxyPath.ForAudit("/" + rawPathAndQuery[..queryAt], rawPathAndQuery[queryAt..]),
            Status = status,
            DurationMs = (long)elapsed.TotalMilliseconds,
            Detail = ProxyVia.Mark(code, "mcp"),
            At = time.GetUtcNow(),
        }, CancellationToken.None);
    }

    public async Task<ProxyAnswer> SendAsync(HttpContext outer, bool viaTarget, string id, string method, string rawPathAndQuery,
        IReadOnlyDictionary<string, string>? headers, JsonElement? body, CancellationToken cancellationToken)
    {
        var via = new ProxyVia("mcp");
        var context = new DefaultHttpContext { RequestServices = outer.RequestServices, User = outer.User };
        context.Features.Set(via);
        context.RequestAborted = cancellationToken;
        context.Connection.RemoteIpAddress = outer.Connection.RemoteIpAddress;

        var request = context.Request;
        request.Protocol = "HTTP/1.1";
        request.Method = method;
        request.Scheme = outer.Request.Scheme;
        request.Host = outer.Request.Host;
        var raw = (viaTarget ? ProxyHandler.TargetsPrefix : ProxyHandler.ProxyPrefix) + Uri.EscapeDataString(id) + "/" + rawPathAndQuery;
        var queryAt = raw.IndexOf('?', StringComparison.Ordinal);
        request.Path = PathString.FromUriComponent(queryAt < 0 ? raw : raw[..queryAt]);
        request.QueryString = queryAt < 0 ? QueryString.Empty : QueryString.FromUriComponent(raw[queryAt..]);
        context.Features.Get<IHttpRequestFeature>()!.RawTarget = raw;

        foreach (var (name, value) in headers ?? new Dictionary<string, string>())
        {
            request.Headers.Append(name, value);
        }

        // Without the header a server may pick any coding (RFC 9110 §12.5.3); the answer must be text Valet can redact.
        request.Headers.AcceptEncoding = "identity";

        if (body is { ValueKind: not JsonValueKind.Undefined and not JsonValueKind.Null } content)
        {
            var text = content.ValueKind == JsonValueKind.String ? content.GetString()! : content.GetRawText();
            var bytes = Encoding.UTF8.GetBytes(text);
            request.ContentType ??= content.ValueKind == JsonValueKind.String ? "text/plain; charset=utf-8" : "application/json";
            request.ContentLength = bytes.Length;
            request.Body = new MemoryStream(bytes, writable: false);
        }
        else
        {
            request.ContentLength = 0;
        }

        var sink = new CappedStream(MaxBodyBytes, via, context.Response);
        context.Response.Body = sink;
        await handler.HandleAsync(context, viaTarget);

        var response = context.Response;
        if (via.Envelope is { } envelope)
        {
            return new ProxyAnswer.Envelope(envelope);
        }

        if (via.Refused)
        {
            return new ProxyAnswer.Refused(response.StatusCode, ParseOrText(sink.Written, response.ContentType));
        }

        // A copy stopped at the cap: the forwarder then resets the (never sent) response to an error; the upstream's status
        // and headers are the ones the sink saw.
        var (status, answered) = sink.Stopped ?? (response.StatusCode, response.Headers);
        var safe = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (var (name, value) in answered)
        {
            if (SafeHeaders.Contains(name, StringComparer.OrdinalIgnoreCase) || name.StartsWith("X-RateLimit-", StringComparison.OrdinalIgnoreCase))
            {
                safe[name.ToLowerInvariant()] = EchoedSecrets.Redact(value.ToString(), via.Secrets);
            }
        }

        // Only text Valet can read is returned, as UTF-8: redaction reads it, and an echoed credential in UTF-16 (or
        // compressed) would pass it unseen. Anything else is answered like a binary body: its type, no content.
        var contentType = answered.ContentType.ToString() is { Length: > 0 } type ? type : null;
        var utf8 = sink.Length == 0 ? ReadOnlyMemory<byte>.Empty : AsUtf8(sink.Written, contentType, answered.ContentEncoding.ToString());
        if (utf8 is not { } readable)
        {
            var encoding = answered.ContentEncoding.ToString();
            return new ProxyAnswer.Upstream(new CallApiOutput(status, safe, null, false),
                (contentType ?? "application/octet-stream") + (encoding.Length > 0 ? $", {encoding}-encoded" : string.Empty));
        }

        // The upstream's answer may echo the credential Valet sent (a debug endpoint that returns its request's headers).
        var written = EchoedSecrets.Redact(readable, via.Secrets, sink.Truncated);
        JsonElement? parsed = sink.Length == 0 ? null
            : sink.Truncated ? JsonSerializer.SerializeToElement(Text(written))
            : ParseOrText(written, contentType);
        return new ProxyAnswer.Upstream(new CallApiOutput(status, safe, parsed, sink.Truncated), null);
    }

    /// <summary>
    /// The body as UTF-8 text, or null when it is not text Valet can read: not a text type, compressed
    /// (<c>Content-Encoding</c> other than identity: call_api asks for none, see <see cref="Forbidden"/>), or holding a
    /// NUL. A declared charset (<c>utf-16</c>, <c>iso-8859-1</c>, <c>windows-1252</c>) or, without one, a UTF-16 byte order
    /// mark is decoded and the text given back as UTF-8; an unknown charset name is read as it came.
    /// </summary>
    private static ReadOnlyMemory<byte>? AsUtf8(ReadOnlyMemory<byte> bytes, string? contentType, string contentEncoding)
    {
        if (!IsText(contentType) || (contentEncoding.Length > 0 && !contentEncoding.Equals("identity", StringComparison.OrdinalIgnoreCase)))
        {
            return null;
        }

        var charset = MediaTypeHeaderValue.Parse(contentType).Charset.Value?.Trim('"');
        Encoding? encoding;
        if (string.IsNullOrEmpty(charset))
        {
            var span = bytes.Span;
            encoding = span.StartsWith((ReadOnlySpan<byte>)[0xFF, 0xFE]) ? Encoding.Unicode
                : span.StartsWith((ReadOnlySpan<byte>)[0xFE, 0xFF]) ? Encoding.BigEndianUnicode
                : Encoding.UTF8;
        }
        else
        {
            try
            {
                encoding = Encoding.GetEncoding(charset); // the code pages too (windows-1252, shift_jis…): registered below
            }
            catch (Exception unknown) when (unknown is ArgumentException or NotSupportedException)
            {
                encoding = null; // a name .NET does not know ("utf8"), or one it will not decode (utf-7): taken as it came
            }
        }

        var utf8 = encoding is null || encoding.CodePage is 65001 or 20127 ? bytes : Encoding.UTF8.GetBytes(encoding.GetString(bytes.Span));

        // A NUL is no part of text: UTF-16 or UTF-32 under a wrong or unknown label, which redaction could not read.
        return utf8.Span.IndexOf((byte)0) >= 0 ? null : utf8;
    }

    static McpProxyCall() => Encoding.RegisterProvider(CodePagesEncodingProvider.Instance);

    private static bool IsJson(string? contentType) =>
        contentType is not null && MediaTypeHeaderValue.TryParse(contentType, out var media) && media.MediaType.Value is { } type
        && (type.Equals("application/json", StringComparison.OrdinalIgnoreCase) || type.EndsWith("+json", StringComparison.OrdinalIgnoreCase));

    private static bool IsText(string? contentType)
    {
        if (contentType is null || !MediaTypeHeaderValue.TryParse(contentType, out var media) || media.MediaType.Value is not { } type)
        {
            return false;
        }

        return IsJson(contentType) || type.StartsWith("text/", StringComparison.OrdinalIgnoreCase) || type.EndsWith("+xml", StringComparison.OrdinalIgnoreCase)
            || type.Equals("application/xml", StringComparison.OrdinalIgnoreCase) || type.Equals("application/javascript", StringComparison.OrdinalIgnoreCase)
            || type.Equals("application/x-www-form-urlencoded", StringComparison.OrdinalIgnoreCase)
            || type.Equals("application/graphql", StringComparison.OrdinalIgnoreCase);
    }

    private static JsonElement ParseOrText(ReadOnlyMemory<byte> bytes, string? contentType)
    {
        if (IsJson(contentType))
        {
            try
            {
                using var document = JsonDocument.Parse(bytes);
                return document.RootElement.Clone();
            }
            catch (JsonException)
            {
                // Not JSON after all: give it back as text.
            }
        }

        return JsonSerializer.SerializeToElement(Text(bytes));
    }

    private static string Text(ReadOnlyMemory<byte> bytes) => Encoding.UTF8.GetString(bytes.Span);

    /// <summary>
    /// Keeps the first <c>cap</c> bytes of the upstream's body. The first write past them ends the copy (the forwarder's
    /// write fails, it stops reading and drops the upstream connection), marked on <paramref name="via"/> as the caller's
    /// choice: a download through <c>call_api</c> then costs 100 KB, not the whole body.
    /// </summary>
    private sealed class CappedStream(int cap, ProxyVia via, HttpResponse response) : Stream
    {
        /// <summary>The upstream's status and headers when the copy was stopped at the cap (null: it was not).</summary>
        public (int Status, IHeaderDictionary Headers)? Stopped { get; private set; }

        private readonly MemoryStream _kept = new();

        public bool Truncated { get; private set; }

        public ReadOnlyMemory<byte> Written => _kept.GetBuffer().AsMemory(0, (int)_kept.Length);

        public override bool CanRead => false;
        public override bool CanSeek => false;
        public override bool CanWrite => true;
        public override long Length => _kept.Length;
        public override long Position { get => _kept.Length; set => throw new NotSupportedException(); }

        public override void Write(byte[] buffer, int offset, int count) => Write(buffer.AsSpan(offset, count));

        public override void Write(ReadOnlySpan<byte> buffer)
        {
            var room = cap - (int)_kept.Length;
            if (buffer.Length > room)
            {
                Truncated = true;
                _kept.Write(buffer[..Math.Max(room, 0)]);
                via.StoppedReading = true;
                via.StoppedStatus = response.StatusCode;
                Stopped = (response.StatusCode, new HeaderDictionary(response.Headers.ToDictionary(h => h.Key, h => h.Value, StringComparer.OrdinalIgnoreCase)));
                throw new IOException("The MCP answer keeps only the first " + cap + " bytes of the body; the rest is not read.");
            }

            _kept.Write(buffer);
        }

        public override ValueTask WriteAsync(ReadOnlyMemory<byte> buffer, CancellationToken cancellationToken = default)
        {
            Write(buffer.Span);
            return ValueTask.CompletedTask;
        }

        public override Task WriteAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken)
        {
            Write(buffer.AsSpan(offset, count));
            return Task.CompletedTask;
        }

        public override void Flush()
        {
        }

        public override Task FlushAsync(CancellationToken cancellationToken) => Task.CompletedTask;

        public override int Read(byte[] buffer, int offset, int count) => throw new NotSupportedException();

        public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();

        public override void SetLength(long value) => throw new NotSupportedException();

        protected override void Dispose(bool disposing)
        {
            if (disposing)
            {
                _kept.Dispose();
            }

            base.Dispose(disposing);
        }
    }
}
