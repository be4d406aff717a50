using System.Net;
using System.Net.Sockets;

namespace Valet.Core.Providers;

/// <summary>Classifies a URL's host by literal (no DNS): loopback, private/intranet, link-local (metadata).</summary>
internal static class NetworkHosts
{
    public static bool IsLoopback(Uri uri) =>
        uri.IsLoopback
        || uri.IdnHost.EndsWith(".localhost", StringComparison.OrdinalIgnoreCase)
        || (TryGetAddress(uri, out var ip) && IPAddress.IsLoopback(ip));

    /// <summary>169.254.0.0/16 and fe80::/10: cloud metadata services live there; never a provider.</summary>
    public static bool IsLinkLocal(Uri uri)
    {
        if (!TryGetAddress(uri, out var ip))
        {
            return false;
        }

        if (ip.AddressFamily == AddressFamily.InterNetwork)
        {
            var b = ip.GetAddressBytes();
            return b[0] == 169 && b[1] == 254;
        }

        return ip.IsIPv6LinkLocal;
    }

    /// <summary>Loopback, RFC 1918, CGNAT, unique-local, unspecified, or an intranet-style host name.</summary>
    public static bool IsPrivateOrLoopback(Uri uri)
    {
        if (IsLoopback(uri) || IsLinkLocal(uri))
        {
            return true;
        }

        if (TryGetAddress(uri, out var ip))
        {
            if (ip.AddressFamily == AddressFamily.InterNetwork)
            {
                var b = ip.GetAddressBytes();
                return b[0] == 10 || b[0] == 0
                    || (b[0] == 172 && b[1] >= 16 && b[1] <= 31)
                    || (b[0] == 192 && b[1] == 168)
                    || (b[0] == 100 && b[1] >= 64 && b[1] <= 127);
            }

            var v6 = ip.GetAddressBytes();
            return ip.Equals(IPAddress.IPv6Any) || (v6[0] & 0xFE) == 0xFC || ip.IsIPv6SiteLocal;
        }

        var host = uri.IdnHost;
        return !host.Contains('.', StringComparison.Ordinal)
            || host.EndsWith(".local", StringComparison.OrdinalIgnoreCase)
            || host.EndsWith(".internal", StringComparison.OrdinalIgnoreCase)
            || host.EndsWith(".lan", StringComparison.OrdinalIgnoreCase)
            || host.EndsWith(".home.arpa", StringComparison.OrdinalIgnoreCase);
    }

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
