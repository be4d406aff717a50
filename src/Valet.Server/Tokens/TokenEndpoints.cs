using System.Text.Json;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Http.Features;
using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.AspNetCore.Routing;
using Valet.Core.Access;
using Valet.Core.Domain;
using Valet.Server.Connections;
using Valet.Server.Http;

namespace Valet.Server.Tokens;

/// <summary>Optional body of the token routes.</summary>
/// <param name="Scopes">Scopes the call needs; any the grant lacks give the <c>missing_scopes</c> envelope.</param>
internal sealed record TokenRequest(string[]? Scopes);

/// <summary>A usable access token. Refresh tokens never leave Valet.</summary>
internal sealed record TokenResponse(string AccessToken, string TokenType, DateTimeOffset? ExpiresAt, IReadOnlyList<string>? Scopes, string ConnectionId);

/// <summary>
/// Agent routes: a fresh access token by connection or by provider. Thin mappers of <see cref="AgentAccess"/>'s outcome:
/// the rules (permission, default connection, envelopes, refresh) live in Core.
/// </summary>
internal static class TokenEndpoints
{
    public static RouteGroupBuilder MapTokens(this IEndpointRouteBuilder routes)
    {
        var group = routes.MapGroup("/v1").RequireAuthorization().WithTags(AgentOpenApi.Tag);
        group.MapPost("/connections/{id}/token", ByConnectionAsync)
            .WithName("GetTokenByConnection")
            .WithSummary("A fresh access token for a connection")
            .WithDescription("Refreshes first when the stored token expires within the skew window. Optional body {\"scopes\": [...]}: " +
                "scopes the grant lacks give the missing_scopes envelope (409); a dead grant gives reauth_required. " +
                "For API keys holding the connection (or its provider), and the local service principal.")
            .DocumentTokenRoute()
            .ProducesProblemCodes(StatusCodes.Status404NotFound, "connection_not_found")
            .ProducesProblemCodes(StatusCodes.Status409Conflict, EnvelopeCodes.ReauthRequired, EnvelopeCodes.MissingScopes);
        group.MapPost("/providers/{provider}/token", ByProviderAsync)
            .WithName("GetTokenByProvider")
            .WithSummary("A fresh access token by provider")
            .WithDescription("Uses the one connection of the provider this key may use; with several, the org's default connection for the " +
                "provider (PUT /v1/orgs/{org}/defaults/{provider}) when the key may use it — its envelope if it must be reconnected or lacks " +
                "the scopes, never another account — else the one that is active and has the requested scopes, else 409 ambiguous_connection " +
                "listing them. No connection yet: the needs_authentication envelope (409). API keys only.")
            .DocumentTokenRoute()
            .ProducesProblemCodes(StatusCodes.Status404NotFound, "unknown_provider", "connection_not_found")
            .ProducesProblemCodes(StatusCodes.Status409Conflict, EnvelopeCodes.NeedsAuthentication, EnvelopeCodes.ReauthRequired,
                EnvelopeCodes.MissingScopes, "ambiguous_connection")
            .ProducesProblemMember<IReadOnlyList<ConnectionSummary>>("ambiguous_connection", "connections",
                "The connections that could serve: set the org's default for the provider, or call by connection.");
        return group;
    }

    /// <summary>
    /// What both token routes can answer besides their 404 and 409 (401, 403 <c>forbidden</c>, 429 and 503 come with every
    /// agent route, 400/413/415 with the optional body): 403 <c>proxy_only</c> for a static secret, 422 for bad
    /// <c>scopes</c>, 502/504 when the provider fails a refresh.
    /// </summary>
    private static RouteHandlerBuilder DocumentTokenRoute(this RouteHandlerBuilder builder) => builder
        .Accepts<TokenRequest>(isOptional: true, "application/json")
        .ProducesProblemCodes(StatusCodes.Status403Forbidden, "forbidden", "proxy_only")
        .ProducesProblemCodes(StatusCodes.Status422UnprocessableEntity, "validation_failed")
        .ProducesProblemCodes(StatusCodes.Status502BadGateway, "provider_unavailable")
        .ProducesProblemCodes(StatusCodes.Status504GatewayTimeout, "provider_unavailable");

