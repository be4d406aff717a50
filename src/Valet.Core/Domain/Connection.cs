namespace Valet.Core.Domain;

public enum ConnectionStatus
{
    Active,

    /// <summary>The grant is dead (invalid_grant, revoked, refresh token expired): a person must reconnect.</summary>
    ReauthRequired,
}

/// <summary>One person's grant at one provider. Unique on (OrgId, Provider, AccountId).</summary>
public sealed record Connection
{
    public required string Id { get; init; }
    public required string OrgId { get; init; }
    public required string Provider { get; init; }

    /// <summary>The BYOC credential this grant is pinned to; null means the platform credential of the provider.</summary>
    public string? CredentialId { get; init; }

    public required string AccountId { get; init; }
    public string? AccountLogin { get; init; }
    public string? AccountEmail { get; init; }

    /// <summary>Granted scopes; null when unknown (an unknown grant never blocks a call).</summary>
    public IReadOnlyList<string>? Scopes { get; init; }

    public required Secret AccessToken { get; init; }
    public Secret? RefreshToken { get; init; }
    public string TokenType { get; init; } = "Bearer";
    public DateTimeOffset? ExpiresAt { get; init; }

    public ConnectionStatus Status { get; init; } = ConnectionStatus.Active;

    /// <summary>Coarse machine reason for the status (e.g. <c>invalid_grant</c>); never provider prose.</summary>
    public string? StatusReason { get; init; }

    /// <summary>Per-connection API base (Salesforce <c>instance_url</c>, a self-hosted GitLab); null = the catalog's.</summary>
    public string? ApiBaseUrl { get; init; }

    /// <summary>
    /// Values of the provider's connection parameters (a Zendesk <c>subdomain</c>), validated when given; its URLs are bound
    /// to them (<see cref="Providers.ConnectionParameters.Bind"/>). Null for providers without parameters.
    /// </summary>
    public IReadOnlyDictionary<string, string>? Parameters { get; init; }

    /// <summary>Incremented on every write; used for optimistic checks.</summary>
    public long Version { get; init; }

    public DateTimeOffset CreatedAt { get; init; }
    public DateTimeOffset UpdatedAt { get; init; }
    public DateTimeOffset? LastRefreshedAt { get; init; }

    /// <summary>When the background refresher should next look at this connection (null = never).</summary>
    public DateTimeOffset? NextRefreshAt { get; init; }

    /// <summary>Consecutive transient refresh failures (drives backoff).</summary>
    public int RefreshFailures { get; init; }

    /// <summary>
    /// <paramref name="other"/> holds the same grant: the same tokens and the same client. Every grant write (connect,
    /// import, refresh) changes the access token, so a row that differs here was given a new grant since.
    /// </summary>
    public bool HoldsSameGrant(Connection other)
    {
        ArgumentNullException.ThrowIfNull(other);
        return AccessToken == other.AccessToken && RefreshToken == other.RefreshToken && CredentialId == other.CredentialId;
    }

    /// <summary>
    /// This row, a newer grant than <paramref name="spentFrom"/> (the row a refresh read before calling the provider), with
    /// the refresh token that refresh was given (<paramref name="refreshed"/>) — when the newer grant kept the refresh token
    /// the refresh spent (an import or a re-consent whose answer had none keeps the stored one), and the provider rotated
    /// it. Dropping the refresh's answer then would leave the row holding a refresh token the provider has already
    /// consumed: the next refresh would present it, and a rotating provider revokes the whole grant on reuse. Null when
    /// the newer grant has its own refresh token (or another client's), or the refresh was not given a new one.
    /// </summary>
    public Connection? WithRotatedRefreshToken(Connection spentFrom, Connection refreshed)
    {
        ArgumentNullException.ThrowIfNull(spentFrom);
        ArgumentNullException.ThrowIfNull(refreshed);
        return spentFrom.RefreshToken is not null && RefreshToken == spentFrom.RefreshToken && CredentialId == spentFrom.CredentialId
            && refreshed.RefreshToken is not null && refreshed.RefreshToken != spentFrom.RefreshToken
            ? this with { RefreshToken = refreshed.RefreshToken }
            : null;
    }
}
