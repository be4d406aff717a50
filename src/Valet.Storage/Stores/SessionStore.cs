using Valet.Core.Stores;
using Valet.Core.Vault;
using Valet.Storage.Data;

namespace Valet.Storage.Stores;

internal sealed class SessionStore(Db db, TimeProvider time) : StoreBase(db, time), ISessionStore
{
    public async Task CreateAsync(OperatorSessionRecord session, DateTimeOffset now, CancellationToken cancellationToken)
    {
        await using var connection = await Db.OpenAsync(cancellationToken);
        await connection.ExecAsync("DELETE FROM sessions WHERE expires_at < @now", new { now = Db.Time(now) }, null, cancellationToken);
        await connection.ExecAsync(
            "INSERT INTO sessions (id, org_id, operator, created_at, expires_at) VALUES (@Id, @OrgId, @Operator, @CreatedAt, @ExpiresAt)",
            new { session.Id, session.OrgId, session.Operator, CreatedAt = Db.Time(session.CreatedAt), ExpiresAt = Db.Time(session.ExpiresAt) },
            null, cancellationToken);
    }

    public async ValueTask<bool> IsActiveAsync(string id, DateTimeOffset now, CancellationToken cancellationToken)
    {
        await using var connection = await Db.OpenAsync(cancellationToken);
        return await connection.ScalarAsync<int>("SELECT 1 FROM sessions WHERE id = @id AND expires_at > @now",
            new { id, now = Db.Time(now) }, null, cancellationToken) == 1;
    }

    public async Task<bool> DeleteAsync(string id, CancellationToken cancellationToken) =>
        await ExecAsync("DELETE FROM sessions WHERE id = @id", new { id }, cancellationToken) > 0;
}

internal sealed class DataProtectionKeyStore(Db db, IVault vault, TimeProvider time) : StoreBase(db, time), IDataProtectionKeyStore
{
    public async Task<IReadOnlyList<string>> ListAsync(CancellationToken cancellationToken)
    {
        var rows = await QueryAsync("SELECT name, xml FROM data_protection_keys ORDER BY created_at, name", null,
            r => (Name: r.Str("name"), Sealed: r.Bytes("xml")), cancellationToken);
        var elements = new List<string>(rows.Count);
        foreach (var (name, sealedXml) in rows)
        {
            try
            {
                elements.Add(vault.OpenString(sealedXml, Context(name)));
            }
            catch (VaultException)
            {
                // Sealed under a vault key no longer configured: that key is gone, and so are the sessions it protected.
            }
        }

        return elements;
    }

    public Task AddAsync(string name, string xml, CancellationToken cancellationToken) =>
        ExecAsync("INSERT INTO data_protection_keys (name, xml, created_at) VALUES (@name, @xml, @createdAt)",
            new { name, xml = vault.SealString(xml, Context(name)), createdAt = Db.Time(Now()) }, cancellationToken);

    private static SealContext Context(string name) => new("data_protection_keys", name, "xml");
}

internal sealed class SignInLinkStore(Db db, TimeProvider time) : StoreBase(db, time), ISignInLinkStore
{
    public async Task CreateAsync(SignInLinkRecord link, DateTimeOffset now, CancellationToken cancellationToken)
    {
        await using var connection = await Db.OpenAsync(cancellationToken);
        await connection.ExecAsync("DELETE FROM signin_links WHERE expires_at < @now", new { now = Db.Time(now) }, null, cancellationToken);
        await connection.ExecAsync(
            "INSERT INTO signin_links (token_hash, org_id, operator, return_path, expires_at) VALUES (@TokenHash, @OrgId, @Operator, @ReturnPath, @ExpiresAt)",
            new { link.TokenHash, link.OrgId, link.Operator, link.ReturnPath, ExpiresAt = Db.Time(link.ExpiresAt) }, null, cancellationToken);
    }

    public Task<SignInLinkRecord?> ConsumeAsync(string tokenHash, CancellationToken cancellationToken) =>
        QueryOneAsync("DELETE FROM signin_links WHERE token_hash = @tokenHash RETURNING *", new { tokenHash }, r => new SignInLinkRecord
        {
            TokenHash = r.Str("token_hash"),
            OrgId = r.Str("org_id"),
            Operator = r.Str("operator"),
            ReturnPath = r.Str("return_path"),
            ExpiresAt = r.Time("expires_at"),
        }, cancellationToken);
}
