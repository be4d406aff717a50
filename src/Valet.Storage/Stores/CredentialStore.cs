using Valet.Core.Domain;
using Valet.Core.Stores;
using Valet.Core.Vault;
using Valet.Storage.Data;

namespace Valet.Storage.Stores;

internal sealed class CredentialStore(Db db, IVault vault, TimeProvider time) : StoreBase(db, time), ICredentialStore
{
    public Task CreateAsync(Credential credential, CancellationToken cancellationToken) =>
        WriteAsync(
            $"The credential '{credential.Id}' already exists or its org is unknown.",
            c => c.ExecAsync(
                """
                INSERT INTO credentials (id, org_id, provider, client_id, client_secret, created_at)
                VALUES (@Id, @OrgId, @Provider, @ClientId, @ClientSecret, @CreatedAt)
                """,
                new
                {
                    credential.Id,
                    credential.OrgId,
                    credential.Provider,
                    credential.ClientId,
                    ClientSecret = credential.ClientSecret is { IsEmpty: false } secret
                        ? vault.SealString(secret.Reveal(), Context(credential.Id))
                        : null,
                    CreatedAt = Db.Time(OrNow(credential.CreatedAt)),
                },
                null, cancellationToken),
            cancellationToken);

    public async ValueTask<Credential?> FindAsync(string id, CancellationToken cancellationToken) =>
        await QueryOneAsync("SELECT * FROM credentials WHERE id = @id", new { id }, Map, cancellationToken);

    public IAsyncEnumerable<Credential> ListAsync(string orgId, CancellationToken cancellationToken) =>
        Yield(QueryAsync("SELECT * FROM credentials WHERE org_id = @orgId ORDER BY created_at, id", new { orgId }, Map, cancellationToken));

    public Task<bool> DeleteAsync(string id, CancellationToken cancellationToken) =>
        WriteAsync(
            $"The credential '{id}' is still used by connections.",
            async c => await c.ExecAsync("DELETE FROM credentials WHERE id = @id", new { id }, null, cancellationToken) > 0,
            cancellationToken);

    private static SealContext Context(string id) => new("credentials", id, "client_secret");

    private Credential Map(Row r)
    {
        var id = r.Str("id");
        var sealedSecret = r.BytesOrNull("client_secret");
        return new Credential
        {
            Id = id,
            OrgId = r.Str("org_id"),
            Provider = r.Str("provider"),
            ClientId = r.Str("client_id"),
            ClientSecret = sealedSecret is null ? null : new Secret(vault.OpenString(sealedSecret, Context(id))),
            CreatedAt = r.Time("created_at"),
        };
    }
}
