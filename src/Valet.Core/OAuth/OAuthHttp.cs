using System.Net;
using Valet.Core.Providers;

namespace Valet.Core.OAuth;

/// <summary>
/// The one definition of how Valet reaches OAuth endpoints (token, refresh, revocation, user-info, discovery). A
/// redirect is never followed: a token endpoint that answers <c>307 Location: elsewhere</c> would otherwise receive the
/// code, the PKCE verifier, the refresh token and the client secret again at a host nobody configured. Used by
/// <c>AddValetOAuthClient()</c> and, before the container exists, by boot-time discovery.
/// </summary>
public static class OAuthHttp
{
    /// <summary>The named <see cref="HttpClient"/> registered by <c>AddValetOAuthClient()</c>.</summary>
    public const string ClientName = "Valet.OAuth";

    /// <summary>Whole-request limit per call; the refresh coordinator applies its own, usually shorter, one on top.</summary>
    public static readonly TimeSpan Timeout = TimeSpan.FromSeconds(30);

    public static readonly TimeSpan ConnectTimeout = TimeSpan.FromSeconds(10);

    /// <summary>How long one handler (and its pooled connections) is used before <c>IHttpClientFactory</c> rotates it.</summary>
    public static readonly TimeSpan HandlerLifetime = TimeSpan.FromMinutes(5);

    /// <summary>
    /// Set on every outbound OAuth request: the provider's <c>AllowPrivateNetwork</c>. Without it, the connect callback
    /// treats the request as a public provider's.
    /// </summary>
    public static readonly HttpRequestOptionsKey<bool> AllowPrivateNetwork = new("Valet.AllowPrivateNetwork");

    /// <summary>Marks <paramref name="request"/> with its provider's address policy; returns it.</summary>
    public static HttpRequestMessage For(this HttpRequestMessage request, bool allowPrivateNetwork)
    {
        ArgumentNullException.ThrowIfNull(request);
        request.Options.Set(AllowPrivateNetwork, allowPrivateNetwork);
        return request;
    }

    /// <summary>
    /// The handler of every outbound OAuth call. Besides never following a redirect, it checks where each host name
    /// resolves when it connects (<see cref="CheckedConnect"/>), as the proxy does: the validator only sees a URL's name,
    /// and a name that later resolves to a metadata or (for a provider without <c>AllowPrivateNetwork</c>) a private
    /// address would otherwise receive the client secret, codes and refresh tokens. The policy comes with the request
    /// (<see cref="AllowPrivateNetwork"/>) and picks one of two connection pools, as the proxy keeps two clients: the
    /// check runs when a connection opens, so a connection opened to a private address for one provider must never be
    /// reused by another provider without <c>AllowPrivateNetwork</c> that names the same host.
    /// </summary>
    /// <param name="configure">Applied to both pools' handlers (tests give them their own DNS).</param>
    public static HttpMessageHandler CreateHandler(Action<SocketsHttpHandler>? configure = null)
    {
        var publicOnly = CreatePool(allowPrivate: false);
        var privateAllowed = CreatePool(allowPrivate: true);
        configure?.Invoke(publicOnly);
        configure?.Invoke(privateAllowed);
        return new PolicyHandler(new HttpMessageInvoker(publicOnly), new HttpMessageInvoker(privateAllowed));
    }

    private static SocketsHttpHandler CreatePool(bool allowPrivate) => new()
    {
        AllowAutoRedirect = false,
        // Provider cookies have no business in a token call, and a shared container would carry them across providers.
        UseCookies = false,
        AutomaticDecompression = DecompressionMethods.None,
        ConnectTimeout = ConnectTimeout,
        PooledConnectionLifetime = HandlerLifetime,
        ConnectCallback = (context, cancellationToken) => CheckedConnect.ConnectAsync(Dns.GetHostAddressesAsync,
            allowPrivate || IsToOutboundProxy(context), context.DnsEndPoint, static (host, kind) => new AddressRefusedException(host, kind),
            cancellationToken),
    };

    /// <summary>
    /// The connection goes to the outbound proxy the environment configures (<c>HTTPS_PROXY</c>, as before this check
    /// existed), not to the provider: it is the operator's, often on a private address (allowed; a forbidden one is still
    /// refused), and it resolves the provider's name itself, so Valet cannot check where that leads. Direct connections are
    /// checked in full.
    /// </summary>
    private static bool IsToOutboundProxy(SocketsHttpConnectionContext context) =>
        context.InitialRequestMessage.RequestUri is { } uri
        && !string.Equals(uri.IdnHost.Trim('[', ']'), context.DnsEndPoint.Host.Trim('[', ']'), StringComparison.OrdinalIgnoreCase);

    /// <summary>Sends each request through the pool of its provider's address policy (unmarked: public only).</summary>
    private sealed class PolicyHandler(HttpMessageInvoker publicOnly, HttpMessageInvoker privateAllowed) : HttpMessageHandler
    {
        protected override Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken cancellationToken) =>
            (request.Options.TryGetValue(AllowPrivateNetwork, out var allowed) && allowed ? privateAllowed : publicOnly)
                .SendAsync(request, cancellationToken);

        protected override void Dispose(bool disposing)
        {
            if (disposing)
            {
                publicOnly.Dispose();
                privateAllowed.Dispose();
            }

            base.Dispose(disposing);
        }
    }

    /// <summary>A standalone client with the same handler and timeout, for callers that run before the container exists.</summary>
    public static HttpClient CreateStandaloneClient() => new(CreateHandler(), disposeHandler: true) { Timeout = Timeout };

    /// <summary>
    /// True when the answer is a redirect, or came from somewhere else than <paramref name="endpoint"/> (a handler that
    /// follows redirects slipped in): either way the answer is not the configured endpoint's and must not be used.
    /// </summary>
    public static bool IsRedirect(HttpResponseMessage response, Uri endpoint)
    {
        ArgumentNullException.ThrowIfNull(response);
        return (int)response.StatusCode is >= 300 and < 400
            || (response.RequestMessage?.RequestUri is { } answered && answered != endpoint);
    }
}

/// <summary>An OAuth endpoint's host resolved to an address its provider may not reach; the connection was not made.</summary>
public sealed class AddressRefusedException(string host, AddressClass addressClass) : Exception(
    $"Valet refused to connect to {host}: it resolves to a {addressClass.ToString().ToLowerInvariant()} address" +
    (addressClass == AddressClass.Private ? " and this provider does not set AllowPrivateNetwork." : ", which is never reached."))
{
    public string Host { get; } = host;

    public AddressClass AddressClass { get; } = addressClass;
}
