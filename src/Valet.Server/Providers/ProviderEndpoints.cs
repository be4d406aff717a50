using System.Security.Claims;
using System.Text.Json;
using System.Text.RegularExpressions;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.AspNetCore.Routing;
using Valet.Core.OAuth;
using Valet.Core.Providers;
using Valet.Core.Stores;
using Valet.Server.Auth;
using Valet.Server.Http;

namespace Valet.Server.Providers;

/// <summary>
/// A provider as the API shows it. <c>source</c>: <c>catalog</c>, <c>configuration</c> or <c>runtime</c>;
/// <c>api_key</c>: how an api_key provider's secret is injected (<c>x-api-key: {secret}</c>, <c>query api_key</c>).
/// </summary>
internal sealed record ProviderResponse(string Id, string DisplayName, bool Ready, IReadOnlyList<string> DefaultScopes,
    IReadOnlyList<string> ApiBaseUrls, IReadOnlyList<string> Targets, string? Issuer)
{
    public string Source { get; init; } = "catalog";
    public string AuthMode { get; init; } = AuthModes.OAuth2;
    public string? ApiKey { get; init; }
    public bool DeviceFlow { get; init; }

    /// <summary>Names of the values a connection must give (<c>valet connect zendesk --param subdomain=…</c>); absent when none.</summary>
    public IReadOnlyList<string>? ConnectionParameters { get; init; }

    public static ProviderResponse From(ProviderDefinition p) =>
        new(p.Id, p.DisplayName, IsReady(p), p.DefaultScopes, p.UrlTemplates?.ApiBaseUrls ?? p.ApiBaseUrls, [.. p.Targets.Select(t => t.Name)], p.Issuer)
        {
            Source = AuthModes.SourceName(p.Source),
            AuthMode = AuthModes.Name(p.AuthMode),
            ApiKey = p.ApiKey?.Describe(),
            DeviceFlow = p.DeviceAuthorizationEndpoint is not null,
            ConnectionParameters = p.ConnectionParameters.Count == 0 ? null : [.. p.ConnectionParameters.Select(c => c.Name)],
        };

    /// <summary>OAuth providers are ready with a platform client; api_key and basic ones need none.</summary>
    private static bool IsReady(ProviderDefinition p) => AuthModes.IsStatic(p.AuthMode) || p.HasPlatformClient;
}

/// <summary><c>GET /v1/providers/{id}</c>: the provider, and for a runtime one the document as registered.</summary>
internal sealed record ProviderDetail(ProviderResponse Provider, string? AuthorizationEndpoint, string? TokenEndpoint, string? DeviceAuthorizationEndpoint,
    bool AllowPrivateNetwork, JsonElement? Document, DateTimeOffset? UpdatedAt);

internal sealed record ProviderDeleted(string Id, bool Deleted);

/// <summary>
/// The documented shape of <c>PUT /v1/providers/{id}</c> (SPEC §3's keys in snake case). The body is read loosely, to report
/// every problem at once (422), and unknown keys are refused by name; <c>id</c>, if given, must equal the path's.
/// </summary>
internal sealed record ProviderBody(
    [property: System.ComponentModel.Description("OIDC issuer: its discovery document supplies the endpoints not given here.")] string? Issuer = null,
    string? AuthorizationEndpoint = null,
    string? TokenEndpoint = null,
    string? RevocationEndpoint = null,
    [property: System.Text.Json.Serialization.JsonPropertyName("userinfo_endpoint")] string? UserinfoEndpoint = null,
    string? DeviceAuthorizationEndpoint = null,
    [property: System.ComponentModel.Description("Default scopes: space-separated, or an array of strings.")] JsonElement? Scopes = null,
    [property: System.ComponentModel.Description("What the proxy may reach: one URL, comma-separated URLs, or an array of them.")] JsonElement? ApiBaseUrl = null,
    [property: System.ComponentModel.Description("oauth2 (default), oauth2_cc, api_key or basic.")] string? AuthMode = null,
    [property: System.ComponentModel.Description("client_secret_basic or client_secret_post.")] string? TokenEndpointAuthMethod = null,
    bool? AllowPrivateNetwork = null,
    string? DisplayName = null,
    [property: System.ComponentModel.Description("For api_key: the header the secret goes in, e.g. `x-api-key: {secret}`.")] string? ApiKeyHeader = null,
    [property: System.ComponentModel.Description("For api_key: the query parameter the secret goes in, e.g. `api_key`.")] string? ApiKeyQuery = null,
    string? Id = null);

