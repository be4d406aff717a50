using Valet.Core.Domain;
using Valet.Core.Stores;
using Valet.Storage.Data;

namespace Valet.Storage.Stores;

internal sealed class TargetStore(Db db, TimeProvider time) : StoreBase(db, time), ITargetStore
{
    public Task CreateAsync(Target target, CancellationToken cancellationToken) =>
        WriteAsync(
            $"The target '{target.Id}' exists, its name '{target.Name}' is taken on that connection, or its connection is unknown.",
            c => c.ExecAsync(
                """
                INSERT INTO targets (id, org_id, connection_id, name, provider, managed, base_url, required_scopes, created_at)
                VALUES (@Id, @OrgId, @ConnectionId, @Name, @Provider, @Managed, @BaseUrl, @RequiredScopes, @CreatedAt)
                """,
                new
                {
                    target.Id,
                    target.OrgId,
                    target.ConnectionId,
                    target.Name,
                    target.Provider,
                    target.Managed,
                    target.BaseUrl,
                    RequiredScopes = Sql.ToJson(target.RequiredScopes),
                    CreatedAt = Db.Time(OrNow(target.CreatedAt)),
                },
                null, cancellationToken),
            cancellationToken);

    public async ValueTask<Target?> FindAsync(string id, CancellationToken cancellationToken) =>
        await QueryOneAsync("SELECT * FROM targets WHERE id = @id", new { id }, Map, cancellationToken);

    public IAsyncEnumerable<Target> ListAsync(string orgId, CancellationToken cancellationToken) =>
        Yield(QueryAsync("SELECT * FROM targets WHERE org_id = @orgId ORDER BY created_at, id", new { orgId }, Map, cancellationToken));

    public IAsyncEnumerable<Target> ListByConnectionAsync(string connectionId, CancellationToken cancellationToken) =>
        Yield(QueryAsync("SELECT * FROM targets WHERE connection_id = @connectionId ORDER BY created_at, id", new { connectionId }, Map, cancellationToken));

    public async Task<bool> DeleteAsync(string id, CancellationToken cancellationToken) =>
        await ExecAsync("DELETE FROM targets WHERE id = @id", new { id }, cancellationToken) > 0;

    private static Target Map(Row r) => new()
    {
        Id = r.Str("id"),
        OrgId = r.Str("org_id"),
        ConnectionId = r.Str("connection_id"),
        Name = r.Str("name"),
        Provider = r.Str("provider"),
        Managed = r.Bool("managed"),
        BaseUrl = r.Str("base_url"),
        RequiredScopes = Sql.FromJson(r.Str("required_scopes")) ?? [],
        CreatedAt = r.Time("created_at"),
    };
}
