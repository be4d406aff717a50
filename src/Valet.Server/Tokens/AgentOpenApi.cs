using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.OpenApi;
using Valet.Server.Http;

namespace Valet.Server.Tokens;

/// <summary>OpenAPI metadata shared by the agent routes (tokens, bootstrap, proxy).</summary>
internal static class AgentOpenApi
{
    public const string Tag = "Agent";

    /// <summary>
    /// The bearer scheme of API keys. The schemes and each operation's requirement come from the document transformer
    /// (<c>OpenApiSetup</c>), which gives every route tagged Agent or Proxy this one.
    /// </summary>
    public const string SecurityScheme = "agentKey";

    /// <summary>The 409 auth-recovery envelope (SPEC §5) as <c>application/problem+json</c>.</summary>
    public static TBuilder ProducesEnvelope<TBuilder>(this TBuilder builder) where TBuilder : IEndpointConventionBuilder =>
        builder.WithMetadata(new ProducesResponseTypeMetadata(StatusCodes.Status409Conflict, typeof(AuthEnvelope), [Problems.ContentType]));

    /// <summary>
    /// Problem responses (RFC 9457 with a stable <c>code</c>) every agent route can give — 401 (no or a bad key), 403
    /// (<c>forbidden</c>), 429 (<c>rate_limited</c>, with Retry-After), 503 (<c>storage_unavailable</c>) — plus <paramref name="statuses"/>.
    /// </summary>
    public static TBuilder ProducesAgentProblems<TBuilder>(this TBuilder builder, params int[] statuses) where TBuilder : IEndpointConventionBuilder
    {
        foreach (var status in (int[])[StatusCodes.Status401Unauthorized, StatusCodes.Status403Forbidden, .. statuses,
                     StatusCodes.Status429TooManyRequests, StatusCodes.Status503ServiceUnavailable])
        {
            builder.ProducesProblem(status);
        }

        return builder;
    }
}
