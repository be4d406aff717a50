using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Mvc;

namespace Valet.Server.Http;

/// <summary>Route metadata: this route can answer <see cref="StatusCode"/> with these problem <c>code</c>s (read by the OpenAPI document).</summary>
internal sealed record ProblemCodesMetadata(int StatusCode, IReadOnlyList<string> Codes);

/// <summary>Route metadata: document the JSON request body as <see cref="Type"/> (the handler binds something looser, e.g. a <c>JsonElement</c>).</summary>
internal sealed record RequestBodySchemaMetadata(Type Type);

/// <summary>Route metadata: an integer query parameter the handler reads itself (to answer a bad value with a 422 naming it).</summary>
internal sealed record QueryParameterMetadata(string Name, string Description);

internal static class ProblemCodesExtensions
{
    /// <summary>
    /// Declares an error answer: <c>ProducesProblem(status)</c> plus the stable codes it carries, which the OpenAPI document
    /// lists in the response description. Several calls for one status add up.
    /// </summary>
    public static TBuilder ProducesProblemCodes<TBuilder>(this TBuilder builder, int statusCode, params string[] codes)
        where TBuilder : IEndpointConventionBuilder
    {
        builder.WithMetadata(new ProducesResponseTypeMetadata(statusCode, typeof(ProblemDetails), [Problems.ContentType]));
        return builder.WithMetadata(new ProblemCodesMetadata(statusCode, codes));
    }

    /// <summary>The 422 <c>validation_failed</c> answer (every field problem at once, in <c>errors</c>).</summary>
    public static TBuilder ProducesValidationProblem<TBuilder>(this TBuilder builder) where TBuilder : IEndpointConventionBuilder =>
        builder.ProducesProblemCodes(StatusCodes.Status422UnprocessableEntity, "validation_failed");

    public static RouteHandlerBuilder WithIntegerQuery(this RouteHandlerBuilder builder, string name, string description) =>
        builder.WithMetadata(new QueryParameterMetadata(name, description));

    public static RouteHandlerBuilder AcceptsJson<T>(this RouteHandlerBuilder builder) =>
        builder.WithMetadata(new RequestBodySchemaMetadata(typeof(T)));
}
