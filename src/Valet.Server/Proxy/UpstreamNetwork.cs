using System.Net;
using System.Net.Sockets;
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
    /// The connect callback of the proxy's handler: resolves the host, refuses the connection when ANY resolved address is
    /// out of bounds for the provider (so a name with one public and one private record cannot be raced), then connects to
    /// the checked addresses themselves, so a second DNS answer (rebinding) never gets a say.
    /// </summary>
    public static async ValueTask<Stream> ConnectAsync(IUpstreamResolver resolver, bool allowPrivate, SocketsHttpConnectionContext context,
        CancellationToken cancellationToken)
    {
        var host = context.DnsEndPoint.Host;

        var addresses = IPAddress.TryParse(host.Trim('[', ']'), out var literal)
            ? [literal]
            : await resolver.ResolveAsync(host, cancellationToken);
        if (addresses.Length == 0)
        {
            throw new HttpRequestException($"The upstream host {host} did not resolve.");
        }

        foreach (var address in addresses)
        {
            var kind = Classify(address);
            if (kind == AddressClass.Forbidden || (kind == AddressClass.Private && !allowPrivate))
            {
                throw new HttpRequestException(HttpRequestError.ConnectionError, "The proxy refused the upstream address.",
                    new UpstreamAddressRefusedException(host, kind));
            }
        }

        Exception? last = null;
        foreach (var address in addresses)
        {
            var socket = new Socket(address.AddressFamily, SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
            try
            {
                await socket.ConnectAsync(new IPEndPoint(address, context.DnsEndPoint.Port), cancellationToken);
                return new NetworkStream(socket, ownsSocket: true);
            }
            catch (SocketException error)
            {
                socket.Dispose();
                last = error;
            }
            catch
            {
                socket.Dispose();
                throw;
            }
        }

        throw new HttpRequestException(HttpRequestError.ConnectionError, $"Could not connect to the upstream host {host}.", last);
    }
}
