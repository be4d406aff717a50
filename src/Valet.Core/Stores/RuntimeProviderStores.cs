namespace Valet.Core.Stores;

/// <summary>A provider registered at run time, as stored: the operator's JSON and what discovery resolved then.</summary>
public sealed record RuntimeProviderRow
{
    public required string Id { get; init; }

    /// <summary>The JSON object as the operator sent it (snake-case keys of SPEC §3).</summary>
    public required string Document { get; init; }

    /// <summary>Endpoints found by discovery at registration (JSON), so other nodes need not discover again; null without an issuer.</summary>
    public string? Resolved { get; init; }

    public long Version { get; init; }
    public DateTimeOffset CreatedAt { get; init; }
    public DateTimeOffset UpdatedAt { get; init; }
}

public enum RuntimeProviderDeletion
{
    Deleted,
    NotFound,

    /// <summary>Connections still use it: nothing was deleted.</summary>
    InUse,
}

public interface IRuntimeProviderStore
{
    Task<IReadOnlyList<RuntimeProviderRow>> ListAsync(CancellationToken cancellationToken);

    ValueTask<RuntimeProviderRow?> FindAsync(string id, CancellationToken cancellationToken);

    /// <summary>Inserts or replaces the row (keeping created_at); returns the stored row and whether it was created.</summary>
    Task<(RuntimeProviderRow Row, bool Created)> UpsertAsync(RuntimeProviderRow row, CancellationToken cancellationToken);

    /// <summary>Deletes the row unless a connection uses the provider, checked in the same statement.</summary>
    Task<RuntimeProviderDeletion> DeleteAsync(string id, CancellationToken cancellationToken);

    /// <summary>How many connections (any org) use provider <paramref name="id"/>.</summary>
    Task<int> CountConnectionsAsync(string id, CancellationToken cancellationToken);
}