internal static partial class ProviderEndpoints
{
    /// <summary><c>ready</c> = a platform client is configured (or none is needed); orgs may still bring their own (BYOC).</summary>
    public static RouteGroupBuilder MapProviders(this IEndpointRouteBuilder routes)
    {
        var group = routes.MapGroup("/v1/providers").WithTags("Providers");
        group.MapGet("", (IProviderCatalog catalog) =>
                TypedResults.Ok(catalog.All.OrderBy(p => p.Id, StringComparer.Ordinal).Select(ProviderResponse.From).ToList()))
            .RequireAuthorization()
            .WithName("ListProviders").WithSummary("List the providers: catalog, configuration and run time (any operator token or API key)");
        group.MapGet("/{id}", GetAsync).RequireAuthorization()
            .WithName("GetProvider").WithSummary("Read one provider (never a client secret)")
            .ProducesProblemCodes(StatusCodes.Status404NotFound, "unknown_provider");
        group.MapPut("/{id}", PutAsync).RequireAuthorization(ValetClaims.OperatorPolicy)
            .WithName("PutProvider").WithSummary("Register or replace a provider at run time (admin token or service principal)")
            .WithDescription("Body: the keys of SPEC §3 in snake case — `issuer` or the endpoints, `scopes`, `api_base_url`, `auth_mode` " +
                "(oauth2, oauth2_cc, api_key, basic), `token_endpoint_auth_method`, `allow_private_network`, `display_name`, " +
                "`api_key_header` (e.g. `x-api-key: {secret}`) or `api_key_query`, `device_authorization_endpoint`. Validated like " +
                "configuration (422 lists every problem); seen by every node within a second. 201 created, 200 replaced.")
            .AcceptsJson<ProviderBody>()
            .Accepts<ProviderBody>(isOptional: true, "application/json") // routing answers another Content-Type with 415, as on every JSON route
            .ProducesProblemCodes(StatusCodes.Status409Conflict, "provider_read_only", "provider_in_use")
            .ProducesValidationProblem();
        group.MapDelete("/{id}", DeleteAsync).RequireAuthorization(ValetClaims.OperatorPolicy)
            .WithName("DeleteProvider").WithSummary("Delete a runtime provider (refused while connections use it)")
            .ProducesProblemCodes(StatusCodes.Status404NotFound, "unknown_provider")
            .ProducesProblemCodes(StatusCodes.Status409Conflict, "provider_read_only", "provider_in_use");
        return group;
    }

    private static async Task<Results<Ok<ProviderDetail>, ProblemResult>> GetAsync(string id, IProviderCatalog catalog, IRuntimeProviderStore store,
        CancellationToken cancellationToken)
    {
        if (id.Length > 64 || catalog.Find(id) is not { } provider)
        {
            return UnknownProvider(id);
        }

        var row = provider.Source == ProviderSource.Runtime ? await store.FindAsync(provider.Id, cancellationToken) : null;
        return TypedResults.Ok(Detail(provider, row));
    }

