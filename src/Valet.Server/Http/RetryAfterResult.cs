using System.Globalization;
using Microsoft.AspNetCore.Http;

namespace Valet.Server.Http;

/// <summary>Any result, with <c>Retry-After</c> in whole seconds (at least 1): 429s and 503s say when to come back.</summary>
internal sealed class RetryAfterResult(IResult inner, TimeSpan after) : IResult
{
    public Task ExecuteAsync(HttpContext httpContext)
    {
        ArgumentNullException.ThrowIfNull(httpContext);
        httpContext.Response.Headers.RetryAfter = Seconds(after);
        return inner.ExecuteAsync(httpContext);
    }

    /// <summary>A <c>Retry-After</c> value: whole seconds, rounded up, at least 1.</summary>
    public static string Seconds(TimeSpan after) => Math.Max(1, (int)Math.Ceiling(after.TotalSeconds)).ToString(CultureInfo.InvariantCulture);
}
