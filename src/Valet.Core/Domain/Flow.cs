namespace Valet.Core.Domain;

public enum FlowStatus
{
    Pending,

    /// <summary>The callback arrived and consumed the state; the code exchange is in progress. Reported as pending.</summary>
    Exchanging,
    Complete,
    Error,
    Expired,
}

public enum CallbackTransport
{
    Gateway,
    Loopback,
}

/// <summary>One pending authorization. Lives in the database so that any process or node can finish it.</summary>
public sealed record Flow
{
    public required string Id { get; init; }
    public required string OrgId { get; init; }
    public required string Provider { get; init; }
    public string? CredentialId { get; init; }
    public required IReadOnlyList<string> Scopes { get; init; }

    /// <summary>SHA-256 (hex) of the state; the state itself is only ever in the authorization URL.</summary>
    public required string StateHash { get; init; }

    public required Secret CodeVerifier { get; init; }
    public required string RedirectUri { get; init; }
    public CallbackTransport Transport { get; init; }
    public string? ReturnUrl { get; init; }

    /// <summary>
    /// Set on flows minted for auth-recovery envelopes: a hash of (org, provider, credential, scopes). At most one pending
    /// or expired flow per key exists, and every envelope with that key points at it.
    /// </summary>
    public string? EnvelopeKey { get; init; }

    /// <summary>
    /// A dashboard sign-in through the provider: completing it also checks the account against the operator allow-list
    /// (<see cref="Flows.ISignInGate"/>) and makes the connection the org's default for the provider.
    /// </summary>
    public bool SignIn { get; init; }

    /// <summary>The connection parameters given at connect time (validated), for a templated provider; else null.</summary>
    public IReadOnlyDictionary<string, string>? Parameters { get; init; }

    public FlowStatus Status { get; init; } = FlowStatus.Pending;
    public string? ConnectionId { get; init; }
    public IReadOnlyList<string>? GrantedScopes { get; init; }

    /// <summary>Coarse error code (<c>access_denied</c>, <c>token_exchange_failed</c>, …); never provider prose.</summary>
    public string? Error { get; init; }

    public DateTimeOffset CreatedAt { get; init; }
    public required DateTimeOffset ExpiresAt { get; init; }
    public DateTimeOffset? CompletedAt { get; init; }
}
