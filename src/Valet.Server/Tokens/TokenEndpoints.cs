using System.Globalization;
using System.Text.Json;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;
using Valet.Core.Domain;
using Valet.Core.Stores;
using Valet.Core.Tokens;
using Valet.Server.Auth;
using Valet.Server.Connections;
using Valet.Server.Http;

namespace Valet.Server.Tokens;

internal sealed record TokenRequest(string[]? Scopes);

internal sealed record TokenResponse(string AccessToken, string TokenType, DateTimeOffset? ExpiresAt, IReadOnlyList<string>? Scopes, string ConnectionId);

/// <summary>Agent routes: a fresh access token by connection or by provider. Refresh tokens never leave Valet.</summary>
internal static class TokenEndpoints
{
    public static RouteGroupBuilder MapTokens(this IEndpointRouteBuilder routes)
    {
        var group = routes.MapGroup("/v1").RequireAuthorization().WithTags("Agent");
        group.MapPost("/connections/{id}/token", ByConnectionAsync);
        group.MapPost("/providers/{provider}/token", ByProviderAsync);
        return group;
    }

    private static async Task<IResult> ByConnectionAsync(string id, HttpContext context, IConnectionStore connections, ITokenService tokens,
        Envelopes envelopes, CancellationToken cancellationToken)
    {
        var access = AgentAccess.From(context);
        if (access is null)
        {
            return Problems.Forbidden("Token routes are for API keys (and the local service principal).");
        }

        var (scopes, problem) = await ReadScopesAsync(context.Request, cancellationToken);
        if (problem is not null)
        {
            return problem;
        }

        var connection = id.Length <= 64 ? await connections.FindAsync(id, cancellationToken) : null;
        if (connection is null || !access.Sees(connection))
        {
            return Problems.NotFound("connection_not_found", "No such connection.");
        }

        if (!access.MayUse(connection))
        {
            return Problems.Forbidden("This API key has no permission on this connection.");
        }

        return await IssueAsync(connection, scopes, context.Request, tokens, envelopes, cancellationToken);
    }

    private static async Task<IResult> ByProviderAsync(string provider, HttpContext context, IConnectionStore connections, IOrgStore orgs,
        ITokenService tokens, Envelopes envelopes, Valet.Core.Providers.IProviderCatalog catalog, CancellationToken cancellationToken)
    {
        var access = AgentAccess.From(context);
        if (access?.Key is null)
        {
            return Problems.Forbidden("Token routes by provider are for API keys.");
        }

        var (scopes, problem) = await ReadScopesAsync(context.Request, cancellationToken);
        if (problem is not null)
        {
            return problem;
        }

        var definition = catalog.Find(provider);
        if (definition is null)
        {
            return Problems.NotFound("unknown_provider", $"Unknown provider '{provider}'.");
        }

        var orgId = access.Key.OrgId;
        var candidates = new List<Connection>();
        await foreach (var connection in connections.ListAsync(orgId, cancellationToken))
        {
            if (connection.Provider == definition.Id && access.MayUse(connection))
            {
                candidates.Add(connection);
            }
        }

        if (candidates.Count == 0)
        {
            if (!access.Providers.Contains(definition.Id))
            {
                return Problems.Forbidden($"This API key has no permission on provider '{definition.Id}'.");
            }

            return Envelopes.ToResult(await envelopes.BuildAsync(EnvelopeCodes.NeedsAuthentication, orgId, definition.Id, null, scopes, scopes,
                context.Request, cancellationToken));
        }

        var chosen = await ChooseAsync(candidates, scopes, orgId, orgs, cancellationToken);
        if (chosen.Ambiguous is { } ambiguous)
        {
            return Problems.Create(StatusCodes.Status409Conflict, "ambiguous_connection", "Ambiguous connection",
                $"Several {definition.Id} connections could serve; set a default with PUT /v1/orgs/{orgId}/defaults/{definition.Id} or call by connection.",
                new Dictionary<string, object?> { ["connections"] = ambiguous.Select(ConnectionSummary.From).ToList() });
        }

        return await IssueAsync(chosen.Connection!, scopes, context.Request, tokens, envelopes, cancellationToken);
    }

    /// <summary>
    /// Several connections: those that satisfy the scopes win; then the org's default for the provider; else ambiguous.
    /// When none satisfies the scopes, the default (or the only one) is used so the caller gets its missing_scopes envelope.
    /// </summary>
    private static async Task<(Connection? Connection, IReadOnlyList<Connection>? Ambiguous)> ChooseAsync(List<Connection> candidates,
        IReadOnlyList<string> scopes, string orgId, IOrgStore orgs, CancellationToken cancellationToken)
    {
        var usable = candidates.Where(c => c.Status == ConnectionStatus.Active && ScopeCheck.Missing(c.Scopes, scopes).Count == 0).ToList();
        var pool = usable.Count > 0 ? usable : candidates;
        if (pool.Count == 1)
        {
            return (pool[0], null);
        }

        var defaultId = await orgs.FindDefaultConnectionAsync(orgId, pool[0].Provider, cancellationToken);
        var preferred = pool.FirstOrDefault(c => c.Id == defaultId);
        return preferred is not null ? (preferred, null) : (null, pool);
    }

