using System.Buffers;
using System.Globalization;
using System.Net;
using System.Net.Http.Headers;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Primitives;
using Microsoft.Net.Http.Headers;
using Yarp.ReverseProxy.Forwarder;

namespace Valet.Server.Proxy;

/// <summary>
/// Header hygiene for one proxied call. Request: every agent credential, hop-by-hop, forwarding and Valet header is
/// dropped, the Host becomes the upstream's, the provider's token and API headers go in. Response: Set-Cookie and every
/// header the upstream's Connection header names are dropped; a 429 always carries Retry-After. An upstream 401 on a replayable first attempt is held back (its body is not
/// copied) so the handler can refresh and retry.
/// </summary>
[System.Diagnostics.CodeAnalysis.SuppressMessage("Design", "CA1001", Justification = "The counting content is the upstream response's content: disposed with that response where the forwarder disposes it, and its read stream (which closes the inner one) always after the body copy.")]
internal sealed class ProxyTransformer : HttpTransformer
{
    /// <summary>Default wait told to a caller when a 429 came without Retry-After or a usable reset header.</summary>
    public const int DefaultRetryAfterSeconds = 60;

    public required Uri Upstream { get; init; }

    public required IReadOnlyDictionary<string, string> ApiHeaders { get; init; }

    /// <summary>Authorization scheme (<c>Bearer</c>, <c>Basic</c>); null: no Authorization header from Valet.</summary>
    public required string? TokenType { get; set; }

    /// <summary>The Authorization credential that goes with <see cref="TokenType"/>.</summary>
    public required string? Token { get; set; }

    /// <summary>
    /// The whole <c>Authorization</c> value (<c>Bearer …</c>, <c>Basic …</c>), sent as it is when set: built once per stored
    /// secret (<see cref="AuthorizationValues"/>). Null: <see cref="TokenType"/> and <see cref="Token"/> are formatted instead.
    /// </summary>
    public string? Authorization { get; init; }

    /// <summary>
    /// The credential this call carries, as it goes on the wire (a token, an API key, a Basic credential's base64): what an
    /// in-process caller must not hand on if the upstream echoes it (<see cref="ProxyVia.Sent"/>).
    /// </summary>
    public string? Secret { get; init; }

    /// <summary>An api_key provider's own header (<c>x-api-key</c>) and its value; replaces any the agent sent.</summary>
    public (string Name, string Value)? SecretHeader { get; init; }

    /// <summary>
    /// An api_key provider's query parameter and the secret. Not written into <see cref="Upstream"/> (which YARP logs):
    /// <see cref="SecretQueryHandler"/> appends it just before the request leaves, and takes it out again afterwards.
    /// </summary>
    public (string Name, string Value)? SecretQuery { get; init; }

    /// <summary>
    /// Asked on an upstream 401 (once). True: the response is discarded (the handler retries or answers); false: it is passed on.
    /// </summary>
    public IUpstreamUnauthorized? OnUnauthorized { get; set; }

    /// <summary>Set when <see cref="OnUnauthorized"/> asked to hold the 401 back.</summary>
    public bool HeldUnauthorized { get; private set; }

    /// <summary>A header of the agent's, to be forwarded, whose value is not visible ASCII: the call was not sent.</summary>
    public string? RefusedHeader { get; private set; }

    /// <summary>
    /// Count a body of unknown length (chunked) as the forwarder reads it (<see cref="CountingContent"/>). False when the
    /// caller counts every byte itself (an in-process caller, <see cref="ProxyVia"/>).
    /// </summary>
    public bool CountsUnknownLength { get; init; } = true;

    /// <summary>
    /// The upstream's answer was relayed to the agent (status, headers, then the body): set when this transform let it through.
    /// </summary>
    private bool _relayed;

    /// <summary>The body length the agent's response declares (Content-Length, or 0 when it has no body); null: chunked.</summary>
    private long? _declaredLength;

    /// <summary>Counts a chunked body as the forwarder reads it (null when the length was declared, or nothing was relayed).</summary>
    private CountingContent? _counter;

