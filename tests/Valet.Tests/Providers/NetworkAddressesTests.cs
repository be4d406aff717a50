using System.Net;
using Valet.Core.Providers;

namespace Valet.Tests.Providers;

/// <summary>The one private-address classifier: the provider validator (URLs) and the proxy (resolved addresses) both use it.</summary>
public sealed class NetworkAddressesTests
{
    [Theory]
    [InlineData("127.0.0.1", AddressClass.Private)]           // loopback
    [InlineData("127.255.255.254", AddressClass.Private)]
    [InlineData("10.0.0.1", AddressClass.Private)]            // RFC 1918
    [InlineData("172.16.0.1", AddressClass.Private)]
    [InlineData("172.31.255.255", AddressClass.Private)]
    [InlineData("172.15.255.255", AddressClass.Public)]
    [InlineData("172.32.0.1", AddressClass.Public)]
    [InlineData("192.168.0.1", AddressClass.Private)]
    [InlineData("100.64.0.1", AddressClass.Private)]          // CGNAT 100.64/10
    [InlineData("100.127.255.255", AddressClass.Private)]
    [InlineData("100.63.255.255", AddressClass.Public)]
    [InlineData("100.128.0.1", AddressClass.Public)]
    [InlineData("100.100.100.200", AddressClass.Forbidden)]   // Alibaba Cloud metadata, inside CGNAT
    [InlineData("169.254.169.254", AddressClass.Forbidden)]   // link-local, AWS/GCP/Azure metadata
    [InlineData("169.254.0.1", AddressClass.Forbidden)]
    [InlineData("0.0.0.0", AddressClass.Forbidden)]           // 0.0.0.0/8
    [InlineData("0.1.2.3", AddressClass.Forbidden)]
    [InlineData("224.0.0.1", AddressClass.Forbidden)]         // multicast
    [InlineData("239.255.255.250", AddressClass.Forbidden)]
    [InlineData("255.255.255.255", AddressClass.Forbidden)]   // broadcast
    [InlineData("198.18.0.1", AddressClass.Private)]          // benchmarking
    [InlineData("8.8.8.8", AddressClass.Public)]
    [InlineData("140.82.112.3", AddressClass.Public)]
    [InlineData("::1", AddressClass.Private)]                 // IPv6 loopback
    [InlineData("::", AddressClass.Forbidden)]                // unspecified
    [InlineData("fe80::1", AddressClass.Forbidden)]           // link-local fe80::/10
    [InlineData("febf::1", AddressClass.Forbidden)]
    [InlineData("fc00::1", AddressClass.Private)]             // unique-local fc00::/7
    [InlineData("fdff:ffff::1", AddressClass.Private)]
    [InlineData("fd00:ec2::254", AddressClass.Forbidden)]     // AWS metadata over IPv6
    [InlineData("fec0::1", AddressClass.Private)]             // site-local (deprecated)
    [InlineData("ff02::1", AddressClass.Forbidden)]           // multicast
    [InlineData("::ffff:127.0.0.1", AddressClass.Private)]    // IPv4-mapped
    [InlineData("::ffff:10.0.0.1", AddressClass.Private)]
    [InlineData("::ffff:169.254.169.254", AddressClass.Forbidden)]
    [InlineData("::ffff:8.8.8.8", AddressClass.Public)]
    [InlineData("::127.0.0.1", AddressClass.Private)]         // IPv4-compatible
    [InlineData("64:ff9b::a9fe:a9fe", AddressClass.Forbidden)] // NAT64 of 169.254.169.254
    [InlineData("64:ff9b::808:808", AddressClass.Public)]
    [InlineData("64:ff9b:1::a9fe:a9fe", AddressClass.Forbidden)] // local-use NAT64 (RFC 8215) of 169.254.169.254
    [InlineData("64:ff9b:1::a00:1", AddressClass.Forbidden)]     // … of 10.0.0.1 as /96, but of 0.0.0.0 as /48
    [InlineData("64:ff9b:1:a0a:a:0:a00:1", AddressClass.Private)] // 10.x.x.x under every reading (/96 10.0.0.1, /48 10.10.10.0)
    [InlineData("64:ff9b:1:a9fe:a9:fe00:808:808", AddressClass.Forbidden)] // 8.8.8.8 as /96, 169.254.169.254 as /48
    [InlineData("64:ff9b:1:a:0:1:808:808", AddressClass.Forbidden)] // 8.8.8.8 as /96, 10.0.0.1 as /56, 0.10.0.0 as /48
    [InlineData("64:ff9b:1:808:8:800:808:808", AddressClass.Public)] // 8.8.8.8 as /96 and /48, 8.8.8.0 as /56, 8.8.0.8 as /64
    [InlineData("2002:a9fe:a9fe::", AddressClass.Forbidden)]     // 6to4 of 169.254.169.254
    [InlineData("2002:7f00:1::1", AddressClass.Private)]         // 6to4 of 127.0.0.1
    [InlineData("2002:808:808::1", AddressClass.Public)]         // 6to4 of 8.8.8.8
    [InlineData("2001:0:4136:e378:8000:63bf:3fff:fdd2", AddressClass.Forbidden)] // Teredo
    [InlineData("168.63.129.16", AddressClass.Forbidden)]        // Azure WireServer
    [InlineData("168.63.129.17", AddressClass.Public)]
    [InlineData("2606:4700:4700::1111", AddressClass.Public)]
    public void Address_IsClassified(string address, AddressClass expected) =>
        Assert.Equal(expected, NetworkAddresses.Classify(IPAddress.Parse(address)));

    [Theory]
    [InlineData("https://api.github.com/", AddressClass.Public)]
    [InlineData("https://93.184.215.14/", AddressClass.Public)]
    [InlineData("http://localhost:8080/", AddressClass.Private)]
    [InlineData("http://app.localhost/", AddressClass.Private)]
    [InlineData("http://127.0.0.1/", AddressClass.Private)]
    [InlineData("http://[::1]/", AddressClass.Private)]
    [InlineData("https://10.1.2.3/", AddressClass.Private)]
    [InlineData("https://[fd12:3456::1]/", AddressClass.Private)]
    [InlineData("https://[::ffff:192.168.1.1]/", AddressClass.Private)]
    [InlineData("https://intranet/", AddressClass.Private)]
    [InlineData("https://idp.corp.internal/", AddressClass.Private)]
    [InlineData("https://printer.local/", AddressClass.Private)]
    [InlineData("https://nas.home.arpa/", AddressClass.Private)]
    [InlineData("http://169.254.169.254/latest/meta-data/", AddressClass.Forbidden)]
    [InlineData("http://[fe80::1]/", AddressClass.Forbidden)]
    [InlineData("http://[fd00:ec2::254]/", AddressClass.Forbidden)]
    [InlineData("http://metadata.google.internal/", AddressClass.Forbidden)]
    [InlineData("http://metadata/", AddressClass.Forbidden)]
    [InlineData("http://0.0.0.0/", AddressClass.Forbidden)]
    [InlineData("http://224.0.0.1/", AddressClass.Forbidden)]
    public void UrlHost_IsClassifiedByLiteral(string url, AddressClass expected) =>
        Assert.Equal(expected, NetworkAddresses.Classify(new Uri(url)));
}
