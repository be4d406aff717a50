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

    /// <summary>
    /// <c>Retry-After</c> of a <c>provider_unavailable</c> when nobody said when (the API unreachable or slow, a refresh
    /// lock held elsewhere): SPEC §12 has the SDK's exception carry it, so every such answer does.
    /// </summary>
    public static readonly TimeSpan ProviderRetryAfter = TimeSpan.FromSeconds(5);

    /// <summary>
    /// 502 (504 when <paramref name="timedOut"/>) <c>provider_unavailable</c>, always with <c>Retry-After</c>:
    /// <paramref name="retryAfter"/> when the provider or the backoff said when, else <see cref="ProviderRetryAfter"/>.
    /// </summary>
    public static ProblemResult ProviderUnavailable(HttpResponse response, bool timedOut, string? detail, TimeSpan? retryAfter = null)
    {
        response.Headers.RetryAfter = RetryAfterResult.Seconds(retryAfter ?? ProviderRetryAfter);
        return Create(timedOut ? StatusCodes.Status504GatewayTimeout : StatusCodes.Status502BadGateway, "provider_unavailable",
            "Provider unavailable", detail);
    }

    public static ProblemResult Create(int status, string code, string title, string? detail = null, IDictionary<string, object?>? extensions = null)
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

        return new ProblemResult(status, code, body);
    }

    public static ProblemResult BadRequest(string code, string detail) => Create(StatusCodes.Status400BadRequest, code, "Bad request", detail);

    public static ProblemResult Unauthorized(string detail = "A valid bearer token is required.") =>
        Create(StatusCodes.Status401Unauthorized, "unauthorized", "Unauthorized", detail);

    public static ProblemResult Forbidden(string detail = "This principal is not allowed to do that.") =>
        Create(StatusCodes.Status403Forbidden, "forbidden", "Forbidden", detail);

    public static ProblemResult NotFound(string code, string detail) => Create(StatusCodes.Status404NotFound, code, "Not found", detail);

    public static ProblemResult Conflict(string code, string detail) => Create(StatusCodes.Status409Conflict, code, "Conflict", detail);

    public static ProblemResult Unprocessable(string code, string detail) => Create(StatusCodes.Status422UnprocessableEntity, code, "Unprocessable input", detail);

    /// <summary>422 with every field problem at once: <c>errors: {field: [messages]}</c>.</summary>
    public static ProblemResult Validation(IReadOnlyDictionary<string, string[]> errors) =>
        Create(StatusCodes.Status422UnprocessableEntity, "validation_failed", "Unprocessable input", "One or more fields are invalid.",
            new Dictionary<string, object?> { ["errors"] = errors });
}
