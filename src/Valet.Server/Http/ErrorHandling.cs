using System.Text.RegularExpressions;
using Valet.Core.Vault;
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
internal static partial class ErrorHandling
{
    /// <summary>
    /// A request path for a log line. Some paths carry a live secret: a single-use sign-in link its token, and the CLI's
    /// flow routes (<c>/internal/oauth/connect/status/{state}</c>, <c>…/cancel/{state}</c>, <c>…/device/{handle}</c>) the
    /// flow's OAuth state or handle. A request that failed on the database used none of them up, so what follows the
    /// route's own segments is cut off (<c>/signin/link/…</c>, <c>/internal/oauth/connect/status/…</c>).
    /// </summary>
    internal static string LoggablePath(PathString path)
    {
        if (path.StartsWithSegments(SignInLinkPrefix, StringComparison.OrdinalIgnoreCase))
        {
            return SignInLinkPrefix + "/…";
        }

        if (path.StartsWithSegments(ConnectPrefix, StringComparison.OrdinalIgnoreCase, out var rest) && rest.HasValue)
        {
            // Keep the verb (status, cancel, device, start), cut whatever comes after it.
            var verb = rest.Value!.TrimStart('/');
            var slash = verb.IndexOf('/', StringComparison.Ordinal);
            return slash < 0 ? path.Value! : ConnectPrefix + "/" + verb[..slash] + "/…";
        }

        return path.Value ?? string.Empty;
    }

    private const string SignInLinkPrefix = "/signin/link";
    private const string ConnectPrefix = "/internal/oauth/connect";

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

    /// <summary>
    /// Says where the body went wrong (<c>$.expires_in</c>), never the parser's own message (it names .NET types). A
    /// property given twice is refused here too (<c>AllowDuplicateProperties</c>).
    /// </summary>
    private static string InvalidJson(JsonException error) =>
        "The body is not valid JSON of the expected shape (check field types, and that no field is given twice)"
        + (error.Path is { Length: > 1 } path ? $"; the problem is at {Shorten(path)}." : ".");

    private static string Shorten(string message) => message.Length <= 300 ? message : message[..300] + "…";

    private static bool IsExpected(Exception error, HttpContext context) =>
        StorageFailures.IsUnavailable(error) || StorageFailures.IsUnstorableText(error) || error is BadHttpRequestException or JsonException or InvalidDataException
        or VaultException
        || (error is OperationCanceledException && context.RequestAborted.IsCancellationRequested);

