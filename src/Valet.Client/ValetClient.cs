using System.Globalization;
using System.Net;
using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using Valet.Client.Internal;

namespace Valet.Client;

/// <summary>
/// A typed client for Valet's agent routes, authenticated with an API key (<c>Authorization: Bearer</c>). Every Valet
/// error becomes an exception: <see cref="ValetAuthRequiredException"/> (and its subclasses) when a person must act,
/// <see cref="ValetProviderUnavailableException"/> when the provider is down, <see cref="ValetAmbiguousConnectionException"/>,
/// and <see cref="ValetApiException"/> for the rest. Thread-safe; keep one per API key.
/// </summary>
public sealed class ValetClient : IDisposable
{
    /// <summary>The name of the <see cref="HttpClient"/> that <c>AddValetClient</c> registers.</summary>
    public const string HttpClientName = "Valet.Client";

    /// <summary>
    /// The response header Valet puts on every answer it relays from the upstream through <c>/v1/proxy</c> and
    /// <c>/v1/targets</c> (overwriting any the upstream sent); Valet's own answers never carry it. A proxied response
    /// with it is the upstream's, whatever its body says.
    /// </summary>
    public const string UpstreamHeader = "Valet-Upstream";

    private const string ProblemMediaType = "application/problem+json";
    private const string ValetProblemPrefix = "urn:valet:problem:";

    /// <summary>Longest single long poll: under the idle timeout of common proxies and HttpClient's default timeout.</summary>
    private static readonly TimeSpan MaxPoll = TimeSpan.FromSeconds(50);

    /// <summary>Between two immediate checks, when the <see cref="HttpClient.Timeout"/> leaves no room for a long poll.</summary>
    private static readonly TimeSpan ShortPollPause = TimeSpan.FromMilliseconds(500);

    private readonly HttpClient _http;
    private readonly bool _ownsHttp;

    /// <summary>A client with its own <see cref="HttpClient"/>, for programs without dependency injection.</summary>
    /// <param name="baseAddress">Where Valet listens, e.g. <c>http://127.0.0.1:7878</c> (a path prefix is kept).</param>
    /// <param name="apiKey">The agent's API key.</param>
    public ValetClient(Uri baseAddress, string apiKey)
        : this(CreateHttpClient(baseAddress, apiKey), TimeProvider.System, ownsHttp: true)
    {
    }

    /// <summary>
    /// A client over an <see cref="HttpClient"/> you configured: its <see cref="HttpClient.BaseAddress"/> is Valet's address
    /// and its default <c>Authorization</c> header carries the API key (see <see cref="Configure"/>). The client is not disposed.
    /// </summary>
    public ValetClient(HttpClient httpClient)
        : this(httpClient, TimeProvider.System, ownsHttp: false)
    {
    }

    internal ValetClient(HttpClient httpClient, TimeProvider time, bool ownsHttp)
    {
        ArgumentNullException.ThrowIfNull(httpClient);
        ArgumentNullException.ThrowIfNull(time);
        BaseAddress = httpClient.BaseAddress is { IsAbsoluteUri: true } address
            ? WithTrailingSlash(address)
            : throw new ArgumentException("The HttpClient needs an absolute BaseAddress: where Valet listens.", nameof(httpClient));
        _http = httpClient;
        _ownsHttp = ownsHttp;
        Time = time;
        CacheIdentity = IdentityOf(BaseAddress, httpClient);
    }

    /// <summary>Where Valet listens (always ending in <c>/</c>).</summary>
    public Uri BaseAddress { get; }

    internal TimeProvider Time { get; }

    /// <summary>
    /// Who this client is to Valet — its address and a hash of the <c>Authorization</c> header its HttpClient sends — so
    /// that clients of different keys or servers never share a cached token (<see cref="ValetTokenCache"/>).
    /// </summary>
    internal string CacheIdentity { get; }

