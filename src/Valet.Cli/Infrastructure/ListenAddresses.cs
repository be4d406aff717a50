using System.Net;
using Valet.Server.Hosting;

namespace Valet.Cli.Infrastructure;

/// <summary>
/// Checks listening addresses before the host starts. Kestrel reports <c>notaurl</c> as a FormatException after logging a
/// stack trace, and reads <c>http://127.0.0.1:notaport</c> as the host name "127.0.0.1:notaport" on port 80 — which it
/// binds on every interface. Here each is one usage line.
/// </summary>
internal static class ListenAddresses
{
    /// <summary>The problem with <paramref name="urls"/> (';'-separated, as Kestrel takes them), or null when all are usable.</summary>
    public static string? Problem(string urls, string source)
    {
        var entries = urls.Split(';', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
        if (entries.Length == 0)
        {
            return $"{source} is empty: give an address such as {ValetSettings.DefaultUrl}.";
        }

        var bad = entries.FirstOrDefault(e => !IsListenAddress(e));
        return bad is null
            ? null
            : $"{source} '{bad}' is not a listening address: http:// or https://, a host or IP address, an optional port, no path " +
              $"(e.g. {ValetSettings.DefaultUrl}).";
    }

    private static bool IsListenAddress(string entry)
    {
        var separator = entry.IndexOf("://", StringComparison.Ordinal);
        var scheme = separator > 0 ? entry[..separator].ToLowerInvariant() : string.Empty;
        if (scheme is not ("http" or "https"))
        {
            return false;
        }

        var rest = entry[(separator + 3)..];
        if (rest.StartsWith("unix:", StringComparison.OrdinalIgnoreCase))
        {
            return rest.Length > "unix:".Length; // a Unix socket path: Kestrel's to check
        }

        // Kestrel's wildcard hosts (http://*:8080, http://+:8080) are not URI hosts; any valid host stands in for them.
        if (rest.StartsWith('*') || rest.StartsWith('+'))
        {
            rest = "0.0.0.0" + rest[1..];
        }

        return Uri.TryCreate($"{scheme}://{rest}", UriKind.Absolute, out var uri) && uri.Host.Length > 0 && uri.AbsolutePath == "/" &&
            uri.Query.Length == 0 && uri.Fragment.Length == 0 && uri.UserInfo.Length == 0;
    }

    /// <summary>
    /// The first of <paramref name="urls"/> whose TCP address another process already listens on, or null. Only addresses
    /// that name an IP (or localhost, or a wildcard) and a port are checked; anything else is left to Kestrel.
    /// </summary>
    public static string? InUse(string urls)
    {
        foreach (var entry in urls.Split(';', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
        {
            var separator = entry.IndexOf("://", StringComparison.Ordinal);
            var hostAndPort = (separator > 0 ? entry[(separator + 3)..] : entry).TrimEnd('/');
            var colon = hostAndPort.LastIndexOf(':');
            if (colon < 0 || hostAndPort.EndsWith(']') || !int.TryParse(hostAndPort[(colon + 1)..], out var port) || port is <= 0 or > 65535)
            {
                continue; // no explicit port (Kestrel's default), port 0 (any free one), or not an address: Kestrel's to judge
            }

            var host = hostAndPort[..colon].Trim('[', ']');
            IPAddress[] addresses = host switch
            {
                "*" or "+" => [IPAddress.Any],
                _ when host.Equals("localhost", StringComparison.OrdinalIgnoreCase) => [IPAddress.Loopback],
                _ when IPAddress.TryParse(host, out var address) => [address],
                _ => [],
            };
            if (addresses.Any(address => Taken(new IPEndPoint(address, port))))
            {
                return entry;
            }
        }

        return null;
    }

    private static bool Taken(IPEndPoint endpoint)
    {
        using var socket = new System.Net.Sockets.Socket(endpoint.AddressFamily, System.Net.Sockets.SocketType.Stream, System.Net.Sockets.ProtocolType.Tcp);
        try
        {
            socket.Bind(endpoint);
            return false;
        }
        catch (System.Net.Sockets.SocketException error) when (error.SocketErrorCode == System.Net.Sockets.SocketError.AddressAlreadyInUse)
        {
            return true;
        }
        catch (System.Net.Sockets.SocketException)
        {
            return false; // not ours to judge (no such address here, permission…): Kestrel says what is wrong
        }
    }
}