    /// <summary>
    /// The body bytes this attempt relayed to the agent, for the audit event (docs/proxy.md, "Audit"); asked once the
    /// forward returned <paramref name="error"/>. A declared length is exact once the response went out whole: Kestrel
    /// sends a body that matches its Content-Length or aborts it, and the forwarder reports a body that broke off. A
    /// request-body error reported after the whole response went out (YARP's last step: an upstream that answered an
    /// upload early) leaves that response whole. A chunked body is counted as it is read from the upstream. A forward that
    /// failed before the agent's response started relayed nothing (the forwarder cleared it for a 502; what follows is
    /// Valet's own answer). Null when a body of declared length broke off: how much got out is not known.
    /// </summary>
    public long? RelayedBytes(HttpContext httpContext, ForwarderError error)
    {
        if (error != ForwarderError.None && !httpContext.Response.HasStarted)
        {
            return 0;
        }

        if (_counter is { } counter)
        {
            return counter.Count;
        }

        if (!_relayed)
        {
            return 0;
        }

        var whole = error is ForwarderError.None or ForwarderError.RequestBodyClient or ForwarderError.RequestBodyDestination
            or ForwarderError.RequestBodyCanceled;
        return whole || _declaredLength == 0 ? _declaredLength : null;
    }

    public override async ValueTask TransformRequestAsync(HttpContext httpContext, HttpRequestMessage proxyRequest, string destinationPrefix,
        CancellationToken cancellationToken)
    {
        await base.TransformRequestAsync(httpContext, proxyRequest, destinationPrefix, cancellationToken);

        // The proxy request's headers are the forwarder's copy of the agent's (minus the hop-by-hop ones it skips), read
        // through the non-validating view: no value is parsed, no enumerator boxed (a second walk over Kestrel's request
        // headers allocated one per call).
        var drop = Dropped(proxyRequest, httpContext.Request.Headers, RawConnectionHeader.For(httpContext), out var unsendable);
        if (unsendable is not null)
        {
            // HttpClient sends ASCII header values only and would fail the call as if the provider were down (502). Refused
            // here instead: a status other than 200 set by a request transform stops YARP from forwarding (YARP docs,
            // https://learn.microsoft.com/aspnet/core/fundamentals/servers/yarp/extensibility-transforms), and the handler
            // answers 400 invalid_header.
            RefusedHeader = unsendable;
            httpContext.Response.StatusCode = StatusCodes.Status400BadRequest;
            return;
        }

        if (drop is not null)
        {
            foreach (var name in drop)
            {
                // Remove throws on a name the collection does not accept (a request header on content headers, or a
                // malformed token named by Connection); the non-validating view only answers.
                if (proxyRequest.Headers.NonValidated.Contains(name))
                {
                    proxyRequest.Headers.Remove(name);
                }

                if (proxyRequest.Content?.Headers.NonValidated.Contains(name) == true)
                {
                    proxyRequest.Content.Headers.Remove(name);
                }
            }
        }

        proxyRequest.RequestUri = Upstream;
        proxyRequest.Headers.Host = null; // from the URI: the upstream's own
        proxyRequest.Headers.Authorization = null; // the agent's credential (its Valet API key), on every call: not in the drop list
        if (Authorization is not null)
        {
            // Visible ASCII only (checked when it was built), so nothing to parse or validate per call.
            proxyRequest.Headers.TryAddWithoutValidation(HeaderNames.Authorization, Authorization);
        }
        else if (TokenType is not null && Token is not null)
        {
            proxyRequest.Headers.Authorization = new AuthenticationHeaderValue(
                string.Equals(TokenType, "bearer", StringComparison.OrdinalIgnoreCase) ? "Bearer" : TokenType, Token);
        }

        if (SecretHeader is { } header)
        {
            proxyRequest.Headers.Remove(header.Name);
            proxyRequest.Content?.Headers.Remove(header.Name);
            proxyRequest.Headers.TryAddWithoutValidation(header.Name, header.Value);
        }

        if (SecretQuery is { } query)
        {
            proxyRequest.Options.Set(SecretQueryHandler.Key, query);
        }
        // Count first: enumerating an empty dictionary through its interface still allocates an enumerator.
        foreach (var (name, value) in ApiHeaders.Count == 0 ? [] : ApiHeaders.AsEnumerable())
        {
            // Provider headers are defaults: an agent may pin another API version itself.
            if (!proxyRequest.Headers.Contains(name))
            {
                proxyRequest.Headers.TryAddWithoutValidation(name, value);
            }
        }
    }

