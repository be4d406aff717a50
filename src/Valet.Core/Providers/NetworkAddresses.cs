using System.Net;
using System.Net.Sockets;

namespace Valet.Core.Providers;

/// <summary>Where an address or host sits, for the SSRF checks (provider URLs at boot, upstream addresses at connect time).</summary>
public enum AddressClass
{
    /// <summary>A public unicast address or name: always allowed.</summary>
    Public,

    /// <summary>Loopback, RFC 1918, CGNAT, unique-local, site-local, benchmarking, intranet names: only with AllowPrivateNetwork.</summary>
    Private,

    /// <summary>Link-local (cloud metadata lives there), metadata hosts, multicast, unspecified/"this network", broadcast, reserved: never.</summary>
    Forbidden,
}

/// <summary>
/// The one private-address classifier. Used by the provider validator (a URL's host, by literal, no DNS) and by the
/// proxy's connect callback (each resolved address), so boot and run time agree on what is private and what is never
/// allowed. IPv4-mapped, IPv4-compatible, NAT64 (64:ff9b::/96) and 6to4 (2002::/16) IPv6 addresses are judged by their
/// IPv4 part, local-use NAT64 (64:ff9b:1::/48) by the strictest of its possible IPv4 parts; Teredo (2001::/32) is never allowed.
/// </summary>
public static class NetworkAddresses
{
    /// <summary>Cloud metadata services by name (they resolve into link-local or private space, but are refused by name too).</summary>
    private static readonly HashSet<string> MetadataHosts = new(StringComparer.OrdinalIgnoreCase)
    {
        "metadata", "metadata.google.internal", "metadata.goog", "instance-data", "instance-data.ec2.internal",
    };

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

        // 64:ff9b::/96 (NAT64) and ::/96 (IPv4-compatible, deprecated) carry an IPv4 address in the last four bytes;
        // 2002::/16 (6to4, RFC 3056) in bytes 2 to 5.
        var nat64 = b[0] == 0x00 && b[1] == 0x64 && b[2] == 0xff && b[3] == 0x9b;
        if ((nat64 && b.AsSpan(4, 8).IndexOfAnyExcept((byte)0) < 0) || b.AsSpan(0, 12).IndexOfAnyExcept((byte)0) < 0)
        {
            return ClassifyV4(b.AsSpan(12));
        }

        if (nat64 && b[4] == 0x00 && b[5] == 0x01)
        {
            return ClassifyLocalUseNat64(b);
        }

        if (b[0] == 0x20 && b[1] == 0x02)
        {
            return ClassifyV4(b.AsSpan(2, 4));
        }

        if (b[0] == 0x20 && b[1] == 0x01 && b[2] == 0x00 && b[3] == 0x00)
        {
            return AddressClass.Forbidden; // Teredo 2001::/32: a tunnel to an address hidden in the bits, never an API's home
        }

        if (b[0] == 0xff || (b[0] == 0xfe && (b[1] & 0xc0) == 0x80))
        {
            return AddressClass.Forbidden; // multicast ff00::/8, link-local fe80::/10
        }

        if ((b[0] & 0xfe) == 0xfc || (b[0] == 0xfe && (b[1] & 0xc0) == 0xc0))
        {
            // fc00::/7 unique-local (fd00:ec2::254, the AWS metadata address, is in it and is refused) and fec0::/10 site-local.
            return IsAwsMetadataV6(b) ? AddressClass.Forbidden : AddressClass.Private;
        }

        return AddressClass.Public;
    }

    /// <summary>
    /// A URL's host, by literal only (no DNS): an IP literal by <see cref="Classify(IPAddress)"/>; a metadata host name is
    /// forbidden; <c>localhost</c> and intranet-style names (no dot, <c>.local</c>, <c>.internal</c>, <c>.lan</c>,
    /// <c>.home.arpa</c>, <c>.localhost</c>) are private; any other name is public (the proxy checks what it resolves to).
    /// </summary>
    public static AddressClass Classify(Uri uri)
    {
        ArgumentNullException.ThrowIfNull(uri);
        if (uri.HostNameType is UriHostNameType.IPv4 or UriHostNameType.IPv6 && IPAddress.TryParse(uri.IdnHost.Trim('[', ']'), out var literal))
        {
            return Classify(literal);
        }

        var host = uri.IdnHost.TrimEnd('.');
        if (MetadataHosts.Contains(host))
        {
            return AddressClass.Forbidden;
        }

        return host.Equals("localhost", StringComparison.OrdinalIgnoreCase)
            || !host.Contains('.', StringComparison.Ordinal)
            || host.EndsWith(".localhost", StringComparison.OrdinalIgnoreCase)
            || host.EndsWith(".local", StringComparison.OrdinalIgnoreCase)
            || host.EndsWith(".internal", StringComparison.OrdinalIgnoreCase)
            || host.EndsWith(".lan", StringComparison.OrdinalIgnoreCase)
            || host.EndsWith(".home.arpa", StringComparison.OrdinalIgnoreCase)
            ? AddressClass.Private
            : AddressClass.Public;
    }

    /// <summary>
    /// 64:ff9b:1::/48 (local-use NAT64, RFC 8215): the operator's translator may use any prefix inside it, /48, /56, /64 or
    /// /96, and each puts the IPv4 address in other bytes (RFC 6052 §2.2; byte 8 is always skipped). Which one a network
    /// uses cannot be known here, so every reading is judged and the strictest wins: an address that is public under one
    /// reading but metadata under another is refused.
    /// </summary>
    private static AddressClass ClassifyLocalUseNat64(byte[] b)
    {
        ReadOnlySpan<byte> v48 = [b[6], b[7], b[9], b[10]];
        ReadOnlySpan<byte> v56 = [b[7], b[9], b[10], b[11]];
        var strictest = ClassifyV4(b.AsSpan(12)); // /96
        foreach (var reading in (ReadOnlySpan<AddressClass>)[ClassifyV4(b.AsSpan(9, 4)), ClassifyV4(v56), ClassifyV4(v48)])
        {
            strictest = reading > strictest ? reading : strictest;
        }

        return strictest;
    }

    private static bool IsAwsMetadataV6(byte[] b) =>
        b[0] == 0xfd && b[1] == 0x00 && b[2] == 0x0e && b[3] == 0xc2 && b.AsSpan(4, 10).IndexOfAnyExcept((byte)0) < 0 && b[14] == 0x02 && b[15] == 0x54;

    private static AddressClass ClassifyV4(ReadOnlySpan<byte> b) => (b[0], b[1]) switch
    {
        (0, _) => AddressClass.Forbidden,                                   // "this network" 0.0.0.0/8
        (169, 254) => AddressClass.Forbidden,                               // link-local, 169.254.169.254 metadata
        (>= 224, _) => AddressClass.Forbidden,                              // multicast, reserved, broadcast
        (100, 100) when b[2] == 100 && b[3] == 200 => AddressClass.Forbidden, // Alibaba Cloud metadata (inside CGNAT)
        (168, 63) when b[2] == 129 && b[3] == 16 => AddressClass.Forbidden, // Azure WireServer (platform agent, DNS, metadata)
        (127, _) or (10, _) => AddressClass.Private,                        // loopback, RFC 1918
        (172, >= 16 and <= 31) or (192, 168) => AddressClass.Private,       // RFC 1918
        (100, >= 64 and <= 127) => AddressClass.Private,                    // CGNAT 100.64.0.0/10
        (198, 18 or 19) => AddressClass.Private,                            // benchmarking
        (192, 0) when b[2] == 0 => AddressClass.Private,                    // IETF protocol assignments
        _ => AddressClass.Public,
    };
}