    /// <summary>Points <paramref name="httpClient"/> at Valet and sets its API key header.</summary>
    public static void Configure(HttpClient httpClient, Uri baseAddress, string apiKey)
    {
        ArgumentNullException.ThrowIfNull(httpClient);
        ArgumentNullException.ThrowIfNull(baseAddress);
        ArgumentException.ThrowIfNullOrWhiteSpace(apiKey);
        if (!baseAddress.IsAbsoluteUri)
        {
            throw new ArgumentException("Valet's address must be absolute, e.g. http://127.0.0.1:7878.", nameof(baseAddress));
        }

        httpClient.BaseAddress = WithTrailingSlash(baseAddress);
        httpClient.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", apiKey);
    }

    /// <summary><c>GET /v1/bootstrap</c>: what this key may use, and an envelope for each thing that needs a person. Call it first.</summary>
    public async Task<ValetBootstrap> GetBootstrapAsync(CancellationToken cancellationToken = default)
    {
        using var response = await _http.GetAsync(Url("v1/bootstrap"), cancellationToken).ConfigureAwait(false);
        return await ReadAsync(response, ValetJson.Default.ValetBootstrap, cancellationToken).ConfigureAwait(false);
    }

    /// <summary>
    /// <c>POST /v1/connections/{id}/token</c>: a fresh access token for one connection (Valet refreshes first when it
    /// is about to expire). With <paramref name="scopes"/>, a connection lacking any gives <see cref="ValetMissingScopesException"/>.
    /// </summary>
    public Task<ValetAccessToken> GetTokenAsync(string connectionId, IEnumerable<string>? scopes = null, CancellationToken cancellationToken = default)
    {
        ArgumentException.ThrowIfNullOrEmpty(connectionId);
        return TokenAsync($"v1/connections/{Uri.EscapeDataString(connectionId)}/token", scopes, cancellationToken);
    }

    /// <summary>
    /// <c>POST /v1/providers/{provider}/token</c>: a token from the one connection of that provider the key may use (or
    /// the org's default). None gives <see cref="ValetNeedsAuthenticationException"/>; several without a default give
    /// <see cref="ValetAmbiguousConnectionException"/>.
    /// </summary>
    public Task<ValetAccessToken> GetProviderTokenAsync(string provider, IEnumerable<string>? scopes = null,
        CancellationToken cancellationToken = default)
    {
        ArgumentException.ThrowIfNullOrEmpty(provider);
        return TokenAsync($"v1/providers/{Uri.EscapeDataString(provider)}/token", scopes, cancellationToken);
    }

    /// <summary>
    /// Sends <paramref name="request"/> through Valet's proxy, which injects the token (and on an upstream 401 refreshes
    /// once and retries once). The request's <see cref="HttpRequestMessage.RequestUri"/> is the path (and query) under
    /// the provider's API base, relative: <c>user/repos?per_page=5</c>; a path with a <c>.</c> or <c>..</c> segment (also
    /// percent-encoded, or between backslashes) is refused with <see cref="ArgumentException"/>, since it would leave the
    /// proxy route. The upstream's answer comes back as it is, whatever its status (Valet marks it with
    /// <see cref="UpstreamHeader"/>); only Valet's own problems (<c>urn:valet:problem:*</c>, without that header) are
    /// thrown. Dispose the response.
    /// </summary>
    public async Task<HttpResponseMessage> SendAsync(ValetRoute route, HttpRequestMessage request, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(route);
        ArgumentNullException.ThrowIfNull(request);
        request.RequestUri = ProxyUrl(route, request);

        var response = await _http.SendAsync(request, HttpCompletionOption.ResponseHeadersRead, cancellationToken).ConfigureAwait(false);
        if (!IsProblem(response) || response.Headers.Contains(UpstreamHeader))
        {
            return response; // a success, or the upstream's own answer: even a urn:valet:problem body from there is not Valet's
        }

        try
        {
            await BufferAsync(response.Content, cancellationToken).ConfigureAwait(false);
            var problem = await TryReadProblemAsync(response, cancellationToken).ConfigureAwait(false);
            if (problem?.Type is { } type && type.StartsWith(ValetProblemPrefix, StringComparison.Ordinal))
            {
                throw ToException(response, problem);
            }

            // A HEAD answer has no body to read, so no type to tell by: a problem without the upstream's mark is Valet's own
            // (Valet marks every non-2xx answer it relays with Valet-Upstream), thrown with its status and no code.
            if (problem is null && request.Method == HttpMethod.Head)
            {
                throw ToException(response, null);
            }
        }
        catch
        {
            response.Dispose();
            throw;
        }

        return response; // the upstream's own problem document: passed through, still readable
    }

