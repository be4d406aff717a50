using Valet.Core.Domain;
using Valet.Core.Stores;
using Valet.Storage.Data;

namespace Valet.Storage.Stores;

internal sealed class OrgStore(Db db, TimeProvider time) : StoreBase(db, time), IOrgStore
{
    private const string Insert = "INSERT INTO orgs (id, name, headless, created_at) VALUES (@Id, @Name, @Headless, @CreatedAt)";

    public Task CreateAsync(Org org, CancellationToken cancellationToken) =>
        WriteAsync($"An org with id '{org.Id}' already exists.", c => c.ExecAsync(Insert, Args(org), null, cancellationToken), cancellationToken);

    public Task EnsureAsync(Org org, CancellationToken cancellationToken) =>
        ExecAsync(Insert + " ON CONFLICT (id) DO NOTHING", Args(org), cancellationToken);

    public async ValueTask<Org?> FindAsync(string id, CancellationToken cancellationToken) =>
        await QueryOneAsync("SELECT * FROM orgs WHERE id = @id", new { id }, Map, cancellationToken);

    public IAsyncEnumerable<Org> ListAsync(CancellationToken cancellationToken) =>
        Yield(QueryAsync("SELECT * FROM orgs ORDER BY id", null, Map, cancellationToken));

    public Task<Org?> SetHeadlessAsync(string id, bool headless, CancellationToken cancellationToken) =>
        QueryOneAsync("UPDATE orgs SET headless = @headless WHERE id = @id RETURNING *", new { id, headless }, Map, cancellationToken);

    public Task SetDefaultConnectionAsync(string orgId, string provider, string connectionId, CancellationToken cancellationToken) =>
        WriteAsync(
            $"The org '{orgId}' or the connection '{connectionId}' does not exist.",
            c => c.ExecAsync(
                """
                INSERT INTO org_default_connections (org_id, provider, connection_id) VALUES (@orgId, @provider, @connectionId)
                ON CONFLICT (org_id, provider) DO UPDATE SET connection_id = excluded.connection_id
                """,
                new { orgId, provider, connectionId }, null, cancellationToken),
            cancellationToken);

    public async ValueTask<string?> FindDefaultConnectionAsync(string orgId, string provider, CancellationToken cancellationToken)
    {
        await using var connection = await Db.OpenAsync(cancellationToken);
        return await connection.ScalarAsync<string>(
            "SELECT connection_id FROM org_default_connections WHERE org_id = @orgId AND provider = @provider",
            new { orgId, provider }, null, cancellationToken);
    }

    private object Args(Org org) => new { org.Id, org.Name, org.Headless, CreatedAt = Db.Time(OrNow(org.CreatedAt)) };

    private static Org Map(Row r) => new()
    {
        Id = r.Str("id"),
        Name = r.Str("name"),
        Headless = r.Bool("headless"),
        CreatedAt = r.Time("created_at"),
    };
}
