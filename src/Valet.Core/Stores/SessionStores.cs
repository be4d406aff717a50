namespace Valet.Core.Stores;

/// <summary>One signed-in operator browser. The cookie names the row; the row's absence means the session is over.</summary>
public sealed record OperatorSessionRecord
{
    public required string Id { get; init; }
    public required string OrgId { get; init; }
    public required string Operator { get; init; }
    public required DateTimeOffset CreatedAt { get; init; }
    public required DateTimeOffset ExpiresAt { get; init; }
}

/// <summary>Server-side record of dashboard sessions, shared by every node: sign-out deletes the row on all of them at once.</summary>
public interface ISessionStore
{
    /// <summary>Stores the session and drops sessions that expired before <paramref name="now"/>.</summary>
    Task CreateAsync(OperatorSessionRecord session, DateTimeOffset now, CancellationToken cancellationToken);

    /// <summary>True when the session exists and has not expired.</summary>
    ValueTask<bool> IsActiveAsync(string id, DateTimeOffset now, CancellationToken cancellationToken);

    Task<bool> DeleteAsync(string id, CancellationToken cancellationToken);
}

/// <summary>
/// The Data Protection key ring (XML elements, one per key), sealed by the vault at rest. Keys are only added: the
/// framework expires them itself and never deletes one.
/// </summary>
public interface IDataProtectionKeyStore
{
    /// <summary>Every key element that opens under the current vault keys; one that does not is skipped.</summary>
    Task<IReadOnlyList<string>> ListAsync(CancellationToken cancellationToken);

    Task AddAsync(string name, string xml, CancellationToken cancellationToken);
}

/// <summary>A single-use dashboard sign-in link, kept by the SHA-256 (hex) of its token only.</summary>
public sealed record SignInLinkRecord
{
    public required string TokenHash { get; init; }
    public required string OrgId { get; init; }
    public required string Operator { get; init; }
    public required string ReturnPath { get; init; }
    public required DateTimeOffset ExpiresAt { get; init; }
}

public interface ISignInLinkStore
{
    /// <summary>Stores the link and drops links that expired before <paramref name="now"/>.</summary>
    Task CreateAsync(SignInLinkRecord link, DateTimeOffset now, CancellationToken cancellationToken);

    /// <summary>
    /// Deletes the link and returns it, in one statement (of two concurrent uses only one gets it); null when there is no
    /// such link (unknown, or already used). An expired link is returned too, so the caller can say it expired.
    /// </summary>
    Task<SignInLinkRecord?> ConsumeAsync(string tokenHash, CancellationToken cancellationToken);
}
