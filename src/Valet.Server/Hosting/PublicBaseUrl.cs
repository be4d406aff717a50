using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;

namespace Valet.Server.Hosting;

/// <summary>
/// The one base of every absolute URL Valet hands out (connect links, the gateway callback): <c>VALET_PUBLIC_URL</c>,
/// else this server's own first listening address (a wildcard bind read as 127.0.0.1). Never a request's <c>Host</c>
/// header: a forged host would otherwise turn Valet's own links into someone else's. Hosted mode requires the public URL.
/// </summary>
internal sealed class PublicBaseUrl(ValetSettings settings, IServer server)
{
    /// <summary>The base without a trailing slash, e.g. <c>https://valet.example.com</c>.</summary>
    public string Value
    {
        get
        {
            if (settings.PublicUrl is { } configured)
            {
                return configured.TrimEnd('/');
            }

            var address = server.Features.Get<IServerAddressesFeature>()?.Addresses.FirstOrDefault() ?? ValetSettings.DefaultUrl;
            return address.Replace("://0.0.0.0", "://127.0.0.1", StringComparison.Ordinal)
                .Replace("://[::]", "://127.0.0.1", StringComparison.Ordinal)
                .Replace("://+", "://127.0.0.1", StringComparison.Ordinal)
                .Replace("://*", "://127.0.0.1", StringComparison.Ordinal)
                .TrimEnd('/');
        }
    }

    /// <summary><paramref name="pathAndQuery"/> (starting with <c>/</c>) under the base.</summary>
    public string For(string pathAndQuery) => Value + pathAndQuery;
}