    internal static async Task<Results<Ok<TokenResponse>, JsonHttpResult<AuthEnvelope>, ProblemResult>> ByConnectionAsync(
        string id, HttpContext context, AgentAccess access, Envelopes envelopes, CancellationToken cancellationToken)
    {
        if (AgentCallers.From(context) is not { } caller)
        {
            return Problems.Forbidden("Token routes are for API keys (and the local service principal).");
        }

        var (scopes, problem) = await ReadScopesAsync(context.Request, cancellationToken);
        if (problem is not null)
        {
            return problem;
        }

        return await ToResultAsync(await access.TokenAsync(caller, id, scopes, cancellationToken), context.Response, envelopes, cancellationToken);
    }

    internal static async Task<Results<Ok<TokenResponse>, JsonHttpResult<AuthEnvelope>, ProblemResult>> ByProviderAsync(
        string provider, HttpContext context, AgentAccess access, Envelopes envelopes, CancellationToken cancellationToken)
    {
        if (AgentCallers.From(context) is not { Key: not null } caller)
        {
            return Problems.Forbidden("Token routes by provider are for API keys.");
        }

        var (scopes, problem) = await ReadScopesAsync(context.Request, cancellationToken);
        if (problem is not null)
        {
            return problem;
        }

        return await ToResultAsync(await access.TokenForProviderAsync(caller, provider, scopes, cancellationToken), context.Response, envelopes,
            cancellationToken);
    }

    private static async ValueTask<Results<Ok<TokenResponse>, JsonHttpResult<AuthEnvelope>, ProblemResult>> ToResultAsync(
        AccessOutcome outcome, HttpResponse response, Envelopes envelopes, CancellationToken cancellationToken) => outcome switch
    {
        AccessOutcome.Token token => TypedResults.Ok(new TokenResponse(token.AccessToken.Reveal(), token.TokenType, token.ExpiresAt, token.Scopes,
            token.Connection.Id)),
        AccessOutcome.Envelope envelope => await envelopes.ResultAsync(envelope, cancellationToken),
        _ => Problem(outcome, response),
    };

    /// <summary>The problem for an outcome that is neither a token nor an envelope (shared with the proxy).</summary>
    public static ProblemResult Problem(AccessOutcome outcome, HttpResponse response) => outcome switch
    {
        AccessOutcome.Forbidden forbidden => Problems.Forbidden(forbidden.Detail),
        AccessOutcome.ProxyOnly => Problems.Create(StatusCodes.Status403Forbidden, "proxy_only", "Proxy only",
            "This connection holds a static secret, which is used through the proxy (/v1/proxy/{id}/…); the token route reveals it " +
            "only to a key whose permission says \"reveal\": true."),
        AccessOutcome.NotFound notFound => Problems.NotFound(notFound.Code, notFound.Detail),
        AccessOutcome.Ambiguous ambiguous => Problems.Create(StatusCodes.Status409Conflict, "ambiguous_connection", "Ambiguous connection",
            $"Several {ambiguous.Provider} connections could serve; set a default with PUT /v1/orgs/{ambiguous.OrgId}/defaults/{ambiguous.Provider} " +
            "or call by connection.",
            new Dictionary<string, object?> { ["connections"] = ambiguous.Connections.Select(ConnectionSummary.From).ToList() }),
        AccessOutcome.ProviderUnavailable unavailable => ProviderUnavailable(unavailable, response),
        _ => throw new InvalidOperationException("No problem for outcome " + outcome.GetType().Name + "."),
    };

    private static ProblemResult ProviderUnavailable(AccessOutcome.ProviderUnavailable outcome, HttpResponse response) =>
        Problems.ProviderUnavailable(response, outcome.TimedOut,
            "The provider could not refresh the token right now. The connection is unchanged; try again later.", outcome.RetryAfter);

