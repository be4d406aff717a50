using System.Text.Json;
using Valet.Core.Domain;
using Valet.Core.Stores;
using Valet.Storage.Data;

namespace Valet.Storage.Stores;

internal sealed class ApiKeyStore(Db db, TimeProvider time) : StoreBase(db, time), IApiKeyStore
{
    public Task CreateAsync(ApiKey key, CancellationToken cancellationToken) =>
        WriteAsync(
            $"The API key '{key.Id}' or its prefix already exists, or its org is unknown.",
            c => c.ExecAsync(
                """
                INSERT INTO api_keys (id, org_id, name, prefix, hash, permissions, created_at, last_used_at)
                VALUES (@Id, @OrgId, @Name, @Prefix, @Hash, @Permissions, @CreatedAt, @LastUsedAt)
                """,
                new
                {
                    key.Id,
                    key.OrgId,
                    key.Name,
                    key.Prefix,
                    key.Hash,
                    Permissions = ToJson(key.Permissions),
                    CreatedAt = Db.Time(OrNow(key.CreatedAt)),
                    LastUsedAt = Db.Time(key.LastUsedAt),
                },
                null, cancellationToken),
            cancellationToken);

    public async ValueTask<ApiKey?> FindByPrefixAsync(string prefix, CancellationToken cancellationToken) =>
        await QueryOneAsync("SELECT * FROM api_keys WHERE prefix = @prefix", new { prefix }, Map, cancellationToken);

    public async ValueTask<ApiKey?> FindAsync(string id, CancellationToken cancellationToken) =>
        await QueryOneAsync("SELECT * FROM api_keys WHERE id = @id", new { id }, Map, cancellationToken);

    public IAsyncEnumerable<ApiKey> ListAsync(string orgId, CancellationToken cancellationToken) =>
        Yield(QueryAsync("SELECT * FROM api_keys WHERE org_id = @orgId ORDER BY created_at, id", new { orgId }, Map, cancellationToken));

    public Task<ApiKey?> SetPermissionsAsync(string id, IReadOnlyList<Permission> permissions, CancellationToken cancellationToken) =>
        QueryOneAsync(
            "UPDATE api_keys SET permissions = @permissions WHERE id = @id RETURNING *",
            new { id, permissions = ToJson(permissions) }, Map, cancellationToken);

    public async Task<bool> DeleteAsync(string id, CancellationToken cancellationToken) =>
        await ExecAsync("DELETE FROM api_keys WHERE id = @id", new { id }, cancellationToken) > 0;

    /// <summary>The API's own shape: <c>[{"connection":"conn_…"},{"provider":"github"}]</c>.</summary>
    // {"connection": ID}, with "reveal": "true" beside it only when set, so rows written before reveal existed read the same.
    private const string RevealMember = "reveal";

    private static string ToJson(IReadOnlyList<Permission> permissions) =>
        JsonSerializer.Serialize(permissions.Select(p =>
        {
            var item = new Dictionary<string, string> { [KindText(p.Kind)] = p.Value };
            if (p.Reveal)
            {
                item[RevealMember] = "true";
            }

            return item;
        }));

    private static List<Permission> FromJson(string json) =>
        [.. JsonSerializer.Deserialize<Dictionary<string, string>[]>(json)!.Select(d =>
        {
            var kind = d.Single(p => p.Key != RevealMember);
            return new Permission(ParseKind(kind.Key), kind.Value) { Reveal = d.ContainsKey(RevealMember) };
        })];

    private static string KindText(PermissionKind kind) => kind switch
    {
        PermissionKind.Connection => "connection",
        PermissionKind.Provider => "provider",
        PermissionKind.Target => "target",
        _ => throw new ArgumentOutOfRangeException(nameof(kind), kind, null),
    };

    private static PermissionKind ParseKind(string text) => text switch
    {
        "connection" => PermissionKind.Connection,
        "provider" => PermissionKind.Provider,
        "target" => PermissionKind.Target,
        _ => throw new InvalidOperationException($"Unknown permission kind '{text}' in the database."),
    };

    private static ApiKey Map(Row r) => new()
    {
        Id = r.Str("id"),
        OrgId = r.Str("org_id"),
        Name = r.Str("name"),
        Prefix = r.Str("prefix"),
        Hash = r.Bytes("hash"),
        Permissions = FromJson(r.Str("permissions")),
        CreatedAt = r.Time("created_at"),
        LastUsedAt = r.TimeOrNull("last_used_at"),
    };
}
