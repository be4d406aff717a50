using Valet.Core.Domain;
using Valet.Core.OAuth;
using Valet.Core.Providers;
using Microsoft.Extensions.Options;
using Valet.Core.Stores;
using Valet.Core.Tokens;

namespace Valet.Core.Connections;

/// <summary>A grant to store: from a completed flow or an import.</summary>
public sealed record GrantToStore
{
    public required string OrgId { get; init; }
    public required ProviderDefinition Provider { get; init; }
    public string? CredentialId { get; init; }
    public required AccountIdentity Account { get; init; }
    public required Secret AccessToken { get; init; }
    /// <summary>Null: the grant came without one, and a stored refresh token is kept (in the same statement as the write).</summary>
    public Secret? RefreshToken { get; init; }

    /// <summary>
    /// <see cref="RefreshToken"/> is null but the connection already holds one, which the write keeps: schedule the
    /// background refresh as for a grant that has one.
    /// </summary>
    public bool KeepsStoredRefreshToken { get; init; }
    public string TokenType { get; init; } = "Bearer";
    public DateTimeOffset? ExpiresAt { get; init; }

    /// <summary>Null = unknown.</summary>
    public IReadOnlyList<string>? Scopes { get; init; }

    public string? ApiBaseUrl { get; init; }

    /// <summary>The connection parameters the grant was made with (already validated against <see cref="Provider"/>).</summary>
    public IReadOnlyDictionary<string, string>? Parameters { get; init; }

    /// <summary><c>connect</c> or <c>import</c>, for the audit trail.</summary>
    public required string Source { get; init; }

    /// <summary>Also make the connection the org's default for the provider, in the same transaction (dashboard sign-in).</summary>
    public bool MakeDefault { get; init; }
}

/// <summary>
/// Stores grants: upsert on (org, provider, account id), managed targets from the catalog, audit. Shared by the flow
/// engine and import so both produce identical connections.
/// </summary>
public sealed class ConnectionRegistry(IConnectionStore connections, ITargetStore targets, IAuditStore audit, TimeProvider time,
    IOptionsMonitor<RefreshOptions> refresh)
{
    public async Task<(Connection Connection, bool Created)> SaveAsync(GrantToStore grant, CancellationToken cancellationToken)
    {
        var now = time.GetUtcNow();

        // A re-consent whose answer has no refresh token (Google without prompt=consent) keeps the stored one, as an
        // import without one does: it keeps its background refresh too (import says so itself; the flow cannot know).
        var keepsStored = grant.KeepsStoredRefreshToken || (grant.RefreshToken is null
            && await connections.FindByAccountAsync(grant.OrgId, grant.Provider.Id, grant.Account.Id, cancellationToken) is
                { RefreshToken: not null, Status: ConnectionStatus.Active } existing
            && existing.CredentialId == grant.CredentialId); // one the provider refused (reauth_required) is not scheduled again
        var row = new Connection
        {
            Id = Ids.New("conn"),
            OrgId = grant.OrgId,
            Provider = grant.Provider.Id,
            CredentialId = grant.CredentialId,
            AccountId = grant.Account.Id,
            AccountLogin = grant.Account.Login,
            AccountEmail = grant.Account.Email,
            Scopes = grant.Scopes,
            AccessToken = grant.AccessToken,
            RefreshToken = grant.RefreshToken,
            TokenType = grant.TokenType,
            ExpiresAt = grant.ExpiresAt,
            Status = ConnectionStatus.Active,
            ApiBaseUrl = grant.ApiBaseUrl,
            Parameters = grant.Parameters,
            CreatedAt = now,
            UpdatedAt = now,
            LastRefreshedAt = null,
            // The same schedule the refresher keeps: ahead of expiry, only if it can refresh.
            NextRefreshAt = grant.RefreshToken is null && !keepsStored
                ? null
                : RefreshPolicy.NextRefresh(grant.ExpiresAt, now, refresh.CurrentValue.ProactiveLead),
            RefreshFailures = 0,
        };
        var (connection, created) = grant.MakeDefault
            ? await connections.UpsertAsDefaultAsync(row, cancellationToken)
            : await connections.UpsertAsync(row, cancellationToken);

        await EnsureManagedTargetsAsync(connection, grant.Provider, cancellationToken);
        await audit.AppendAsync(new AuditEvent
        {
            OrgId = connection.OrgId,
            Kind = created ? "connection.created" : "connection.updated",
            ConnectionId = connection.Id,
            Detail = grant.Source,
            At = now,
        }, cancellationToken);
        return (connection, created);
    }

    private async Task EnsureManagedTargetsAsync(Connection connection, ProviderDefinition provider, CancellationToken cancellationToken)
    {
        if (provider.Targets.Count == 0)
        {
            return;
        }

        var existing = new HashSet<string>(StringComparer.Ordinal);
        await foreach (var target in targets.ListByConnectionAsync(connection.Id, cancellationToken))
        {
            existing.Add(target.Name);
        }

        foreach (var definition in provider.Targets.Where(t => !existing.Contains(t.Name)))
        {
            // Recorded for display; the proxy resolves a managed target against the provider as configured now (ApiBases.Resolve).
            if (ApiBases.ManagedTargetBase(provider, connection, definition) is not { } baseUrl)
            {
                continue;
            }

            await targets.CreateAsync(new Target
            {
                Id = Ids.New("tgt"),
                OrgId = connection.OrgId,
                ConnectionId = connection.Id,
                Name = definition.Name,
                Provider = provider.Id,
                Managed = true,
                BaseUrl = baseUrl.AbsolutePath == "/" ? baseUrl.GetLeftPart(UriPartial.Authority) : baseUrl.AbsoluteUri,
                RequiredScopes = definition.RequiredScopes,
                CreatedAt = time.GetUtcNow(),
            }, cancellationToken);
        }
    }
}
