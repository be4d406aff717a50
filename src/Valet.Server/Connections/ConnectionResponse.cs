using Valet.Core.Domain;

namespace Valet.Server.Connections;

internal sealed record ConnectionAccount(string Id, string? Login, string? Email);

/// <summary>A connection as the API shows it: never a token.</summary>
internal sealed record ConnectionResponse(string Id, string Org, string Provider, ConnectionAccount Account, string Status, string? StatusReason,
    IReadOnlyList<string>? Scopes, DateTimeOffset? ExpiresAt, string? CredentialId, bool HasRefreshToken, DateTimeOffset CreatedAt,
    DateTimeOffset UpdatedAt, DateTimeOffset? LastRefreshedAt)
{
    /// <summary><c>api_key</c> or <c>basic</c> for a connection holding a static secret (never shown); <c>oauth</c> otherwise.</summary>
    public string Credential { get; init; } = "oauth";

    /// <summary>The connection parameters of a templated provider (a Zendesk <c>subdomain</c>); absent for the others.</summary>
    public IReadOnlyDictionary<string, string>? Parameters { get; init; }

    /// <summary>The site this connection's calls go to, for a provider whose API is on each customer's host (Jira); absent otherwise.</summary>
    public string? ApiBaseUrl { get; init; }

    public static ConnectionResponse From(Connection c) => new(c.Id, c.OrgId, c.Provider, new ConnectionAccount(c.AccountId, c.AccountLogin, c.AccountEmail),
        c.Status == ConnectionStatus.Active ? "active" : "reauth_required", c.StatusReason, c.Scopes, c.ExpiresAt, c.CredentialId,
        c.RefreshToken is not null, c.CreatedAt, c.UpdatedAt, c.LastRefreshedAt)
    {
        Credential = Valet.Core.Connections.StaticSecrets.IsStatic(c) ? c.TokenType : "oauth",
        Parameters = c.Parameters,
        ApiBaseUrl = c.ApiBaseUrl,
    };
}
