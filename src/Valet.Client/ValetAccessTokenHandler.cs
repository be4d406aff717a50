using System.Net;
using System.Net.Http.Headers;

namespace Valet.Client;

/// <summary>
/// Puts a Valet access token on every request of an application's own <see cref="HttpClient"/> for a provider
/// (<c>services.AddHttpClient("github").AddValetAccessToken(provider: "github")</c>). Tokens are cached until shortly
/// before they expire (<see cref="ValetTokenCache"/>). On a 401 from the upstream the handler asks Valet again once,
/// bypassing the cache, and — if Valet gives a different token — sends the request once more (its content is buffered
/// first so that it can be sent twice). When Valet needs a person, the typed exceptions of <see cref="ValetClient"/>
/// come out of <see cref="HttpClient.SendAsync(HttpRequestMessage, CancellationToken)"/>.
/// </summary>
public sealed class ValetAccessTokenHandler : DelegatingHandler
{
    private readonly ValetClient _client;
    private readonly ValetTokenCache _cache;
    private readonly ValetTokenSource _source;

    /// <summary>Creates the handler; <c>AddValetAccessToken</c> does this for you.</summary>
    public ValetAccessTokenHandler(ValetClient client, ValetTokenCache cache, ValetTokenSource source)
    {
        ArgumentNullException.ThrowIfNull(client);
        ArgumentNullException.ThrowIfNull(cache);
        ArgumentNullException.ThrowIfNull(source);
        _client = client;
        _cache = cache;
        _source = source;
    }

    /// <inheritdoc/>
    protected override async Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(request);
        if (request.Content is not null)
        {
            // Read once into memory so the retry can send the same bytes (a stream can be read only once).
            await ValetClient.BufferAsync(request.Content, cancellationToken).ConfigureAwait(false);
        }

        var token = await _cache.GetAsync(_client, _source, rejected: null, cancellationToken).ConfigureAwait(false);
        request.Headers.Authorization = new AuthenticationHeaderValue(token.Scheme, token.AccessToken);
        var response = await base.SendAsync(request, cancellationToken).ConfigureAwait(false);
        if (response.StatusCode != HttpStatusCode.Unauthorized)
        {
            return response;
        }

        var renewed = await _cache.GetAsync(_client, _source, rejected: token.AccessToken, cancellationToken).ConfigureAwait(false);
        if (string.Equals(renewed.AccessToken, token.AccessToken, StringComparison.Ordinal))
        {
            return response; // Valet has nothing newer: sending the same token again would only repeat the 401
        }

        response.Dispose();
        request.Headers.Authorization = new AuthenticationHeaderValue(renewed.Scheme, renewed.AccessToken);
        return await base.SendAsync(request, cancellationToken).ConfigureAwait(false);
    }
}
