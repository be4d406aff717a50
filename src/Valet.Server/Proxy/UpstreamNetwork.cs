using System.Net;
using Valet.Core.Providers;

namespace Valet.Server.Proxy;

/// <summary>Resolves upstream host names. A seam so tests can point a public-looking name at 127.0.0.1.</summary>
internal interface IUpstreamResolver
{
    Task<IPAddress[]> ResolveAsync(string host, CancellationToken cancellationToken);
}

internal sealed class DnsUpstreamResolver : IUpstreamResolver
{
    public Task<IPAddress[]> ResolveAsync(string host, CancellationToken cancellationToken) =>
        Dns.GetHostAddressesAsync(host, cancellationToken);
}

/// <summary>The proxy refused to connect: the upstream host resolved to an address its provider may not reach.</summary>
internal sealed class UpstreamAddressRefusedException(string host, AddressClass addressClass)
    : Exception($"The upstream host {host} resolved to a {addressClass.ToString().ToLowerInvariant()} address; the proxy refused to connect.")
{
    public string Host { get; } = host;

    public AddressClass AddressClass { get; } = addressClass;
}

internal static class UpstreamNetwork
{
    /// <summary>One resolved address, by the shared classifier (<see cref="NetworkAddresses"/>), the same the provider validator uses.</summary>
    public static AddressClass Classify(IPAddress address) => NetworkAddresses.Classify(address);

    /// <summary>
    /// The connect callback of the proxy's handler (<see cref="CheckedConnect"/>): every resolved address must be within
    /// the provider's bounds, and the connection goes to a checked address. A refusal is an
    /// <see cref="UpstreamAddressRefusedException"/> inside the <see cref="HttpRequestException"/>, for the proxy's answer.
    /// </summary>
    public static ValueTask<Stream> ConnectAsync(IUpstreamResolver resolver, bool allowPrivate, SocketsHttpConnectionContext context,
        CancellationToken cancellationToken) =>
        CheckedConnect.ConnectAsync(resolver.ResolveAsync, allowPrivate, context.DnsEndPoint,
            static (host, kind) => new HttpRequestException(HttpRequestError.ConnectionError, "The proxy refused the upstream address.",
                new UpstreamAddressRefusedException(host, kind)), cancellationToken);
}
