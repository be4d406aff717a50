using System.Data.Common;
using Valet.Core.Domain;
using Valet.Core.Vault;
using Valet.Storage.Data;

namespace Valet.Storage.Stores;

/// <summary>Row mapping and the shared UPDATE of <c>connections</c>, used by the store and by both lock flavours.</summary>
internal sealed class ConnectionRows(Db db, IVault vault)
{
    public const string Table = "connections";

    /// <summary>Every mutable column; the version moves by one on each write.</summary>
    public const string SetMutable =
        """
        credential_id = @CredentialId, account_login = @AccountLogin, account_email = @AccountEmail, scopes = @Scopes,
        access_token = @AccessToken, refresh_token = @RefreshToken, token_type = @TokenType, expires_at = @ExpiresAt,
        status = @Status, status_reason = @StatusReason, api_base_url = @ApiBaseUrl, parameters = @Parameters, version = version + 1,
        updated_at = @UpdatedAt, last_refreshed_at = @LastRefreshedAt, next_refresh_at = @NextRefreshAt,
        refresh_failures = @RefreshFailures
        """;

    public const string InsertSql =
        """
        INSERT INTO connections (id, org_id, provider, credential_id, account_id, account_login, account_email, scopes,
            access_token, refresh_token, token_type, expires_at, status, status_reason, api_base_url, parameters, version,
            created_at, updated_at, last_refreshed_at, next_refresh_at, refresh_failures)
        VALUES (@Id, @OrgId, @Provider, @CredentialId, @AccountId, @AccountLogin, @AccountEmail, @Scopes,
            @AccessToken, @RefreshToken, @TokenType, @ExpiresAt, @Status, @StatusReason, @ApiBaseUrl, @Parameters, 1,
            @CreatedAt, @UpdatedAt, @LastRefreshedAt, @NextRefreshAt, @RefreshFailures)
        RETURNING *
        """;

    public static SealContext AccessContext(string id) => new(Table, id, "access_token");

    public static SealContext RefreshContext(string id) => new(Table, id, "refresh_token");

    /// <summary>Parameters for <paramref name="c"/> stored under row <paramref name="id"/> (secrets sealed to that row).</summary>
    public ConnectionArgs Args(Connection c, string id, DateTimeOffset createdAt, DateTimeOffset updatedAt) => new()
    {
        Id = id,
        OrgId = c.OrgId,
        Provider = c.Provider,
        CredentialId = c.CredentialId,
        AccountId = c.AccountId,
        AccountLogin = c.AccountLogin,
        AccountEmail = c.AccountEmail,
        Scopes = Sql.ToJson(c.Scopes),
        AccessToken = vault.SealString(c.AccessToken.Reveal(), AccessContext(id)),
        RefreshToken = c.RefreshToken is { IsEmpty: false } refresh ? vault.SealString(refresh.Reveal(), RefreshContext(id)) : null,
        TokenType = c.TokenType,
        ExpiresAt = db.Time(c.ExpiresAt),
        Status = StatusText(c.Status),
        StatusReason = c.StatusReason,
        ApiBaseUrl = c.ApiBaseUrl,
        Parameters = Sql.ToJsonMap(c.Parameters),
        Version = c.Version,
        CreatedAt = db.Time(createdAt),
        UpdatedAt = db.Time(updatedAt),
        LastRefreshedAt = db.Time(c.LastRefreshedAt),
        NextRefreshAt = db.Time(c.NextRefreshAt),
        RefreshFailures = c.RefreshFailures,
    };

    public Task<Connection?> ReadAsync(DbConnection connection, DbTransaction? transaction, string id, bool forUpdate, CancellationToken cancellationToken) =>
        connection.ReadOneAsync(
            db, "SELECT * FROM connections WHERE id = @id" + (forUpdate ? db.ForUpdate : string.Empty), new { id }, transaction, Map, cancellationToken);

