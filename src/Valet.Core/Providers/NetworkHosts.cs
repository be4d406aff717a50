using System.Net;
using System.Net.Sockets;

namespace Valet.Core.Providers;

/// <summary>URL helpers for provider settings. Which hosts are private or never allowed: <see cref="NetworkAddresses"/>.</summary>
internal static class NetworkHosts
{
    public static bool IsLoopback(Uri uri) =>
        uri.IsLoopback
        || uri.IdnHost.EndsWith(".localhost", StringComparison.OrdinalIgnoreCase)
        || (TryGetAddress(uri, out var ip) && IPAddress.IsLoopback(ip));

    private static bool TryGetAddress(Uri uri, out IPAddress address)
    {
        address = IPAddress.None;
        if (uri.HostNameType is not (UriHostNameType.IPv4 or UriHostNameType.IPv6)
            || !IPAddress.TryParse(uri.IdnHost.Trim('[', ']'), out var parsed))
        {
            return false;
        }

        address = parsed.IsIPv4MappedToIPv6 ? parsed.MapToIPv4() : parsed;
        return true;
    }

    /// <summary>An absolute http(s) URL (on Unix, "/x" parses as an absolute file URI: this refuses it).</summary>
    public static bool TryParseHttpUrl(string? raw, out Uri uri)
    {
        if (Uri.TryCreate(raw, UriKind.Absolute, out var parsed)
            && (parsed.Scheme == Uri.UriSchemeHttps || parsed.Scheme == Uri.UriSchemeHttp))
        {
            uri = parsed;
            return true;
        }

        uri = null!;
        return false;
    }

    /// <summary>A URL for messages: scheme, host, port and path only (never user-info or query).</summary>
    public static string Describe(Uri uri) =>
        uri.IsAbsoluteUri ? $"{uri.Scheme}://{uri.Authority}{uri.AbsolutePath}" : "(relative URL)";
}