    public override async ValueTask<bool> TransformResponseAsync(HttpContext httpContext, HttpResponseMessage? proxyResponse,
        CancellationToken cancellationToken)
    {
        if (proxyResponse?.StatusCode == HttpStatusCode.Unauthorized && OnUnauthorized is { } onUnauthorized)
        {
            OnUnauthorized = null; // once per call
            if (await onUnauthorized.HoldAsync(cancellationToken))
            {
                HeldUnauthorized = true;
                httpContext.Response.StatusCode = StatusCodes.Status200OK; // YARP copied 401 already; the handler decides
                return false;
            }
        }

        await base.TransformResponseAsync(httpContext, proxyResponse, cancellationToken);
        if (proxyResponse is null)
        {
            return true;
        }

        var response = httpContext.Response;
        var headers = response.Headers;

        // YARP drops the hop-by-hop headers themselves, not the ones the upstream's Connection header names (RFC 9110 §7.6.1).
        if (proxyResponse.Headers.NonValidated.TryGetValues(HeaderNames.Connection, out var connection))
        {
            foreach (var value in connection)
            {
                RemoveNamedBy(value, headers);
            }
        }

        headers.Remove(HeaderNames.SetCookie);
        headers.Remove("Set-Cookie2");

        // What the audit event will say the agent got (docs/proxy.md, "Audit"): the length the agent's response declares
        // (read after the headers the upstream's Connection names are gone: a Content-Length named there is not sent), or
        // a count of what passes. Never a stream around the agent's response body: that swaps a request feature on every call.
        _relayed = true;
        _declaredLength = HasNoBody(httpContext.Request.Method, response.StatusCode) ? 0 : response.ContentLength;
        if (_declaredLength is null && CountsUnknownLength)
        {
            // The forwarder reads the body from the response's content after this transform (YARP's HttpForwarder, step 7-B).
            proxyResponse.Content = _counter = new CountingContent(proxyResponse.Content);
        }

        // The upstream's answer, whatever it says: an upstream's problem+json that looks like one of Valet's (an envelope
        // with its own connect_url) must not pass for Valet's. Set over any such header of the upstream's on every answer
        // that is not a success; Valet's own answers are never successes, so a 2xx needs no mark (and the hot path no extra
        // header, docs/proxy.md "Headers") — only any the upstream claimed is taken off.
        if ((int)proxyResponse.StatusCode is < 200 or > 299)
        {
            headers[UpstreamHeader] = "1";
        }
        else
        {
            headers.Remove(UpstreamHeader);
        }

        // A query secret may come back in a URL the upstream echoes: a redirect's Location, a next page's Link.
        if (SecretQuery is { } secretQuery)
        {
            RedactSecret(headers, secretQuery.Value);
        }
        if (proxyResponse.StatusCode == HttpStatusCode.TooManyRequests && !headers.ContainsKey(HeaderNames.RetryAfter))
        {
            headers.RetryAfter = RetryAfterFromReset(proxyResponse).ToString(CultureInfo.InvariantCulture);
        }

        return true;
    }

    /// <summary>A response that carries no body whatever its headers say (RFC 9110 §6.4.1): to HEAD, 1xx, 204, 304.</summary>
    private static bool HasNoBody(string method, int status) =>
        status is < 200 or StatusCodes.Status204NoContent or StatusCodes.Status304NotModified || HttpMethods.IsHead(method);

    /// <summary>
    /// On every non-2xx response Valet relays from an upstream (/v1/proxy, /v1/targets), never on an answer of Valet's own
    /// (which is never a 2xx): how an agent (and the SDK) tells an upstream's 409 problem from a Valet envelope
    /// (docs/proxy.md, "Whose answer is it").
    /// </summary>
    public const string UpstreamHeader = "Valet-Upstream";

    /// <summary>What replaces a query secret found in a response header.</summary>
    public const string Redacted = "REDACTED";

