using System.Net;
using System.Net.Sockets;

namespace Valet.Core.Providers;

/// <summary>
/// A connect callback for <see cref="SocketsHttpHandler.ConnectCallback"/> that checks where a host name really leads:
/// it resolves the host, refuses the connection when ANY resolved address is out of bounds (forbidden always, private
/// unless allowed; so a name with one public and one private record cannot be raced), then connects to the checked
/// addresses themselves, so a second DNS answer (rebinding) never gets a say. The proxy and the OAuth client both use it.
/// </summary>
public static class CheckedConnect
{
    /// <param name="resolve">Host name to addresses (DNS; tests point a public-looking name at 127.0.0.1).</param>
    /// <param name="allowPrivate">The provider's <c>AllowPrivateNetwork</c>.</param>
    /// <param name="endpoint">Where the handler wants to connect.</param>
    /// <param name="refused">The exception for a refused address (host, its class).</param>
    /// <param name="cancellationToken">Cancels the resolution and the connect.</param>
    public static async ValueTask<Stream> ConnectAsync(Func<string, CancellationToken, Task<IPAddress[]>> resolve, bool allowPrivate,
        DnsEndPoint endpoint, Func<string, AddressClass, Exception> refused, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(resolve);
        ArgumentNullException.ThrowIfNull(endpoint);
        ArgumentNullException.ThrowIfNull(refused);
        var host = endpoint.Host;
        var addresses = IPAddress.TryParse(host.Trim('[', ']'), out var literal)
            ? [literal]
            : await resolve(host, cancellationToken);
        if (addresses.Length == 0)
        {
            throw new HttpRequestException($"The host {host} did not resolve.");
        }

        foreach (var address in addresses)
        {
            var kind = NetworkAddresses.Classify(address);
            if (kind == AddressClass.Forbidden || (kind == AddressClass.Private && !allowPrivate))
            {
                throw refused(host, kind);
            }
        }

        Exception? last = null;
        foreach (var address in addresses)
        {
            var socket = new Socket(address.AddressFamily, SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
            try
            {
                await socket.ConnectAsync(new IPEndPoint(address, endpoint.Port), cancellationToken);
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

        throw new HttpRequestException(HttpRequestError.ConnectionError, $"Could not connect to the host {host}.", last);
    }
}
