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
        await QueryOneAsync(WithUsage + " WHERE k.id = @id", new { id }, Map, cancellationToken);

    public IAsyncEnumerable<ApiKey> ListAsync(string orgId, CancellationToken cancellationToken) =>
        Yield(QueryAsync(WithUsage + " WHERE k.org_id = @orgId ORDER BY k.created_at, k.id", new { orgId }, Map, cancellationToken));

    public async Task<ApiKey?> SetPermissionsAsync(string id, IReadOnlyList<Permission> permissions, CancellationToken cancellationToken) =>
        await ExecAsync("UPDATE api_keys SET permissions = @permissions WHERE id = @id", new { id, permissions = ToJson(permissions) }, cancellationToken) > 0
            ? await FindAsync(id, cancellationToken)
            : null;

    /// <summary>
    /// Stamps key <paramref name="id"/> as used at <paramref name="at"/>, never moving its stamp back (two nodes may record
    /// out of order). A key deleted meanwhile gets no row: the insert selects from api_keys, and a revocation committed
    /// between that read and the insert (a foreign-key conflict on PostgreSQL) is the same outcome, not an error.
    /// </summary>
    public async Task RecordUseAsync(string id, DateTimeOffset at, CancellationToken cancellationToken)
    {
        try
        {
            await ExecAsync(
                $"""
                INSERT INTO api_key_usage (key_id, last_used_at) SELECT id, @at FROM api_keys WHERE id = @id
                ON CONFLICT (key_id) DO UPDATE SET last_used_at = {Db.Greatest("api_key_usage.last_used_at", "excluded.last_used_at")}
                """,
                new { id, at = Db.Time(at) }, cancellationToken);
        }
        catch (System.Data.Common.DbException e) when (Db.IsConflict(e))
        {
            // The key was revoked while its use was being recorded: nothing to stamp.
        }
    }

    /// <summary>The key's own columns, with its last use from api_key_usage (0011_key_usage.sql) rather than the unused column.</summary>
    private const string WithUsage =
        "SELECT k.id, k.org_id, k.name, k.prefix, k.hash, k.permissions, k.created_at, u.last_used_at " +
        "FROM api_keys k LEFT JOIN api_key_usage u ON u.key_id = k.id";

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