    /// <summary>
    /// Replaces <paramref name="secret"/> in every response header value, in any spelling (<see cref="SecretSpellings"/>):
    /// as sent (percent-encoded by <see cref="SecretQueryHandler.With"/>), raw, partly escaped, with lower-case escapes. Only for providers whose
    /// secret goes in the query; a body that echoes the request URL is masked as it streams (<see cref="EchoMaskingStream"/>).
    /// </summary>
    internal static void RedactSecret(IHeaderDictionary headers, string secret)
    {
        if (secret.Length == 0)
        {
            return;
        }

        var pattern = SecretSpellings.Pattern(secret);
        foreach (var (name, values) in headers.ToList())
        {
            var changed = false;
            var rewritten = new string?[values.Count];
            for (var i = 0; i < values.Count; i++)
            {
                var value = values[i] ?? string.Empty;
                var redacted = pattern.Replace(value, Redacted);
                changed |= !string.Equals(redacted, value, StringComparison.Ordinal);
                rewritten[i] = redacted;
            }

            if (changed)
            {
                headers[name] = new Microsoft.Extensions.Primitives.StringValues(rewritten);
            }
        }
    }

    /// <summary>Providers that only send a reset time: <c>RateLimit-Reset</c> (delta seconds) or <c>X-RateLimit-Reset</c> (epoch seconds).</summary>
    private static long RetryAfterFromReset(HttpResponseMessage response)
    {
        if (response.Headers.TryGetValues("RateLimit-Reset", out var delta)
            && long.TryParse(delta.FirstOrDefault(), NumberStyles.None, CultureInfo.InvariantCulture, out var seconds) && seconds is > 0 and < 86_400)
        {
            return seconds;
        }

        if (response.Headers.TryGetValues("X-RateLimit-Reset", out var reset)
            && long.TryParse(reset.FirstOrDefault(), NumberStyles.None, CultureInfo.InvariantCulture, out var epoch))
        {
            var wait = epoch - DateTimeOffset.UtcNow.ToUnixTimeSeconds();
            if (wait is > 0 and < 86_400)
            {
                return wait;
            }
        }

        return DefaultRetryAfterSeconds;
    }

    /// <summary>
    /// The agent's headers that must not reach the provider: its credentials, forwarding and Valet headers, hop-by-hop
    /// headers, and every header its <c>Connection</c> header names. Null when there are none (the common case).
    /// </summary>
    private static List<string>? Dropped(HttpRequestMessage proxyRequest, IHeaderDictionary agentHeaders, string? rawConnection, out string? unsendable)
    {
        List<string>? drop = null;
        List<string>? unsendables = null;
        Scan(proxyRequest.Headers.NonValidated, ref drop, ref unsendables);
        if (proxyRequest.Content is { } content)
        {
            Scan(content.Headers.NonValidated, ref drop, ref unsendables);
        }

        // Kestrel may have cut the value down to its directive; the raw one names everything the agent said.
        if (rawConnection is not null)
        {
            AddNamedBy(rawConnection, ref drop);
        }

        foreach (var value in agentHeaders.Connection)
        {
            AddNamedBy(value, ref drop);
        }

        // Only a header that would be sent matters: one the agent's Connection header names is dropped anyway.
        unsendable = unsendables?.FirstOrDefault(name => drop is null || !drop.Contains(name, StringComparer.OrdinalIgnoreCase));
        return drop;

        static void Scan(HttpHeadersNonValidated headers, ref List<string>? drop, ref List<string>? unsendables)
        {
            foreach (var header in headers)
            {
                // Host and Authorization are on every call and are replaced after the scan, not listed (no list on a plain call).
                if (header.Key.Equals(HeaderNames.Host, StringComparison.OrdinalIgnoreCase)
                    || header.Key.Equals(HeaderNames.Authorization, StringComparison.OrdinalIgnoreCase))
                {
                    continue;
                }

                if (IsDropped(header.Key))
                {
                    (drop ??= []).Add(header.Key);
                }
                else if (!IsSendable(header.Value))
                {
                    (unsendables ??= []).Add(header.Key);
                }
            }
        }
    }