    /// <summary>A GET through the proxy; see <see cref="SendAsync"/>.</summary>
    public Task<HttpResponseMessage> GetAsync(ValetRoute route, string path, CancellationToken cancellationToken = default) =>
        SendAsync(route, new HttpRequestMessage(HttpMethod.Get, new Uri(path, UriKind.Relative)), cancellationToken);

    /// <summary><c>GET /v1/flows/{id}</c>: the state of a flow now.</summary>
    public async Task<ValetFlow> GetFlowAsync(string flowId, CancellationToken cancellationToken = default)
    {
        ArgumentException.ThrowIfNullOrEmpty(flowId);
        using var response = await _http.GetAsync(Url($"v1/flows/{Uri.EscapeDataString(flowId)}"), cancellationToken).ConfigureAwait(false);
        return await ReadAsync(response, ValetJson.Default.ValetFlow, cancellationToken).ConfigureAwait(false);
    }

    /// <summary>
    /// Long-polls <c>GET /v1/flows/{id}/wait?timeout=</c>, again and again, until the flow is decided
    /// (<see cref="ValetFlow.IsTerminal"/>) or <paramref name="timeout"/> has passed; then returns its latest state (still
    /// <c>pending</c> at the deadline). The flow routes answer an operator of the flow's org and the org's agent keys
    /// (an agent key gets 404 <c>flow_not_found</c> for another org's flow); older servers gave agent keys 403.
    /// Each poll is at most 50 s, and shorter when the <see cref="HttpClient"/> you passed has a shorter
    /// <see cref="HttpClient.Timeout"/>, so a long <paramref name="timeout"/> never trips it.
    /// </summary>
    public async Task<ValetFlow> WaitForFlowAsync(string flowId, TimeSpan timeout, CancellationToken cancellationToken = default)
    {
        ArgumentException.ThrowIfNullOrEmpty(flowId);
        var started = Time.GetTimestamp();
        var cap = PollCap(_http.Timeout);
        while (true)
        {
            var left = timeout - Time.GetElapsedTime(started);
            var poll = left <= TimeSpan.Zero ? TimeSpan.Zero : left < cap ? left : cap;
            var seconds = (int)Math.Ceiling(poll.TotalSeconds); // never past the cap: it is whole seconds

            using var response = await _http.GetAsync(
                Url($"v1/flows/{Uri.EscapeDataString(flowId)}/wait?timeout={seconds.ToString(CultureInfo.InvariantCulture)}"), cancellationToken)
                .ConfigureAwait(false);
            var flow = await ReadAsync(response, ValetJson.Default.ValetFlow, cancellationToken).ConfigureAwait(false);
            if (flow.IsTerminal || Time.GetElapsedTime(started) >= timeout)
            {
                return flow;
            }

            if (seconds == 0)
            {
                // An immediate check (the HttpClient's timeout is under two seconds): pause rather than spin.
                await Task.Delay(Min(ShortPollPause, timeout - Time.GetElapsedTime(started)), Time, cancellationToken).ConfigureAwait(false);
            }
        }
    }

