using Microsoft.AspNetCore.Http;

namespace Valet.Server.Http;

/// <summary>
/// A problem+json answer as a typed result, so a handler can name it in <c>Results&lt;Ok&lt;T&gt;, ProblemResult&gt;</c>.
/// The body is written exactly as <see cref="Problems.Create"/> always wrote it (member order, <c>type</c> URN).
/// </summary>
internal sealed class ProblemResult : IResult, IStatusCodeHttpResult, IContentTypeHttpResult, IValueHttpResult
{
    private readonly Dictionary<string, object?> _body;

    public ProblemResult(int statusCode, string code, Dictionary<string, object?> body)
    {
        StatusCode = statusCode;
        Code = code;
        _body = body;
    }

    public int StatusCode { get; }

    /// <summary>The stable <c>code</c> member.</summary>
    public string Code { get; }

    public string ContentType => Problems.ContentType;

    public object Value => _body;

    int? IStatusCodeHttpResult.StatusCode => StatusCode;

    public Task ExecuteAsync(HttpContext httpContext) =>
        Results.Json(_body, statusCode: StatusCode, contentType: Problems.ContentType).ExecuteAsync(httpContext);
}
