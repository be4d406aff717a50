using System.Net;

namespace Valet.Core.OAuth;

/// <summary>
/// The one definition of how Valet reaches OAuth endpoints (token, refresh, revocation, user-info, discovery). A
/// redirect is never followed: a token endpoint that answers <c>307 Location: elsewhere</c> would otherwise receive the
/// code, the PKCE verifier, the refresh token and the client secret again at a host nobody configured. Used by
/// <c>AddValetOAuthClient()</c> and, before the container exists, by boot-time discovery.
/// </summary>
public static class OAuthHttp
{
    /// <summary>The named <see cref="HttpClient"/> registered by <c>AddValetOAuthClient()</c>.</summary>
    public const string ClientName = "Valet.OAuth";

    /// <summary>Whole-request limit per call; the refresh coordinator applies its own, usually shorter, one on top.</summary>
    public static readonly TimeSpan Timeout = TimeSpan.FromSeconds(30);

    public static readonly TimeSpan ConnectTimeout = TimeSpan.FromSeconds(10);

    /// <summary>How long one handler (and its pooled connections) is used before <c>IHttpClientFactory</c> rotates it.</summary>
    public static readonly TimeSpan HandlerLifetime = TimeSpan.FromMinutes(5);

    public static SocketsHttpHandler CreateHandler() => new()
    {
        AllowAutoRedirect = false,
        // Provider cookies have no business in a token call, and a shared container would carry them across providers.
        UseCookies = false,
        AutomaticDecompression = DecompressionMethods.None,
        ConnectTimeout = ConnectTimeout,
        PooledConnectionLifetime = HandlerLifetime,
    };

    /// <summary>A standalone client with the same handler and timeout, for callers that run before the container exists.</summary>
    public static HttpClient CreateStandaloneClient() => new(CreateHandler(), disposeHandler: true) { Timeout = Timeout };

    /// <summary>
    /// True when the answer is a redirect, or came from somewhere else than <paramref name="endpoint"/> (a handler that
    /// follows redirects slipped in): either way the answer is not the configured endpoint's and must not be used.
    /// </summary>
    public static bool IsRedirect(HttpResponseMessage response, Uri endpoint)
    {
        ArgumentNullException.ThrowIfNull(response);
        return (int)response.StatusCode is >= 300 and < 400
            || (response.RequestMessage?.RequestUri is { } answered && answered != endpoint);
    }
}
