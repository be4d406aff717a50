using System.Net;
using Microsoft.Extensions.Options;

namespace Valet.Server.Proxy;

/// <summary>
/// The outbound clients of the proxy: no redirects, no cookies, no ambient proxy, no decompression (bytes pass through
/// as the provider sent them), and a connect callback that checks every resolved address (<see cref="UpstreamNetwork"/>).
/// Two of them, one per address policy: a connection pool belongs to one handler, so a connection opened to a private
/// address for a provider with <c>AllowPrivateNetwork</c> can never be reused for a provider without it, even when both
/// name the same host. (The policy also needs no per-request option bag this way.)
/// </summary>
internal sealed class ProxyInvoker : IDisposable
{
    private readonly HttpMessageInvoker _publicOnly;
    private readonly HttpMessageInvoker _privateAllowed;

    public ProxyInvoker(IOptions<ProxyOptions> options, IUpstreamResolver resolver)
    {
        _publicOnly = Create(options.Value, resolver, allowPrivate: false);
        _privateAllowed = Create(options.Value, resolver, allowPrivate: true);
    }

    /// <summary>The client for a provider with (or without) <c>AllowPrivateNetwork</c>.</summary>
    public HttpMessageInvoker For(bool allowPrivateNetwork) => allowPrivateNetwork ? _privateAllowed : _publicOnly;

    public void Dispose()
    {
        _publicOnly.Dispose();
        _privateAllowed.Dispose();
    }

    private static HttpMessageInvoker Create(ProxyOptions settings, IUpstreamResolver resolver, bool allowPrivate) => new(new SecretQueryHandler(new SocketsHttpHandler
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
    }), disposeHandler: true);
}
