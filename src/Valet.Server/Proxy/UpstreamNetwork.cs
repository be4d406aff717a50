using System.Net;
using System.Net.Sockets;

namespace Valet.Server.Proxy;

/// <summary>Where an upstream address sits, for the connect-time SSRF check.</summary>
internal enum AddressClass
{
    /// <summary>A public unicast address: always allowed.</summary>
    Public,

    /// <summary>Loopback, RFC 1918, CGNAT, unique-local, benchmark: allowed only when the provider sets AllowPrivateNetwork.</summary>
    Private,

    /// <summary>Link-local (cloud metadata lives there), multicast, unspecified, broadcast, reserved: never a provider.</summary>
    Forbidden,
}

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
    /// <summary>Classifies one resolved address. IPv4-mapped and NAT64 (64:ff9b::/96) addresses are judged by their IPv4 part.</summary>
    public static AddressClass Classify(IPAddress address)
    {
        ArgumentNullException.ThrowIfNull(address);
        if (address.IsIPv4MappedToIPv6)
        {
            address = address.MapToIPv4();
        }

        if (address.AddressFamily == AddressFamily.InterNetwork)
        {
            return ClassifyV4(address.GetAddressBytes());
        }

        if (address.AddressFamily != AddressFamily.InterNetworkV6)
        {
            return AddressClass.Forbidden;
        }

        var b = address.GetAddressBytes();
        if (address.Equals(IPAddress.IPv6Any))
        {
            return AddressClass.Forbidden;
        }

        if (address.Equals(IPAddress.IPv6Loopback))
        {
            return AddressClass.Private;
        }

        // 64:ff9b::/96 (NAT64) and ::/96 (IPv4-compatible, deprecated) carry an IPv4 address in the last four bytes.
        if ((b[0] == 0x00 && b[1] == 0x64 && b[2] == 0xff && b[3] == 0x9b && b.AsSpan(4, 8).IndexOfAnyExcept((byte)0) < 0)
            || b.AsSpan(0, 12).IndexOfAnyExcept((byte)0) < 0)
        {
            return ClassifyV4(b.AsSpan(12));
        }

        if (b[0] == 0xff || (b[0] == 0xfe && (b[1] & 0xc0) == 0x80))
        {
            return AddressClass.Forbidden; // multicast, link-local fe80::/10
        }

        if ((b[0] & 0xfe) == 0xfc || (b[0] == 0xfe && (b[1] & 0xc0) == 0xc0))
        {
            // fc00::/7 unique-local (fd00:ec2::254, the AWS metadata address, is in it and is refused below) and fec0::/10.
            return IsAwsMetadataV6(b) ? AddressClass.Forbidden : AddressClass.Private;
        }

        return AddressClass.Public;
    }

    private static bool IsAwsMetadataV6(byte[] b) =>
        b[0] == 0xfd && b[1] == 0x00 && b[2] == 0x0e && b[3] == 0xc2 && b.AsSpan(4, 10).IndexOfAnyExcept((byte)0) < 0 && b[14] == 0x02 && b[15] == 0x54;

    private static AddressClass ClassifyV4(ReadOnlySpan<byte> b) => (b[0], b[1]) switch
    {
        (0, _) => AddressClass.Forbidden,                                   // "this network", 0.0.0.0
        (169, 254) => AddressClass.Forbidden,                               // link-local, 169.254.169.254 metadata
        (>= 224, _) => AddressClass.Forbidden,                              // multicast, reserved, broadcast
        (127, _) or (10, _) => AddressClass.Private,
        (172, >= 16 and <= 31) or (192, 168) => AddressClass.Private,
        (100, >= 64 and <= 127) => AddressClass.Private,                    // CGNAT
        (198, 18 or 19) => AddressClass.Private,                            // benchmarking
        (192, 0) when b[2] == 0 => AddressClass.Private,                    // IETF protocol assignments
        _ => AddressClass.Public,
    };

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