    internal static async Task<IResult> IssueAsync(Connection connection, IReadOnlyList<string> scopes, HttpRequest request, ITokenService tokens,
        Envelopes envelopes, CancellationToken cancellationToken)
    {
        if (connection.Status == ConnectionStatus.ReauthRequired)
        {
            return await EnvelopeAsync(EnvelopeCodes.ReauthRequired, connection, scopes, [], request, envelopes, cancellationToken);
        }

        var missing = ScopeCheck.Missing(connection.Scopes, scopes);
        if (missing.Count > 0)
        {
            return await EnvelopeAsync(EnvelopeCodes.MissingScopes, connection, scopes, missing, request, envelopes, cancellationToken);
        }

        var outcome = await tokens.GetAccessTokenAsync(connection.Id, forceRefresh: false, cancellationToken);
        return outcome switch
        {
            TokenOutcome.Success success => TypedResults.Ok(new TokenResponse(success.AccessToken.Reveal(), success.TokenType, success.ExpiresAt,
                success.Scopes, connection.Id)),
            TokenOutcome.ReauthRequired dead => await EnvelopeAsync(EnvelopeCodes.ReauthRequired, dead.Connection, scopes, [], request, envelopes,
                cancellationToken),
            TokenOutcome.ProviderUnavailable unavailable => ProviderUnavailable(unavailable, request.HttpContext.Response),
            _ => Problems.NotFound("connection_not_found", "No such connection."),
        };
    }

    internal static IResult ProviderUnavailable(TokenOutcome.ProviderUnavailable outcome, HttpResponse response)
    {
        if (outcome.RetryAfter is { } retryAfter)
        {
            response.Headers.RetryAfter = Math.Max(1, (int)Math.Ceiling(retryAfter.TotalSeconds)).ToString(CultureInfo.InvariantCulture);
        }

        return Problems.Create(outcome.TimedOut ? StatusCodes.Status504GatewayTimeout : StatusCodes.Status502BadGateway, "provider_unavailable",
            "Provider unavailable", "The provider could not refresh the token right now. The connection is unchanged; try again later.");
    }

    private static async Task<IResult> EnvelopeAsync(string code, Connection connection, IReadOnlyList<string> required, IReadOnlyList<string> missing,
        HttpRequest request, Envelopes envelopes, CancellationToken cancellationToken) =>
        Envelopes.ToResult(await envelopes.BuildAsync(code, connection.OrgId, connection.Provider, connection, required, missing, request, cancellationToken));

    /// <summary>Optional body <c>{"scopes": [...]}</c>; an empty body means no scope requirement.</summary>
    private static async Task<(IReadOnlyList<string> Scopes, IResult? Problem)> ReadScopesAsync(HttpRequest request, CancellationToken cancellationToken)
    {
        if (request.ContentLength is 0 || (request.ContentLength is null && !request.Headers.ContainsKey("Transfer-Encoding")))
        {
            return ([], null);
        }

        try
        {
            var body = await JsonSerializer.DeserializeAsync<JsonElement>(request.Body, cancellationToken: cancellationToken);
            if (body.ValueKind == JsonValueKind.Object && body.TryGetProperty("scopes", out var scopes))
            {
                if (scopes.ValueKind != JsonValueKind.Array || scopes.GetArrayLength() > 100 ||
                    scopes.EnumerateArray().Any(s => s.ValueKind != JsonValueKind.String || string.IsNullOrWhiteSpace(s.GetString())))
                {
                    return ([], Problems.Unprocessable("validation_failed", "scopes must be an array of at most 100 non-empty strings."));
                }

                return ([.. scopes.EnumerateArray().Select(s => s.GetString()!).Distinct(StringComparer.Ordinal)], null);
            }

            return body.ValueKind is JsonValueKind.Object or JsonValueKind.Null
                ? ([], null)
                : ([], Problems.BadRequest("invalid_json", "The body must be a JSON object such as {\"scopes\": [\"repo\"]}."));
        }
        catch (JsonException)
        {
            return ([], Problems.BadRequest("invalid_json", "The body is not valid JSON."));
        }
    }
}

internal sealed record ConnectionSummary(string Id, string Provider, ConnectionAccount Account, string Status, IReadOnlyList<string>? Scopes)
{
    public static ConnectionSummary From(Connection c) =>
        new(c.Id, c.Provider, new ConnectionAccount(c.AccountId, c.AccountLogin, c.AccountEmail), c.Status == ConnectionStatus.Active ? "active" : "reauth_required", c.Scopes);
}