    private static async Task Handle(HttpContext context)
    {
        var error = context.Features.Get<IExceptionHandlerFeature>()?.Error;
        var result = error switch
        {
            BadHttpRequestException { StatusCode: StatusCodes.Status413PayloadTooLarge } =>
                Problems.Create(StatusCodes.Status413PayloadTooLarge, "payload_too_large", "Payload too large", "The request body is larger than this route accepts."),
            BadHttpRequestException { InnerException: JsonException json } =>
                Problems.BadRequest("invalid_json", InvalidJson(json)),
            JsonException json =>
                Problems.BadRequest("invalid_json", InvalidJson(json)),
            // A body without a JSON Content-Type (none at all, too): the same answer as the status-code page gives.
            BadHttpRequestException { StatusCode: StatusCodes.Status415UnsupportedMediaType } =>
                Problems.Create(StatusCodes.Status415UnsupportedMediaType, "unsupported_media_type", "Unsupported media type", UnsupportedMediaType(context)),
            // Binding says what it could not read (`Failed to bind parameter "Nullable<int> timeout" from "abc".`): said again
            // with the parameter's name and the caller's value, without the .NET type.
            BadHttpRequestException bad =>
                Problems.Create(bad.StatusCode, "invalid_request", "Bad request", "The request could not be read: " + Shorten(Readable(bad.Message))),
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

        if (result is null && error is VaultException vault)
        {
            // A stored secret this node cannot open: sealed under a key it was not given (a `valet vault rotate` run with a new
            // key ring before every node was restarted with it), or tampered with. The operator's to fix; said once per call,
            // with the vault's own message (key ids, never key material), without a stack trace.
            Log.VaultUnavailable(logger, context.Request.Method, LoggablePath(context.Request.Path), vault.Message);
            result = Problems.Create(StatusCodes.Status503ServiceUnavailable, "vault_key_unavailable", "Encryption key unavailable",
                "A stored secret is sealed with an encryption key this server was not given. The operator must configure it (see the server log).");
        }

        if (result is null)
        {
            Log.UnhandledError(logger, context.Request.Method, LoggablePath(context.Request.Path), error?.GetType().Name ?? "unknown");
            result = Problems.Create(StatusCodes.Status500InternalServerError, "internal_error", "Internal error",
                "Something went wrong on our side. The error was logged.");
        }

        await result.ExecuteAsync(context);
    }

    private static string UnsupportedMediaType(HttpContext context) =>
        $"This route does not take a body of Content-Type '{Shorten(context.Request.ContentType ?? "none")}' (the API's routes take application/json).";

    /// <summary>
    /// A binding failure in the caller's terms: <c>Failed to bind parameter "Nullable&lt;int&gt; timeout" from "abc".</c>
    /// becomes <c>the parameter 'timeout' must be a whole number, not "abc".</c> Other messages are kept as they are.
    /// </summary>
    internal static string Readable(string message)
    {
        if (RequiredMissing().Match(message) is { Success: true } missing)
        {
            return missing.Groups["source"].Value.Contains("body", StringComparison.OrdinalIgnoreCase)
                ? "a JSON body is required."
                : $"the parameter '{missing.Groups["name"].Value}' is required.";
        }

        var match = BindFailure().Match(message);
        if (!match.Success)
        {
            return message;
        }

        var type = match.Groups["type"].Value;
        var value = match.Groups["value"].Value;
        var isLong = type.Contains("long", StringComparison.OrdinalIgnoreCase);
        var whole = isLong || type.Contains("int", StringComparison.OrdinalIgnoreCase);
        // Digits that do not fit: "a whole number" would be wrong about what went wrong.
        var expected = whole && value.TrimStart('-', '+') is { Length: > 0 } digits && digits.All(char.IsAsciiDigit)
            ? isLong ? $"a whole number from {long.MinValue} to {long.MaxValue}" : $"a whole number from {int.MinValue} to {int.MaxValue}"
            : whole ? "a whole number"
            : type.Contains("bool", StringComparison.OrdinalIgnoreCase) ? "true or false"
            : "a valid value";
        return $"the parameter '{match.Groups["name"].Value}' must be {expected}, not \"{value}\".";
    }

    [GeneratedRegex("^Failed to bind parameter \"(?<type>[^\"]*) (?<name>[A-Za-z_][A-Za-z0-9_]*)\" from \"(?<value>.*)\"\\.?$")]
    private static partial Regex BindFailure();

    [GeneratedRegex("^Required parameter \"(?<type>[^\"]*) (?<name>[A-Za-z_][A-Za-z0-9_]*)\" was not provided from (?<source>.*?)\\.?$")]
    private static partial Regex RequiredMissing();

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
                // A chunked body over the limit: Kestrel stops it while the body is bound, with no answer of its own; the same
                // code as a declared Content-Length over the limit gets.
                StatusCodes.Status413PayloadTooLarge => ("payload_too_large", "Payload too large"),
                StatusCodes.Status400BadRequest => ("invalid_request", "Bad request"),
                _ => ("http_" + context.Response.StatusCode, "Error"),
            };
            var detail = context.Response.StatusCode switch
            {
                StatusCodes.Status415UnsupportedMediaType => UnsupportedMediaType(context),
                StatusCodes.Status413PayloadTooLarge => "The request body is larger than this route accepts.",
                _ => null,
            };
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

                // A JSON body with \u0000 in a text value (NulFreeStrings). Not /mcp: its tool arguments are refused as tool errors.
                if (context.Request.HasJsonContentType() && context.Features.Get<IHttpRequestBodyDetectionFeature>()?.CanHaveBody == true
                    && !context.Request.Path.StartsWithSegments("/mcp")
                    && await NulFreeStrings.HasNulAsync(context.Request))
                {
                    await Problems.BadRequest("invalid_json", "A text value in the body contains the NUL character (\\u0000), which no value may contain.")
                        .ExecuteAsync(context);
                    return;
                }
            }

            await next(context);
        });

        return app;
    }
}