    /// <summary>
    /// The longest poll a request may ask for: <see cref="MaxPoll"/>, or less when the <see cref="HttpClient"/>'s own
    /// <see cref="HttpClient.Timeout"/> is shorter, so that the server answers (pending) before HttpClient gives up and
    /// throws. The server answers a poll of N seconds up to a quarter second late (it looks every 250 ms), plus the way
    /// back: so the cap is four fifths of the timeout and at least a second under it, in whole seconds. Under two seconds
    /// that is zero, an immediate check.
    /// </summary>
    internal static TimeSpan PollCap(TimeSpan httpTimeout)
    {
        if (httpTimeout == Timeout.InfiniteTimeSpan || httpTimeout * 0.8 >= MaxPoll)
        {
            return MaxPoll;
        }

        var room = Math.Min((httpTimeout * 0.8).TotalSeconds, (httpTimeout - TimeSpan.FromSeconds(1)).TotalSeconds);
        return TimeSpan.FromSeconds(Math.Max(0, Math.Floor(room)));
    }

    private static TimeSpan Min(TimeSpan a, TimeSpan b) => TimeSpan.FromTicks(Math.Max(0, Math.Min(a.Ticks, b.Ticks)));

    /// <summary>Disposes the <see cref="HttpClient"/> if this client made it.</summary>
    public void Dispose()
    {
        if (_ownsHttp)
        {
            _http.Dispose();
        }
    }

    private async Task<ValetAccessToken> TokenAsync(string path, IEnumerable<string>? scopes, CancellationToken cancellationToken)
    {
        var list = scopes?.ToList();
        // Serialized up front so the body goes with a Content-Length: JsonContent streams it (chunked, no length).
        using var content = list is { Count: > 0 }
            ? new ByteArrayContent(JsonSerializer.SerializeToUtf8Bytes(new TokenRequestBody { Scopes = list }, ValetJson.Default.TokenRequestBody))
            {
                Headers = { ContentType = new MediaTypeHeaderValue("application/json") { CharSet = "utf-8" } },
            }
            : null;
        using var response = await _http.PostAsync(Url(path), content, cancellationToken).ConfigureAwait(false);
        return await ReadAsync(response, ValetJson.Default.ValetAccessToken, cancellationToken).ConfigureAwait(false);
    }

    private Uri Url(string relative) => new(BaseAddress, relative);

    /// <summary>
    /// The proxy URL of the request's relative path on <paramref name="route"/>. <see cref="Uri"/> resolves dot segments (RFC 3986
    /// §5.2.4), and also <c>%2e%2e</c> and backslashes, so <c>../../connections/c1/token</c> would turn a proxied call into a
    /// raw token request sent with the key: such paths are refused, and the result must still lie under the route.
    /// </summary>
    private Uri ProxyUrl(ValetRoute route, HttpRequestMessage request)
    {
        var path = request.RequestUri switch
        {
            null => string.Empty,
            { IsAbsoluteUri: true } => throw new ArgumentException(
                "A proxied request's RequestUri is the path under the provider's API base (relative), not an absolute URL.", nameof(request)),
            var relative => relative.OriginalString.TrimStart('/'),
        };
        var end = path.IndexOfAny(['?', '#']);
        foreach (var segment in (end < 0 ? path : path[..end]).Split('/', '\\'))
        {
            // Decoded, a segment may hide separators too (..%2f): every piece between them is checked.
            if (Uri.UnescapeDataString(segment).Split('/', '\\').Any(piece => piece is "." or ".."))
            {
                throw new ArgumentException(
                    "A proxied request's path must not contain '.' or '..' segments (plain or percent-encoded): they would leave the proxy route.",
                    nameof(request));
            }
        }

        var prefix = route.Prefix + Uri.EscapeDataString(route.Id) + "/";
        var url = Url(prefix + path);
        if (!string.Equals(url.GetLeftPart(UriPartial.Authority), BaseAddress.GetLeftPart(UriPartial.Authority), StringComparison.OrdinalIgnoreCase)
            || !url.AbsolutePath.StartsWith(BaseAddress.AbsolutePath + prefix, StringComparison.Ordinal))
        {
            throw new ArgumentException($"The proxied request's URL does not stay under {route}: check the route id and the path.", nameof(request));
        }

        return url;
    }

