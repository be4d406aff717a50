using System.Security.Claims;
using System.Text.Json;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.AspNetCore.Routing;
using Microsoft.Extensions.Logging;
using Valet.Core.Domain;
using Valet.Core.Keys;
using Valet.Core.Providers;
using Valet.Core.Stores;
using Valet.Server.Auth;
using Valet.Server.Http;
using Valet.Server.Logging;
using Valet.Server.Orgs;

namespace Valet.Server.Keys;

internal sealed record CreateKeyRequest(string? Name, JsonElement? Permissions);

/// <summary>The documented shape of <see cref="CreateKeyRequest"/> (which binds permissions loosely, to report every bad item at once).</summary>
internal sealed record CreateKeyBody(string Name, IReadOnlyList<PermissionItem>? Permissions = null);

/// <summary>The documented shape of <c>PUT /v1/keys/{id}/permissions</c>; the bare array is accepted too.</summary>
internal sealed record SetPermissionsBody(IReadOnlyList<PermissionItem> Permissions);

internal sealed record KeyResponse(string Id, string Org, string Name, string Prefix, IReadOnlyList<PermissionItem> Permissions,
    DateTimeOffset CreatedAt,
    [property: System.ComponentModel.Description("When an agent last authenticated with this key, to within a minute (each node records the first use in every minute); absent until its first use.")]
    DateTimeOffset? LastUsedAt)
{
    public static KeyResponse From(ApiKey key) =>
        new(key.Id, key.OrgId, key.Name, key.Prefix, PermissionJson.ToJson(key.Permissions), key.CreatedAt, key.LastUsedAt);
}

/// <summary>The only response that ever carries the secret <c>key</c>.</summary>
internal sealed record CreatedKeyResponse(string Id, string Key, string Org, string Name, string Prefix,
    IReadOnlyList<PermissionItem> Permissions, DateTimeOffset CreatedAt);

internal static class KeyEndpoints
{
    public static RouteGroupBuilder MapKeys(this IEndpointRouteBuilder routes)
    {
        var org = routes.MapOrgGroup("API keys");
        org.MapPost("/keys", CreateAsync).WithName("CreateKey").WithSummary("Create an agent API key (the secret key is in this answer only)")
            .AcceptsJson<CreateKeyBody>().ProducesValidationProblem();
        org.MapGet("/keys", ListAsync).WithName("ListKeys").WithSummary("List an org's API keys");

        var group = routes.MapGroup("/v1/keys").RequireAuthorization(ValetClaims.OperatorPolicy).WithTags("API keys")
            .ProducesProblemCodes(StatusCodes.Status404NotFound, "key_not_found");
        group.MapGet("/{id}", GetAsync).WithName("GetKey").WithSummary("Read an API key (never its secret)");
        group.MapDelete("/{id}", DeleteAsync).WithName("DeleteKey").WithSummary("Revoke an API key");
        group.MapPut("/{id}/permissions", SetPermissionsAsync).WithName("SetKeyPermissions").WithSummary("Replace an API key's permissions")
            .AcceptsJson<SetPermissionsBody>().ProducesValidationProblem();
        return group;
    }

    private static async Task<Results<Created<CreatedKeyResponse>, ProblemResult>> CreateAsync(string org, CreateKeyRequest? request,
        IApiKeyStore keys, IConnectionStore connections, ITargetStore targets, IProviderCatalog catalog, TimeProvider time,
        ILoggerFactory loggers, CancellationToken cancellationToken)
    {
        var validation = new Validation();
        var name = validation.Text("name", request?.Name, 100);
        var permissions = await PermissionJson.ParseAsync(request?.Permissions, org, validation, catalog, connections, targets, cancellationToken);
        if (!validation.IsValid)
        {
            return validation.Problem();
        }

        var (key, secret) = await KeyIssuer.CreateAsync(org, name!, permissions, keys, time, loggers, cancellationToken);
        return TypedResults.Created($"/v1/keys/{key.Id}", new CreatedKeyResponse(key.Id, secret.Reveal(), org, key.Name, key.Prefix,
            PermissionJson.ToJson(permissions), key.CreatedAt));
    }

    private static async Task<Ok<List<KeyResponse>>> ListAsync(string org, IApiKeyStore keys, CancellationToken cancellationToken)
    {
        var list = new List<KeyResponse>();
        await foreach (var key in keys.ListAsync(org, cancellationToken))
        {
            list.Add(KeyResponse.From(key));
        }

        return TypedResults.Ok(list);
    }

    private static async Task<Results<Ok<KeyResponse>, ProblemResult>> GetAsync(string id, ClaimsPrincipal user, IApiKeyStore keys, CancellationToken cancellationToken)
    {
        var key = await FindAsync(id, user, keys, cancellationToken);
        return key is null ? KeyNotFound() : TypedResults.Ok(KeyResponse.From(key));
    }

    private static async Task<Results<NoContent, ProblemResult>> DeleteAsync(string id, ClaimsPrincipal user, IApiKeyStore keys, ILoggerFactory loggers,
        CancellationToken cancellationToken)
    {
        var key = await FindAsync(id, user, keys, cancellationToken);
        if (key is null || !await keys.DeleteAsync(id, cancellationToken))
        {
            return KeyNotFound();
        }

        Log.KeyRevoked(loggers.CreateLogger("Valet.Keys"), id);
        return TypedResults.NoContent();
    }

    /// <summary>Body: <c>{"permissions": [...]}</c> or the bare array.</summary>
    private static async Task<Results<Ok<KeyResponse>, ProblemResult>> SetPermissionsAsync(string id, JsonElement body, ClaimsPrincipal user, IApiKeyStore keys,
        IConnectionStore connections, ITargetStore targets, IProviderCatalog catalog, ILoggerFactory loggers, CancellationToken cancellationToken)
    {
        var key = await FindAsync(id, user, keys, cancellationToken);
        if (key is null)
        {
            return KeyNotFound();
        }

        JsonElement? list = body.ValueKind switch
        {
            JsonValueKind.Array => body,
            // null is not "no permissions": replacing a key's access with nothing takes an explicit [].
            JsonValueKind.Object when body.TryGetProperty("permissions", out var inner) && inner.ValueKind != JsonValueKind.Null => inner,
            _ => null,
        };
        var validation = new Validation();
        if (list is null)
        {
            validation.Add("permissions", "is required: an array, or an object with a permissions array");
            return validation.Problem();
        }

        var permissions = await PermissionJson.ParseAsync(list, key.OrgId, validation, catalog, connections, targets, cancellationToken);
        if (!validation.IsValid)
        {
            return validation.Problem();
        }

        var updated = await keys.SetPermissionsAsync(id, permissions, cancellationToken);
        if (updated is null)
        {
            return KeyNotFound();
        }

        Log.KeyPermissionsChanged(loggers.CreateLogger("Valet.Keys"), id, permissions.Count);
        return TypedResults.Ok(KeyResponse.From(updated));
    }

    private static async Task<ApiKey?> FindAsync(string id, ClaimsPrincipal user, IApiKeyStore keys, CancellationToken cancellationToken)
    {
        var key = id.Length <= 64 ? await keys.FindAsync(id, cancellationToken) : null;
        return key is not null && user.CanOperate(key.OrgId) ? key : null;
    }

    private static ProblemResult KeyNotFound() => Problems.NotFound("key_not_found", "No such API key.");
}