    private static async Task<Results<Created<ProviderDetail>, Ok<ProviderDetail>, ProblemResult>> PutAsync(string id, HttpRequest request,
        ClaimsPrincipal user, ProviderRegistry registry, IRuntimeProviderStore store, IHttpClientFactory httpClients, CancellationToken cancellationToken)
    {
        if (user.OrgId() is not null)
        {
            return Problems.Forbidden("Providers are shared by every org: only the admin token or the service principal may change them.");
        }

        if (!RuntimeProviders.IsValidId(id))
        {
            return Invalid(["the id must be a lower-case slug (a-z, 0-9, '-', '_', at most 63 characters)."]);
        }

        if (registry.IsReadOnly(id))
        {
            return ReadOnly(id);
        }

        JsonElement document;
        try
        {
            document = await JsonSerializer.DeserializeAsync<JsonElement>(request.Body, StrictJson.Options, cancellationToken);
        }
        catch (JsonException error)
        {
            return Problems.BadRequest("invalid_json", "The body is not valid JSON, or gives a field twice"
                + (error.Path is { Length: > 1 } path ? $" (at {(path.Length <= 100 ? path : path[..100] + "…")})." : "."));
        }

        var (definition, row, problems) = await RuntimeProviders.PrepareAsync(id, document, httpClients.CreateClient(OAuthHttp.ClientName),
            cancellationToken);
        if (definition is null || row is null)
        {
            return Invalid(problems);
        }

        // Connections hold a credential of the provider's kind: its auth mode does not change under them.
        if (registry.Find(id) is { } existing && existing.AuthMode != definition.AuthMode && await store.CountConnectionsAsync(id, cancellationToken) > 0)
        {
            return Problems.Conflict("provider_in_use",
                $"Connections use provider '{id}' with auth_mode {AuthModes.Name(existing.AuthMode)}; delete them before changing it.");
        }

        var (stored, created) = await store.UpsertAsync(row, cancellationToken);
        await registry.ReloadAsync(cancellationToken);
        var body = Detail(registry.Find(id) ?? definition, stored);
        return created ? TypedResults.Created($"/v1/providers/{id}", body) : TypedResults.Ok(body);
    }

    private static async Task<Results<Ok<ProviderDeleted>, ProblemResult>> DeleteAsync(string id, ClaimsPrincipal user, ProviderRegistry registry,
        IRuntimeProviderStore store, CancellationToken cancellationToken)
    {
        if (user.OrgId() is not null)
        {
            return Problems.Forbidden("Providers are shared by every org: only the admin token or the service principal may change them.");
        }

        if (id.Length <= 64 && registry.IsReadOnly(id))
        {
            return ReadOnly(id);
        }

        switch (id.Length <= 64 ? await store.DeleteAsync(id, cancellationToken) : RuntimeProviderDeletion.NotFound)
        {
            case RuntimeProviderDeletion.InUse:
                return Problems.Conflict("provider_in_use", $"Connections use provider '{id}'; disconnect them first (valet connections list).");
            case RuntimeProviderDeletion.NotFound:
                return UnknownProvider(id);
            default:
                await registry.ReloadAsync(cancellationToken);
                return TypedResults.Ok(new ProviderDeleted(id, true));
        }
    }

    private static ProviderDetail Detail(ProviderDefinition p, RuntimeProviderRow? row) => new(ProviderResponse.From(p),
        p.AuthorizationEndpoint?.AbsoluteUri, p.TokenEndpoint?.AbsoluteUri, p.DeviceAuthorizationEndpoint?.AbsoluteUri, p.AllowPrivateNetwork,
        row is null ? null : JsonDocument.Parse(row.Document).RootElement.Clone(), row?.UpdatedAt);

    private static ProblemResult Invalid(IReadOnlyList<string> problems) =>
        Problems.Validation(new Dictionary<string, string[]> { ["provider"] = [.. Readable(problems)] });

    /// <summary>
    /// The validator's problems as a <c>provider</c> field's messages, without the <c>provider 'ID': </c> each starts with
    /// (the field already says it; a CLI printed "provider provider 'x': …").
    /// </summary>
    internal static IEnumerable<string> Readable(IReadOnlyList<string> problems) =>
        problems.Select(p => ProviderPrefix().Replace(p, string.Empty, 1));

    [GeneratedRegex("^provider '[^']*': ", RegexOptions.CultureInvariant)]
    private static partial Regex ProviderPrefix();

    private static ProblemResult ReadOnly(string id) => Problems.Conflict("provider_read_only",
        $"Provider '{id}' comes from the catalog or the configuration, which the API does not change (Providers:{id} in configuration overrides it).");

    private static ProblemResult UnknownProvider(string id) =>
        Problems.NotFound("unknown_provider", $"No provider '{(id.Length <= 64 ? id : id[..64] + "…")}'.");
}