    private static string IdentityOf(Uri baseAddress, HttpClient http)
    {
        var authorization = http.DefaultRequestHeaders.Authorization?.ToString() ?? string.Empty;
        // A digest, not the key: the identity is a dictionary key that may be seen in a memory dump or a debugger.
        var digest = Convert.ToHexString(SHA256.HashData(Encoding.UTF8.GetBytes(authorization)), 0, 16);
        return baseAddress.AbsoluteUri + "|" + digest;
    }

    private async Task<T> ReadAsync<T>(HttpResponseMessage response, System.Text.Json.Serialization.Metadata.JsonTypeInfo<T> type,
        CancellationToken cancellationToken)
    {
        if (!response.IsSuccessStatusCode)
        {
            throw ToException(response, await TryReadProblemAsync(response, cancellationToken).ConfigureAwait(false));
        }

        try
        {
            return await response.Content.ReadFromJsonAsync(type, cancellationToken).ConfigureAwait(false)
                ?? throw new ValetApiException(response.StatusCode, null, "Empty answer", "Valet answered with an empty body.");
        }
        catch (JsonException)
        {
            throw new ValetApiException(response.StatusCode, null, "Unreadable answer",
                "Valet's answer was not the JSON expected: is the base address Valet's?");
        }
    }

    /// <summary>Reads <paramref name="content"/> into memory so that it can be read (or sent) again.</summary>
    internal static Task BufferAsync(HttpContent content, CancellationToken cancellationToken) =>
#if NET9_0_OR_GREATER
        content.LoadIntoBufferAsync(cancellationToken);
#else
        content.LoadIntoBufferAsync();
#endif

    private static bool IsProblem(HttpResponseMessage response) =>
        !response.IsSuccessStatusCode && string.Equals(response.Content.Headers.ContentType?.MediaType, ProblemMediaType, StringComparison.OrdinalIgnoreCase);

    private static async Task<ProblemDocument?> TryReadProblemAsync(HttpResponseMessage response, CancellationToken cancellationToken)
    {
        var mediaType = response.Content.Headers.ContentType?.MediaType;
        if (mediaType is not (ProblemMediaType or "application/json"))
        {
            return null;
        }

        try
        {
            return await response.Content.ReadFromJsonAsync(ValetJson.Default.ProblemDocument, cancellationToken).ConfigureAwait(false);
        }
        catch (JsonException)
        {
            return null;
        }
    }

    private ValetApiException ToException(HttpResponseMessage response, ProblemDocument? problem)
    {
        var retryAfter = RetryAfterOf(response);
        return problem?.Code switch
        {
            _ when response.StatusCode == HttpStatusCode.Conflict && ValetEnvelopeCodes.IsEnvelope(problem?.Code) =>
                ValetAuthRequiredException.From(problem!.ToRequirement()),
            "provider_unavailable" => new ValetProviderUnavailableException(response.StatusCode, problem.Title, problem.Detail, retryAfter),
            "ambiguous_connection" => new ValetAmbiguousConnectionException(problem.Title, problem.Detail, problem.Connections ?? []),
            _ => new ValetApiException(response.StatusCode, problem?.Code, problem?.Title ?? response.ReasonPhrase, problem?.Detail, retryAfter),
        };
    }

    private TimeSpan? RetryAfterOf(HttpResponseMessage response) => response.Headers.RetryAfter switch
    {
        { Delta: { } delta } => delta,
        { Date: { } date } => date - Time.GetUtcNow() is var wait && wait > TimeSpan.Zero ? wait : TimeSpan.Zero,
        _ => null,
    };

    private static HttpClient CreateHttpClient(Uri baseAddress, string apiKey)
    {
        // Never follow a redirect: the proxy passes a provider's 3xx back as it is (docs/proxy.md), and following it would
        // send the call to the provider's Location without Valet (or to Valet without the key) instead of returning it.
        var http = new HttpClient(new SocketsHttpHandler { AllowAutoRedirect = false });
        Configure(http, baseAddress, apiKey);
        return http;
    }

    private static Uri WithTrailingSlash(Uri address) =>
        address.AbsoluteUri.EndsWith('/') ? address : new Uri(address.AbsoluteUri + "/");
}
