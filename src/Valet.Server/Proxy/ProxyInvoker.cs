using System.Net;
using Microsoft.Extensions.Options;

namespace Valet.Server.Proxy;

/// <summary>
/// The outbound clients of the proxy: no redirects, no cookies, no ambient proxy, no decompression (bytes pass through
/// as the provider sent them), and a connect callback that checks every resolved address (<see cref="UpstreamNetwork"/>).
/// One per address policy: a connection pool belongs to one handler, so a connection opened to a private address for a
/// provider with <c>AllowPrivateNetwork</c> can never be reused for a provider without it, even when both name the same
/// host. (The policy also needs no per-request option bag this way.) Each policy has a second client whose chain adds an
/// api_key provider's query secret (<see cref="SecretQueryHandler"/>), for those providers only.
/// </summary>
internal sealed class ProxyInvoker : IDisposable
{
    private readonly HttpMessageInvoker _publicOnly;
    private readonly HttpMessageInvoker _privateAllowed;
    private readonly HttpMessageInvoker _publicOnlyWithQuery;
    private readonly HttpMessageInvoker _privateAllowedWithQuery;

    public ProxyInvoker(IOptions<ProxyOptions> options, IUpstreamResolver resolver)
    {
        _publicOnly = Create(options.Value, resolver, allowPrivate: false, secretQuery: false);
        _privateAllowed = Create(options.Value, resolver, allowPrivate: true, secretQuery: false);
        _publicOnlyWithQuery = Create(options.Value, resolver, allowPrivate: false, secretQuery: true);
        _privateAllowedWithQuery = Create(options.Value, resolver, allowPrivate: true, secretQuery: true);
    }

    /// <summary>
    /// The client for a provider with (or without) <c>AllowPrivateNetwork</c>, and with the <see cref="SecretQueryHandler"/>
    /// only for a provider that takes its secret in the query: every other call skips that stage (one async step and an
    /// options bag per call fewer).
    /// </summary>
    public HttpMessageInvoker For(bool allowPrivateNetwork, bool secretQuery) => (allowPrivateNetwork, secretQuery) switch
    {
        (false, false) => _publicOnly,
        (true, false) => _privateAllowed,
        (false, true) => _publicOnlyWithQuery,
        (true, true) => _privateAllowedWithQuery,
    };

    public void Dispose()
    {
        _publicOnly.Dispose();
        _privateAllowed.Dispose();
        _publicOnlyWithQuery.Dispose();
        _privateAllowedWithQuery.Dispose();
    }

    private static HttpMessageInvoker Create(ProxyOptions settings, IUpstreamResolver resolver, bool allowPrivate, bool secretQuery)
    {
        var sockets = new SocketsHttpHandler
        {
            AllowAutoRedirect = false,
            UseCookies = false,
            UseProxy = false,
            AutomaticDecompression = DecompressionMethods.None,
            ConnectTimeout = settings.ConnectTimeout,
            PooledConnectionLifetime = settings.PooledConnectionLifetime,
            EnableMultipleHttp2Connections = true,
            ActivityHeadersPropagator = null,
            ConnectCallback = (context, cancellationToken) => UpstreamNetwork.ConnectAsync(resolver, allowPrivate, context, cancellationToken),
        };
        return new HttpMessageInvoker(secretQuery ? new SecretQueryHandler(sockets) : sockets, disposeHandler: true);
    }
}