    /// <summary>Optional body <c>{"scopes": [...]}</c>; an empty body means no scope requirement.</summary>
    private static async ValueTask<(IReadOnlyList<string> Scopes, ProblemResult? Problem)> ReadScopesAsync(HttpRequest request,
        CancellationToken cancellationToken)
    {
        // Whether a body can follow is the protocol's to say, not Content-Length's: over HTTP/2 and HTTP/3 a body may come
        // with neither Content-Length nor Transfer-Encoding (RFC 9113 §8.1.1), and a check of those headers read such a
        // scopes requirement as absent. IHttpRequestBodyDetectionFeature answers for every protocol Kestrel speaks.
        if (request.ContentLength is 0 || request.HttpContext.Features.Get<IHttpRequestBodyDetectionFeature>() is { CanHaveBody: false }
            || (request.HttpContext.Features.Get<IHttpRequestBodyDetectionFeature>() is null && request.ContentLength is null
                && !request.Headers.ContainsKey("Transfer-Encoding")))
        {
            return ([], null);
        }

        // A body that says it is something other than JSON: 415, as routing answers it on every other JSON route (the lane
        // skips routing). A body without a Content-Type is still read as JSON, as it always was.
        if (request.ContentType is { Length: > 0 } && !request.HasJsonContentType())
        {
            return ([], Problems.Create(StatusCodes.Status415UnsupportedMediaType, "unsupported_media_type", "Unsupported media type",
                "The token routes take an optional JSON body such as {\"scopes\": [\"repo\"]} (Content-Type: application/json)."));
        }

        // The agent lane answers these routes before the JSON routes' body limit is set (ErrorHandling): set it here.
        if (request.ContentLength > ErrorHandling.JsonBodyLimit)
        {
            return ([], TooLarge());
        }

        if (request.HttpContext.Features.Get<IHttpMaxRequestBodySizeFeature>() is { IsReadOnly: false } limit)
        {
            limit.MaxRequestBodySize = ErrorHandling.JsonBodyLimit;
        }

        using var buffer = new MemoryStream();
        try
        {
            await request.Body.CopyToAsync(buffer, cancellationToken);
        }
        catch (BadHttpRequestException tooLarge) when (tooLarge.StatusCode == StatusCodes.Status413PayloadTooLarge)
        {
            return ([], TooLarge());
        }

        if (buffer.Length == 0)
        {
            return ([], null); // a stream that could have carried a body and carried none
        }

        try
        {
            var body = JsonSerializer.Deserialize<JsonElement>(buffer.GetBuffer().AsSpan(0, (int)buffer.Length), StrictJson.Options);
            // "scopes": null is "no scopes asked for", as the schema (nullable) says.
            if (body.ValueKind == JsonValueKind.Object && body.TryGetProperty("scopes", out var scopes) && scopes.ValueKind != JsonValueKind.Null)
            {
                if (scopes.ValueKind != JsonValueKind.Array || scopes.GetArrayLength() > 100 ||
                    scopes.EnumerateArray().Any(s => s.ValueKind != JsonValueKind.String || !Validation.IsScopeToken(s.GetString())))
                {
                    return ([], Problems.Unprocessable("validation_failed", "scopes must be an array of strings: " + Validation.ScopesRule(100) + "."));
                }

                return ([.. scopes.EnumerateArray().Select(s => s.GetString()!).Distinct(StringComparer.Ordinal)], null);
            }

            return body.ValueKind is JsonValueKind.Object or JsonValueKind.Null
                ? ([], null)
                : ([], Problems.BadRequest("invalid_json", "The body must be a JSON object such as {\"scopes\": [\"repo\"]}."));
        }
        catch (JsonException)
        {
            return ([], Problems.BadRequest("invalid_json", "The body is not valid JSON, or gives a field twice."));
        }

        static ProblemResult TooLarge() => Problems.Create(StatusCodes.Status413PayloadTooLarge, "payload_too_large", "Payload too large",
            $"The request body is larger than {ErrorHandling.JsonBodyLimit} bytes.");
    }
}

internal sealed record ConnectionSummary(string Id, string Provider, ConnectionAccount Account, string Status, IReadOnlyList<string>? Scopes)
{
    public static ConnectionSummary From(Connection c) =>
        new(c.Id, c.Provider, new ConnectionAccount(c.AccountId, c.AccountLogin, c.AccountEmail), c.Status == ConnectionStatus.Active ? "active" : "reauth_required", c.Scopes);
}
