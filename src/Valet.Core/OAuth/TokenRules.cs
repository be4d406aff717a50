using System.Buffers.Text;
using System.Globalization;
using System.Text.Json;
using System.Text.Json.Nodes;
using Valet.Core.Providers;

namespace Valet.Core.OAuth;

/// <summary>
/// What Valet accepts as a token, its type and its lifetime — one rule for a provider's answer (exchange, refresh) and
/// for an import. Values that fail here are never stored: an access token with CR/LF would otherwise end up in an
/// outbound <c>Authorization</c> header, and an absurd lifetime in a date computation.
/// </summary>
public static class TokenRules
{
    /// <summary>The longest lifetime Valet records. A provider saying more is taken at this value.</summary>
    public static readonly TimeSpan MaxLifetime = TimeSpan.FromDays(3650);

    public static long MaxLifetimeSeconds => (long)MaxLifetime.TotalSeconds;

    /// <summary>
    /// A provider's <c>expires_in</c> (number or numeric string) in whole seconds, at most <see cref="MaxLifetime"/>.
    /// Null when absent, unreadable, zero or negative: some providers send 0 for "does not expire".
    /// </summary>
    public static long? ExpiresInSeconds(string? raw)
    {
        if (!double.TryParse(raw, NumberStyles.Float, CultureInfo.InvariantCulture, out var seconds) || double.IsNaN(seconds) || seconds < 1)
        {
            return null;
        }

        return seconds >= MaxLifetimeSeconds ? MaxLifetimeSeconds : (long)seconds;
    }

    /// <summary>The expiry a lifetime gives, <see cref="MaxLifetime"/> at most. Null when the lifetime is absent or not positive.</summary>
    public static DateTimeOffset? ExpiresAt(DateTimeOffset now, long? seconds) =>
        seconds is > 0 ? now + TimeSpan.FromSeconds(Math.Min(seconds.Value, MaxLifetimeSeconds)) : null;

    /// <summary>
    /// The expiry of a provider's answer: its <c>expires_in</c>, else the access token's own JWT <c>exp</c> when that is
    /// in the future and within <see cref="MaxLifetime"/> (a token answer without <c>expires_in</c> would otherwise count
    /// as never expiring, and the token route would hand out an expired token). Null when neither says.
    /// </summary>
    public static DateTimeOffset? ExpiresAt(DateTimeOffset now, TokenSet tokens)
    {
        ArgumentNullException.ThrowIfNull(tokens);
        return ExpiresAt(now, tokens.ExpiresIn) ?? UsableExp(now, tokens.AccessTokenExp);
    }

    /// <summary>A JWT's <c>exp</c> as an expiry: only when it is in the future and within <see cref="MaxLifetime"/>.</summary>
    public static DateTimeOffset? UsableExp(DateTimeOffset now, DateTimeOffset? exp) =>
        exp is { } at && at > now && IsPlausibleExpiry(now, at) ? at : null;

    /// <summary>The <c>exp</c> claim of a token that is a JWT (three base64url parts, a JSON payload); null otherwise.</summary>
    public static DateTimeOffset? JwtExp(string token)
    {
        ArgumentNullException.ThrowIfNull(token);
        var parts = token.Split('.');
        if (parts.Length != 3 || parts[1].Length == 0)
        {
            return null;
        }

        try
        {
            return JsonNode.Parse(Base64Url.DecodeFromChars(parts[1])) is JsonObject payload
                && payload["exp"] is JsonValue exp && exp.TryGetValue<long>(out var seconds)
                && seconds > 0 && seconds < 253_402_300_800 // before year 10000
                    ? DateTimeOffset.FromUnixTimeSeconds(seconds)
                    : null;
        }
        catch (Exception e) when (e is FormatException or JsonException)
        {
            return null;
        }
    }

    /// <summary>Whether an explicit expiry (an import's <c>expires_at</c>) is within <see cref="MaxLifetime"/> of now, either way.</summary>
    public static bool IsPlausibleExpiry(DateTimeOffset now, DateTimeOffset expiresAt) =>
        Math.Abs(expiresAt.UtcTicks - now.UtcTicks) <= MaxLifetime.Ticks;

    /// <summary>
    /// A token goes verbatim into an HTTP header: non-empty, printable ASCII, no space (RFC 6750 b64token is narrower;
    /// this refuses only what can never be sent — control characters, CR/LF, whitespace, non-ASCII).
    /// </summary>
    public static bool IsValidTokenValue(string? token)
    {
        if (string.IsNullOrEmpty(token))
        {
            return false;
        }

        foreach (var c in token)
        {
            if (c is < '!' or > '~')
            {
                return false;
            }
        }

        return true;
    }

    /// <summary>
    /// The stored token type: <c>Bearer</c>, or null when the answer is not a bearer token Valet can use.
    /// Accepted: <c>bearer</c> in any case (GitHub sends <c>bearer</c>); absent (many providers omit it; RFC 6750 is the
    /// only kind the catalog uses); Slack's <c>bot</c>/<c>user</c> for a provider with the Slack quirk. Anything else
    /// (DPoP, MAC, …) would need a proof Valet does not make, so the token would fail at every API call.
    /// </summary>
    public static string? BearerTokenType(string? raw, ProviderDefinition? provider)
    {
        if (string.IsNullOrEmpty(raw) || string.Equals(raw, "Bearer", StringComparison.OrdinalIgnoreCase))
        {
            return "Bearer";
        }

        var slack = provider is not null && provider.Has(ProviderQuirks.SlackNestedAuthedUser)
            && (string.Equals(raw, "bot", StringComparison.Ordinal) || string.Equals(raw, "user", StringComparison.Ordinal));
        return slack ? "Bearer" : null;
    }
}
