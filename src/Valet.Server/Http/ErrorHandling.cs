using System.Text.Json;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Diagnostics;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Http.Features;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Valet.Server.Logging;
using Valet.Storage;

namespace Valet.Server.Http;

/// <summary>Maps every failure to problem+json: bad input never becomes a 500, a 500 never carries a stack trace.</summary>
internal static class ErrorHandling
{
    /// <summary>
    /// A request path for a log line. Two paths carry a live secret: a single-use sign-in link its token, and the CLI's
    /// connect poll (<c>/internal/oauth/connect/status/{state}</c>) the flow's OAuth state. A request that failed on the
    /// database used neither up, so what follows the prefix is cut off (<c>/signin/link/…</c>).
    /// </summary>
    internal static string LoggablePath(PathString path) =>
        path.StartsWithSegments(SignInLinkPrefix, StringComparison.OrdinalIgnoreCase) ? SignInLinkPrefix + "/…"
        : path.StartsWithSegments(ConnectStatusPrefix, StringComparison.OrdinalIgnoreCase) ? ConnectStatusPrefix + "/…"
        : path.Value ?? string.Empty;

    private const string SignInLinkPrefix = "/signin/link";
    private const string ConnectStatusPrefix = "/internal/oauth/connect/status";

    /// <summary>Bodies on the admin and agent JSON routes; the proxy sets its own limit.</summary>
    public const long JsonBodyLimit = 64 * 1024;

    private const string StorageRetryAfterSeconds = "2";

    /// <summary>Exceptions become problem+json (first in the pipeline, so the agent lane is covered too).</summary>
    public static IApplicationBuilder UseValetExceptionHandler(this IApplicationBuilder app) =>
        app.UseExceptionHandler(new ExceptionHandlerOptions
        {
            // The middleware logs every exception with its stack trace at Error. Expected outcomes (a database outage or
            // overload, bad input, a client that went away) get one line from the handler below instead; bugs keep theirs.
            SuppressDiagnosticsCallback = context => IsExpected(context.Exception, context.HttpContext),
            ExceptionHandler = Handle,
        });

    private static string Shorten(string message) => message.Length <= 300 ? message : message[..300] + "…";

    private static bool IsExpected(Exception error, HttpContext context) =>
        StorageFailures.IsUnavailable(error) || StorageFailures.IsUnstorableText(error) || error is BadHttpRequestException or JsonException or InvalidDataException
        || (error is OperationCanceledException && context.RequestAborted.IsCancellationRequested);

    private static async Task Handle(HttpContext context)
    {
        var error = context.Features.Get<IExceptionHandlerFeature>()?.Error;
        var result = error switch
        {
            BadHttpRequestException { StatusCode: StatusCodes.Status413PayloadTooLarge } =>
                Problems.Create(StatusCodes.Status413PayloadTooLarge, "payload_too_large", "Payload too large", "The request body is larger than this route accepts."),
            BadHttpRequestException { InnerException: NulInTextException } or NulInTextException =>
                Problems.BadRequest("invalid_json", "A text value in the body contains the NUL character (\\u0000), which no value may contain."),
            BadHttpRequestException { InnerException: JsonException } or JsonException =>
                Problems.BadRequest("invalid_json", "The body is not valid JSON of the expected shape (check field types)."),
            // Binding says what it could not read (`Failed to bind parameter "int? timeout" from "abc".`, `Expected a supported
            // JSON media type but got "text/plain".`): the caller's own input and the parameter, nothing of the server's.
            BadHttpRequestException bad =>
                Problems.Create(bad.StatusCode, "invalid_request", "Bad request", "The request could not be read: " + Shorten(bad.Message)),
            // ReadFormAsync: a form value that decodes to a NUL, or a malformed form body.
            InvalidDataException =>
                Problems.BadRequest("invalid_request", "The form body could not be read (malformed, or containing forbidden characters)."),
            _ when StorageFailures.IsUnstorableText(error) =>
                Problems.Unprocessable("validation_failed", "A text value contains a character that cannot be stored (such as \\u0000)."),
            OperationCanceledException when context.RequestAborted.IsCancellationRequested =>
                Problems.Create(499, "client_closed_request", "Client closed request"),
            _ => null,
        };

        var logger = context.RequestServices.GetRequiredService<ILoggerFactory>().CreateLogger("Valet.Server");
        if (result is null && StorageFailures.IsUnavailable(error))
        {
            // The database is unreachable or overloaded: nothing the caller did, nothing lost; try again shortly.
            Log.StorageUnavailable(logger, context.Request.Method, LoggablePath(context.Request.Path), StorageFailures.Describe(error));
            context.Response.Headers.RetryAfter = StorageRetryAfterSeconds;
            result = Problems.Create(StatusCodes.Status503ServiceUnavailable, "storage_unavailable", "Storage unavailable",
                "Valet's database is unreachable or overloaded right now. Nothing was changed; try again shortly.");
        }

        if (result is null)
        {
            Log.UnhandledError(logger, context.Request.Method, LoggablePath(context.Request.Path), error?.GetType().Name ?? "unknown");
            result = Problems.Create(StatusCodes.Status500InternalServerError, "internal_error", "Internal error",
                "Something went wrong on our side. The error was logged.");
        }

        await result.ExecuteAsync(context);
    }

    /// <summary>Bodiless 4xx/5xx of Valet's own routes become problem+json; JSON routes get their body limit.</summary>
    public static IApplicationBuilder UseValetStatusPagesAndLimits(this IApplicationBuilder app)
    {
        // Unknown routes and wrong methods: problem+json too.
        app.UseStatusCodePages(async statusContext =>
        {
            var context = statusContext.HttpContext;
            var (code, title) = context.Response.StatusCode switch
            {
                StatusCodes.Status404NotFound => ("not_found", "Not found"),
                StatusCodes.Status405MethodNotAllowed => ("method_not_allowed", "Method not allowed"),
                StatusCodes.Status415UnsupportedMediaType => ("unsupported_media_type", "Unsupported media type"),
                _ => ("http_" + context.Response.StatusCode, "Error"),
            };
            var detail = context.Response.StatusCode == StatusCodes.Status415UnsupportedMediaType
                ? $"This route does not take a body of Content-Type '{Shorten(context.Request.ContentType ?? "none")}' (the API's routes take application/json)."
                : null;
            await Problems.Create(context.Response.StatusCode, code, title, detail).ExecuteAsync(context);
        });

        // JSON routes get a small body limit; a larger body fails fast with 413.
        app.Use(async (context, next) =>
        {
            if (!context.Request.Path.StartsWithSegments("/v1/proxy") && !context.Request.Path.StartsWithSegments("/v1/targets"))
            {
                var feature = context.Features.Get<IHttpMaxRequestBodySizeFeature>();
                if (feature is { IsReadOnly: false })
                {
                    feature.MaxRequestBodySize = JsonBodyLimit;
                }

                if (context.Request.ContentLength > JsonBodyLimit)
                {
                    await Problems.Create(StatusCodes.Status413PayloadTooLarge, "payload_too_large", "Payload too large",
                        $"The request body is larger than {JsonBodyLimit} bytes.").ExecuteAsync(context);
                    return;
                }
            }

            await next(context);
        });

        return app;
    }
}
