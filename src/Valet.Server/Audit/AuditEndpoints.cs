using System.Security.Claims;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
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
        var group = routes.MapGroup("/v1").RequireAuthorization(ValetClaims.OperatorPolicy).WithTags("Audit");
        group.MapGet("/orgs/{org}/audit", ListAsync);
        return group;
    }

    private static async Task<IResult> ListAsync(string org, HttpRequest request, ClaimsPrincipal user, IOrgStore orgs, IAuditStore audit,
        CancellationToken cancellationToken)
    {
        var found = await OrgAccess.FindAsync(org, user, orgs, cancellationToken);
        if (found.Problem is not null)
        {
            return found.Problem;
        }

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
