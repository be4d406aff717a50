using System.Text;
using Valet.Core.Domain;

namespace Valet.Core.Connections;

/// <summary>
/// Static secrets (api_key and basic connections) live in the connection's sealed <c>access_token</c> column, bound to
/// the row and column like every token; the <c>token_type</c> says which kind it is. A basic secret is stored as
/// <c>username:password</c> (RFC 7617 forbids ':' in the user-id), which is exactly what HTTP Basic encodes.
/// </summary>
public static class StaticSecrets
{
    public const string ApiKeyType = "api_key";
    public const string BasicType = "basic";

    /// <summary>Longest secret accepted (an API key, a username or a password).</summary>
    public const int MaxLength = 4096;

    /// <summary>
    /// The sealed placeholder of a client-credentials connection whose first token is not fetched yet. Its expiry is the
    /// creation instant, so the first use goes to the refresh engine (single flight, every node); it is never handed out,
    /// never revoked.
    /// </summary>
    public static Secret PendingClientCredentialsToken { get; } = new("valet-client-credentials-pending");

    public static bool IsStatic(Connection connection)
    {
        ArgumentNullException.ThrowIfNull(connection);
        return IsStaticType(connection.TokenType);
    }

    public static bool IsStaticType(string? tokenType) =>
        string.Equals(tokenType, ApiKeyType, StringComparison.Ordinal) || string.Equals(tokenType, BasicType, StringComparison.Ordinal);

    public static Secret Basic(string username, string password) => new(username + ":" + password);

    /// <summary>The <c>Authorization: Basic</c> credential: base64 of the UTF-8 <c>username:password</c>.</summary>
    public static string BasicCredential(Secret stored) => Convert.ToBase64String(Encoding.UTF8.GetBytes(stored.Reveal()));

    /// <summary>
    /// What the token route reveals (to a key with <c>"reveal": true</c>): the API key itself with type <c>api_key</c>, or
    /// the ready-to-send Basic credential with type <c>Basic</c>, so <c>Authorization: {token_type} {access_token}</c> works.
    /// </summary>
    public static (Secret Value, string TokenType) Reveal(Connection connection) =>
        connection.TokenType == BasicType ? (new Secret(BasicCredential(connection.AccessToken)), "Basic") : (connection.AccessToken, ApiKeyType);

    /// <summary>Null when acceptable; else why not. An API key goes verbatim into a header or query: printable ASCII only.</summary>
    public static string? CheckValue(string value, bool allowSpaces)
    {
        if (value.Length > MaxLength)
        {
            return $"must be at most {MaxLength} characters";
        }

        foreach (var c in value)
        {
            if (c < 0x20 || c == 0x7f || (!allowSpaces && (c == ' ' || c > 0x7e)))
            {
                return allowSpaces ? "must not contain control characters" : "must be printable ASCII without spaces";
            }
        }

        return null;
    }
}
