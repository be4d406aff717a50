using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;
using Valet.Core.Providers;

namespace Valet.Server.Providers;

internal sealed record ProviderResponse(string Id, string DisplayName, bool Ready, IReadOnlyList<string> DefaultScopes,
    IReadOnlyList<string> ApiBaseUrls, IReadOnlyList<string> Targets, string? Issuer)
{
    /// <summary>Names of the values a connection must give (<c>valet connect zendesk --param subdomain=…</c>); absent when none.</summary>
    public IReadOnlyList<string>? ConnectionParameters { get; init; }

    public static ProviderResponse From(ProviderDefinition p) =>
        new(p.Id, p.DisplayName, p.HasPlatformClient, p.DefaultScopes, p.UrlTemplates?.ApiBaseUrls ?? p.ApiBaseUrls, [.. p.Targets.Select(t => t.Name)], p.Issuer)
        {
            ConnectionParameters = p.ConnectionParameters.Count == 0 ? null : [.. p.ConnectionParameters.Select(c => c.Name)],
        };
}

internal static class ProviderEndpoints
{
    /// <summary><c>ready</c> = a platform client is configured; orgs may still bring their own (BYOC).</summary>
    public static RouteHandlerBuilder MapProviders(this IEndpointRouteBuilder routes) =>
        routes.MapGet("/v1/providers", (IProviderCatalog catalog) =>
                TypedResults.Ok(catalog.All.OrderBy(p => p.Id, StringComparer.Ordinal).Select(ProviderResponse.From).ToList()))
            .RequireAuthorization()
            .WithTags("Providers").WithName("ListProviders").WithSummary("List the provider catalog (any operator token or API key)");
}