    private static void AddNamedBy(string? value, ref List<string>? drop)
    {
        var rest = (value ?? string.Empty).AsSpan();
        while (NextToken(ref rest) is { IsEmpty: false } token)
        {
            if (!IsConnectionDirective(token))
            {
                (drop ??= []).Add(token.ToString());
            }
        }
    }

    /// <summary>Removes from the agent's response every header that one upstream <c>Connection</c> value names.</summary>
    private static void RemoveNamedBy(string value, IHeaderDictionary headers)
    {
        var rest = value.AsSpan();
        while (NextToken(ref rest) is { IsEmpty: false } token)
        {
            if (!IsConnectionDirective(token))
            {
                headers.Remove(token.ToString());
            }
        }
    }

    /// <summary>The next comma-separated, trimmed, non-empty token of a <c>Connection</c> value; empty when there is none.</summary>
    private static ReadOnlySpan<char> NextToken(ref ReadOnlySpan<char> rest)
    {
        while (!rest.IsEmpty)
        {
            var comma = rest.IndexOf(',');
            var token = (comma < 0 ? rest : rest[..comma]).Trim();
            rest = comma < 0 ? [] : rest[(comma + 1)..];
            if (!token.IsEmpty)
            {
                return token;
            }
        }

        return [];
    }

    /// <summary><c>close</c> and <c>keep-alive</c> are directives, not header names: nothing to remove (and no string to make).</summary>
    private static bool IsConnectionDirective(ReadOnlySpan<char> token) =>
        token.Equals("close", StringComparison.OrdinalIgnoreCase) || token.Equals("keep-alive", StringComparison.OrdinalIgnoreCase);

    /// <summary>Visible ASCII, spaces and tabs (RFC 9110 §5.5 without obs-text): what HttpClient will put on the wire.</summary>
    private static bool IsSendable(HeaderStringValues values)
    {
        foreach (var value in values)
        {
            if (value.AsSpan().ContainsAnyExcept(Sendable))
            {
                return false;
            }
        }

        return true;
    }

    private static readonly SearchValues<char> Sendable = SearchValues.Create(
        [.. Enumerable.Range(' ', '~' - ' ' + 1).Select(c => (char)c), '\t']);

    private static bool IsDropped(string name) =>
        name.Equals(HeaderNames.Authorization, StringComparison.OrdinalIgnoreCase)
        || name.Equals(HeaderNames.Cookie, StringComparison.OrdinalIgnoreCase)
        || name.StartsWith("Proxy-", StringComparison.OrdinalIgnoreCase)
        || name.StartsWith("X-Forwarded-", StringComparison.OrdinalIgnoreCase)
        || name.Equals("Forwarded", StringComparison.OrdinalIgnoreCase)
        || name.Equals("X-Real-IP", StringComparison.OrdinalIgnoreCase)
        || name.StartsWith("X-Valet-", StringComparison.OrdinalIgnoreCase)
        || name.Equals(HeaderNames.Host, StringComparison.OrdinalIgnoreCase)
        || name.Equals(HeaderNames.Connection, StringComparison.OrdinalIgnoreCase)
        || name.Equals(HeaderNames.KeepAlive, StringComparison.OrdinalIgnoreCase)
        || name.Equals(HeaderNames.TE, StringComparison.OrdinalIgnoreCase)
        || name.Equals(HeaderNames.Trailer, StringComparison.OrdinalIgnoreCase)
        || name.Equals(HeaderNames.TransferEncoding, StringComparison.OrdinalIgnoreCase)
        || name.Equals(HeaderNames.Upgrade, StringComparison.OrdinalIgnoreCase)
        // Path overrides some servers and gateways obey (IIS URL Rewrite, Symfony): a request for a target's allowed path
        // must not name another one for the upstream to serve instead.
        || name.Equals("X-Original-URL", StringComparison.OrdinalIgnoreCase)
        || name.Equals("X-Rewrite-URL", StringComparison.OrdinalIgnoreCase);
}

/// <summary>What an upstream 401 means for one proxied call (an interface, so the hook costs no closure per call).</summary>
internal interface IUpstreamUnauthorized
{
    /// <summary>True: hold the 401 back (the handler retries or answers itself); false: pass it on.</summary>
    ValueTask<bool> HoldAsync(CancellationToken cancellationToken);
}
