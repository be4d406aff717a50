using System.Buffers;
using System.Runtime.CompilerServices;
using Valet.Core.Domain;

namespace Valet.Server.Proxy;

/// <summary>
/// The <c>Authorization</c> value the proxy sends for a stored secret, built once per secret instance rather than per
/// call (an <c>AuthenticationHeaderValue</c>, then its string when the request is written, then for Basic a base64 of
/// the secret, on every proxied call). A cached connection keeps its secret instance until its row changes (a refresh,
/// an import), and the value goes with it. It holds what the process already holds: the decrypted token.
/// </summary>
internal static class AuthorizationValues
{
    private static readonly ConditionalWeakTable<string, string> Values = new(); // keyed by the secret's string instance

    private static readonly SearchValues<char> Credential = SearchValues.Create(
        [.. Enumerable.Range('!', '~' - '!' + 1).Select(c => (char)c)]);

    /// <summary>An authentication scheme is an RFC 9110 token (§11.1, §5.6.2).</summary>
    private static readonly SearchValues<char> SchemeChars = SearchValues.Create("!#$%&'*+-.^_`|~0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz");

    /// <summary>
    /// <c>{scheme} {credential}</c>, or null when the credential is not visible ASCII (RFC 9110 token68 and RFC 6750 b64token
    /// are), or the scheme not a token: such a value is then formatted per call as before.
    /// </summary>
    public static string? For(Secret secret, string scheme, Func<Secret, string> credential)
    {
        var key = secret.Reveal();
        if (Values.TryGetValue(key, out var cached) && cached.Length > scheme.Length && cached[scheme.Length] == ' '
            && cached.StartsWith(scheme, StringComparison.Ordinal))
        {
            return cached;
        }

        var value = credential(secret);
        if (value.Length == 0 || value.AsSpan().ContainsAnyExcept(Credential) || scheme.Length == 0 || scheme.AsSpan().ContainsAnyExcept(SchemeChars))
        {
            return null;
        }

        var built = scheme + " " + value;
        Values.AddOrUpdate(key, built);
        return built;
    }
}
