using System.Net;
using System.Net.Http.Headers;

namespace Valet.Client;

/// <summary>
/// Puts a Valet access token on the requests of an application's own <see cref="HttpClient"/> for a provider
/// (<c>services.AddHttpClient("github", c => c.BaseAddress = …).AddValetAccessToken(provider: "github")</c>) — only on
/// requests to its authorized URLs (by default the client's <see cref="HttpClient.BaseAddress"/>): a request to any other
/// URL goes out untouched, without the token and without the 401 retry. Tokens are cached until shortly before they
/// expire (<see cref="ValetTokenCache"/>). On a 401 from the upstream the handler asks Valet again once, bypassing the
/// cache, and — if Valet gives a different token — sends the request once more (its content is buffered first so that
/// it can be sent twice). When Valet needs a person, the typed exceptions of <see cref="ValetClient"/> come out of
/// <see cref="HttpClient.SendAsync(HttpRequestMessage, CancellationToken)"/>. A static API key (token type
/// <c>api_key</c>) cannot be sent this way: use <see cref="ValetClient.SendAsync"/>.
/// </summary>
public sealed class ValetAccessTokenHandler : DelegatingHandler
{
    /// <summary>The token type Valet reveals a static API key with (SPEC §13).</summary>
    private const string ApiKeyTokenType = "api_key";

    private readonly ValetClient _client;
    private readonly ValetTokenCache _cache;
    private readonly ValetTokenSource _source;
    private readonly Uri[] _authorizedUrls;

    /// <summary>Creates the handler; <c>AddValetAccessToken</c> does this for you.</summary>
    /// <param name="client">The Valet client tokens are asked with.</param>
    /// <param name="cache">Where tokens are kept between requests.</param>
    /// <param name="source">Which connection's tokens.</param>
    /// <param name="authorizedUrls">
    /// Absolute URLs the token may be sent to: a request gets it when one of them <see cref="Uri.IsBaseOf"/> its URI.
    /// Required, at least one.
    /// </param>
    public ValetAccessTokenHandler(ValetClient client, ValetTokenCache cache, ValetTokenSource source, IEnumerable<Uri> authorizedUrls)
    {
        ArgumentNullException.ThrowIfNull(client);
        ArgumentNullException.ThrowIfNull(cache);
        ArgumentNullException.ThrowIfNull(source);
        ArgumentNullException.ThrowIfNull(authorizedUrls);
        _client = client;
        _cache = cache;
        _source = source;
        _authorizedUrls = [.. authorizedUrls];
        if (_authorizedUrls.Length == 0 || _authorizedUrls.Any(u => u is not { IsAbsoluteUri: true }))
        {
            throw new ArgumentException("Name at least one absolute URL the token may be sent to.", nameof(authorizedUrls));
        }
    }

    /// <inheritdoc/>
    protected override async Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(request);
        if (!IsAuthorized(request.RequestUri))
        {
            return await base.SendAsync(request, cancellationToken).ConfigureAwait(false);
        }

        if (request.Content is not null)
        {
            // Read once into memory so the retry can send the same bytes (a stream can be read only once).
            await ValetClient.BufferAsync(request.Content, cancellationToken).ConfigureAwait(false);
        }

        var token = await _cache.GetAsync(_client, _source, rejected: null, cancellationToken).ConfigureAwait(false);
        var sentTo = request.RequestUri;
        request.Headers.Authorization = HeaderOf(token);
        var response = await base.SendAsync(request, cancellationToken).ConfigureAwait(false);

        // A handler below that followed a redirect has moved the request to wherever it pointed (and dropped the header
        // there). The 401 is then that host's, and a retry would send the fresh token to it: only retry where it was sent.
        if (response.StatusCode != HttpStatusCode.Unauthorized || request.RequestUri != sentTo || !IsAuthorized(request.RequestUri))
        {
            return response;
        }

        ValetAccessToken renewed;
        try
        {
            renewed = await _cache.GetAsync(_client, _source, rejected: token.AccessToken, cancellationToken).ConfigureAwait(false);
        }
        catch
        {
            response.Dispose(); // the caller gets the exception, never this response
            throw;
        }

        if (string.Equals(renewed.AccessToken, token.AccessToken, StringComparison.Ordinal))
        {
            return response; // Valet has nothing newer: sending the same token again would only repeat the 401
        }

        response.Dispose();
        request.Headers.Authorization = HeaderOf(renewed);
        return await base.SendAsync(request, cancellationToken).ConfigureAwait(false);
    }

    /// <summary>
    /// As ASP.NET Core's <c>AuthorizationMessageHandler</c> (Blazor WebAssembly, <c>ConfigureHandler(authorizedUrls: …)</c>)
    /// decides: a request is authorized when one of the URLs <see cref="Uri.IsBaseOf"/> its URI.
    /// </summary>
    private bool IsAuthorized(Uri? requestUri) =>
        requestUri is { IsAbsoluteUri: true } && _authorizedUrls.Any(url => url.IsBaseOf(requestUri));

    private AuthenticationHeaderValue HeaderOf(ValetAccessToken token)
    {
        // Valet reveals a static API key as token_type api_key (SPEC §13); "Authorization: api_key …" is nothing a provider
        // takes. (Basic credentials come ready to send as token_type Basic, and work here.)
        if (string.Equals(token.TokenType, ApiKeyTokenType, StringComparison.OrdinalIgnoreCase))
        {
            var which = _source.Provider is { } provider ? "The connection of provider " + provider : "Connection " + _source.ConnectionId;
            throw new InvalidOperationException(
                $"{which} holds a static API key (token type api_key). Such a key goes where the provider's template says " +
                "(a header such as x-api-key, or a query parameter), which only Valet's proxy applies: call ValetClient.SendAsync instead " +
                "of putting this handler on your HttpClient.");
        }

        return new AuthenticationHeaderValue(token.Scheme, token.AccessToken);
    }
}