    /// <summary>Writes every mutable column of <paramref name="c"/> to row <c>c.Id</c> unconditionally (the caller holds the lock).</summary>
    public Task<Connection?> WriteLockedAsync(DbConnection connection, DbTransaction? transaction, Connection c, DateTimeOffset now, CancellationToken cancellationToken) =>
        connection.ReadOneAsync(
            db, $"UPDATE connections SET {SetMutable} WHERE id = @Id RETURNING *", Args(c, c.Id, now, now), transaction, Map, cancellationToken);

    /// <summary>The same, only while the row still has <c>c.Version</c>; null when it does not (or is gone).</summary>
    public Task<Connection?> WriteIfVersionAsync(DbConnection connection, Connection c, DateTimeOffset now, CancellationToken cancellationToken) =>
        connection.ReadOneAsync(
            db, $"UPDATE connections SET {SetMutable} WHERE id = @Id AND version = @Version RETURNING *", Args(c, c.Id, now, now), null, Map,
            cancellationToken);

    public Connection Map(Row r)
    {
        var id = r.Str("id");
        var refresh = r.BytesOrNull("refresh_token");
        return new Connection
        {
            Id = id,
            OrgId = r.Str("org_id"),
            Provider = r.Str("provider"),
            CredentialId = r.StrOrNull("credential_id"),
            AccountId = r.Str("account_id"),
            AccountLogin = r.StrOrNull("account_login"),
            AccountEmail = r.StrOrNull("account_email"),
            Scopes = Sql.FromJson(r.StrOrNull("scopes")),
            AccessToken = new Secret(vault.OpenString(r.Bytes("access_token"), AccessContext(id))),
            RefreshToken = refresh is null ? null : new Secret(vault.OpenString(refresh, RefreshContext(id))),
            TokenType = r.Str("token_type"),
            ExpiresAt = r.TimeOrNull("expires_at"),
            Status = ParseStatus(r.Str("status")),
            StatusReason = r.StrOrNull("status_reason"),
            ApiBaseUrl = r.StrOrNull("api_base_url"),
            Parameters = Sql.FromJsonMap(r.StrOrNull("parameters")),
            Version = r.Long("version"),
            CreatedAt = r.Time("created_at"),
            UpdatedAt = r.Time("updated_at"),
            LastRefreshedAt = r.TimeOrNull("last_refreshed_at"),
            NextRefreshAt = r.TimeOrNull("next_refresh_at"),
            RefreshFailures = r.Int("refresh_failures"),
        };
    }

    private static string StatusText(ConnectionStatus status) => status switch
    {
        ConnectionStatus.Active => "active",
        ConnectionStatus.ReauthRequired => "reauth_required",
        _ => throw new ArgumentOutOfRangeException(nameof(status), status, null),
    };

    private static ConnectionStatus ParseStatus(string text) => text switch
    {
        "active" => ConnectionStatus.Active,
        "reauth_required" => ConnectionStatus.ReauthRequired,
        _ => throw new InvalidOperationException($"Unknown connection status '{text}' in the database."),
    };
}

/// <summary>Dapper parameters of a connection row. Timestamps are already in the backend's representation.</summary>
internal sealed class ConnectionArgs
{
    public required string Id { get; init; }
    public required string OrgId { get; init; }
    public required string Provider { get; init; }
    public string? CredentialId { get; init; }
    public required string AccountId { get; init; }
    public string? AccountLogin { get; init; }
    public string? AccountEmail { get; init; }
    public string? Scopes { get; init; }
    public required byte[] AccessToken { get; init; }
    public byte[]? RefreshToken { get; init; }
    public required string TokenType { get; init; }
    public object? ExpiresAt { get; init; }
    public required string Status { get; init; }
    public string? StatusReason { get; init; }
    public string? ApiBaseUrl { get; init; }
    public string? Parameters { get; init; }
    public long Version { get; init; }
    public object? CreatedAt { get; init; }
    public object? UpdatedAt { get; init; }
    public object? LastRefreshedAt { get; init; }
    public object? NextRefreshAt { get; init; }
    public int RefreshFailures { get; init; }
}
