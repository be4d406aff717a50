using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Http.HttpResults;

namespace Valet.Server.Http;

/// <summary>
/// Every error leaves the server as RFC 9457 problem details with a stable <c>code</c> member. The <c>type</c> is a URN
/// (<c>urn:valet:problem:CODE</c>) so a problem never carries a link it does not mean. The results are typed
/// (<see cref="JsonHttpResult{TValue}"/>) so a handler can name them in <c>Results&lt;…&gt;</c>.
/// </summary>
internal static class Problems
{
    public const string ContentType = "application/problem+json";

    public static JsonHttpResult<Dictionary<string, object?>> Create(int status, string code, string title, string? detail = null, IDictionary<string, object?>? extensions = null)
    {
        var body = new Dictionary<string, object?>(StringComparer.Ordinal)
        {
            ["type"] = "urn:valet:problem:" + code,
            ["title"] = title,
            ["status"] = status,
            ["code"] = code,
        };
        if (detail is not null)
        {
            body["detail"] = detail;
        }

        if (extensions is not null)
        {
            foreach (var (key, value) in extensions)
            {
                body[key] = value;
            }
        }

        return TypedResults.Json(body, statusCode: status, contentType: ContentType);
    }

    public static JsonHttpResult<Dictionary<string, object?>> BadRequest(string code, string detail) => Create(StatusCodes.Status400BadRequest, code, "Bad request", detail);

    public static JsonHttpResult<Dictionary<string, object?>> Unauthorized(string detail = "A valid bearer token is required.") =>
        Create(StatusCodes.Status401Unauthorized, "unauthorized", "Unauthorized", detail);

    public static JsonHttpResult<Dictionary<string, object?>> Forbidden(string detail = "This principal is not allowed to do that.") =>
        Create(StatusCodes.Status403Forbidden, "forbidden", "Forbidden", detail);

    public static JsonHttpResult<Dictionary<string, object?>> NotFound(string code, string detail) => Create(StatusCodes.Status404NotFound, code, "Not found", detail);

    public static JsonHttpResult<Dictionary<string, object?>> Conflict(string code, string detail) => Create(StatusCodes.Status409Conflict, code, "Conflict", detail);

    public static JsonHttpResult<Dictionary<string, object?>> Unprocessable(string code, string detail) => Create(StatusCodes.Status422UnprocessableEntity, code, "Unprocessable input", detail);

    /// <summary>422 with every field problem at once: <c>errors: {field: [messages]}</c>.</summary>
    public static JsonHttpResult<Dictionary<string, object?>> Validation(IReadOnlyDictionary<string, string[]> errors) =>
        Create(StatusCodes.Status422UnprocessableEntity, "validation_failed", "Unprocessable input", "One or more fields are invalid.",
            new Dictionary<string, object?> { ["errors"] = errors });
}
