using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.AspNetCore.Routing;
using Valet.Core.Domain;
using Valet.Core.Stores;
using Valet.Server.Auth;
using Valet.Server.Http;
using Valet.Server.Orgs;

namespace Valet.Server.Audit;

internal sealed record AuditEventResponse(long Id, string Kind, DateTimeOffset At, string? KeyId, string? ConnectionId, string? TargetId,
    string? Method, string? Path, int? Status, long? DurationMs, long? BytesIn, long? BytesOut, string? Detail)
{
    public static AuditEventResponse From(AuditEvent e) =>
        new(e.Id, e.Kind, e.At, e.KeyId, e.ConnectionId, e.TargetId, e.Method, e.Path, e.Status, e.DurationMs, e.BytesIn, e.BytesOut, e.Detail);
}

/// <summary><c>{events, next}</c>: newest first; <c>next</c> is the <c>before</c> value of the following page, null at the end.</summary>
internal sealed record AuditPage(IReadOnlyList<AuditEventResponse> Events, long? Next);

internal static class AuditEndpoints
{
    public const int DefaultLimit = 50;
    public const int MaxLimit = 500;

    public static RouteGroupBuilder MapAudit(this IEndpointRouteBuilder routes)
    {
        var org = routes.MapOrgGroup("Audit");
        org.MapGet("/audit", ListAsync).WithName("ListAuditEvents")
            .WithSummary("Read the org's audit log, newest first")
            .WithDescription($"Pages of at most `limit` events ({DefaultLimit} by default, at most {MaxLimit}); pass `next` as `before` for the following page.")
            .WithIntegerQuery("before", "Only events older than this event id (the `next` of the previous page).")
            .WithIntegerQuery("limit", $"At most this many events, 1 to {MaxLimit} (default {DefaultLimit}).")
            .ProducesValidationProblem();
        return org;
    }

    /// <summary><paramref name="before"/> and <paramref name="limit"/> are read from the query by hand, so a bad value is a 422 naming the field.</summary>
    private static async Task<Results<Ok<AuditPage>, ProblemResult>> ListAsync(string org, HttpRequest request, IAuditStore audit,
        CancellationToken cancellationToken)
    {
        var validation = new Dictionary<string, string[]>(StringComparer.Ordinal);
        long? before = null;
        if (request.Query["before"] is { Count: > 0 } rawBefore)
        {
            if (long.TryParse(rawBefore.ToString(), System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out var b) && b > 0)
            {
                before = b;
            }
            else
            {
                validation["before"] = ["must be a positive event id"];
            }
        }

        var limit = DefaultLimit;
        if (request.Query["limit"] is { Count: > 0 } rawLimit)
        {
            if (!int.TryParse(rawLimit.ToString(), System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out limit)
                || limit is < 1 or > MaxLimit)
            {
                validation["limit"] = [$"must be between 1 and {MaxLimit}"];
            }
        }

        if (validation.Count > 0)
        {
            return Problems.Validation(validation);
        }

        // One more than asked tells whether there is a next page without a count query.
        var events = await audit.ListAsync(org, before, limit + 1, cancellationToken);
        var page = events.Take(limit).Select(AuditEventResponse.From).ToList();
        return TypedResults.Ok(new AuditPage(page, events.Count > limit ? page[^1].Id : null));
    }
}
