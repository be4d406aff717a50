using System.Net;
using Microsoft.Extensions.Options;

namespace Valet.Server.Proxy;

/// <summary>
/// The one outbound client of the proxy: no redirects, no cookies, no ambient proxy, no decompression (bytes pass through
/// as the provider sent them), and a connect callback that checks every resolved address (<see cref="UpstreamNetwork"/>).
/// </summary>
internal sealed class ProxyInvoker : IDisposable
{
    public ProxyInvoker(IOptions<ProxyOptions> options, IUpstreamResolver resolver)
    {
        var settings = options.Value;
        var handler = new SocketsHttpHandler
        {
            AllowAutoRedirect = false,
            UseCookies = false,
            UseProxy = false,
            AutomaticDecompression = DecompressionMethods.None,
            ConnectTimeout = settings.ConnectTimeout,
            PooledConnectionLifetime = settings.PooledConnectionLifetime,
            EnableMultipleHttp2Connections = true,
            ActivityHeadersPropagator = null,
            ConnectCallback = (context, cancellationToken) => UpstreamNetwork.ConnectAsync(resolver, context, cancellationToken),
        };
        Invoker = new HttpMessageInvoker(handler, disposeHandler: true);
    }

    public HttpMessageInvoker Invoker { get; }

    public void Dispose() => Invoker.Dispose();
}
