using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Mvc;

namespace Valet.Server.Http;

/// <summary>Route metadata: this route can answer <see cref="StatusCode"/> with these problem <c>code</c>s (read by the OpenAPI document).</summary>
internal sealed record ProblemCodesMetadata(int StatusCode, IReadOnlyList<string> Codes);

/// <summary>
/// Route metadata: the problem with this <see cref="Code"/> carries one more member, <see cref="Member"/>, shaped as
/// <see cref="Type"/> (read by the OpenAPI document, which gives that code its own schema).
/// </summary>
internal sealed record ProblemMemberMetadata(string Code, string Member, Type Type, string Description);

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

    /// <summary>
    /// Declares a member the problem with <paramref name="code"/> carries besides the RFC 9457 ones (e.g. the
    /// <c>connections</c> of <c>ambiguous_connection</c>). The code itself is declared with <see cref="ProducesProblemCodes"/>.
    /// </summary>
    public static RouteHandlerBuilder ProducesProblemMember<TMember>(this RouteHandlerBuilder builder, string code, string member, string description) =>
        builder.WithMetadata(new ProblemMemberMetadata(code, member, typeof(TMember), description));

    /// <summary>The 422 <c>validation_failed</c> answer (every field problem at once, in <c>errors</c>).</summary>
    public static TBuilder ProducesValidationProblem<TBuilder>(this TBuilder builder) where TBuilder : IEndpointConventionBuilder =>
        builder.ProducesProblemCodes(StatusCodes.Status422UnprocessableEntity, "validation_failed");

    public static RouteHandlerBuilder WithIntegerQuery(this RouteHandlerBuilder builder, string name, string description) =>
        builder.WithMetadata(new QueryParameterMetadata(name, description));

    public static RouteHandlerBuilder AcceptsJson<T>(this RouteHandlerBuilder builder) =>
        builder.WithMetadata(new RequestBodySchemaMetadata(typeof(T)));
}
