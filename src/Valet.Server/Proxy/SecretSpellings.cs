using System.Runtime.CompilerServices;
using System.Text;
using System.Text.RegularExpressions;

namespace Valet.Server.Proxy;

/// <summary>
/// A credential in any spelling an upstream's echo can give it, one regular expression per secret: each character raw,
/// percent-encoded (either case of hex), encoded twice (<c>%252F</c>, a URL nested in another's query), or JSON-escaped
/// (<c>\u002b</c> in either case, <c>\/</c>, <c>\"</c>, <c>\\</c>). Spellings mix freely: an upstream that decodes and
/// re-serialises a URL may escape some characters and not others (<c>Ab/Cd%2BEf==</c> for <c>Ab/Cd+Ef==</c>), and a JSON
/// writer may then escape what is left (Go's <c>\u002b</c>). Used on the proxy's response headers for a query secret
/// (<see cref="ProxyTransformer"/>) and on everything <c>call_api</c> returns (<see cref="Mcp.EchoedSecrets"/>).
/// </summary>
internal static class SecretSpellings
{
    /// <summary>
    /// Built once per secret (the cached connection's string instance), not per call; a rotated secret is a new string,
    /// and the old pattern goes with it.
    /// </summary>
    private static readonly ConditionalWeakTable<string, Regex> Patterns = new();

    public static Regex Pattern(string secret) => Patterns.GetValue(secret, Build);

    private static Regex Build(string secret)
    {
        var pattern = new StringBuilder();
        Span<byte> utf8 = stackalloc byte[4];
        Span<char> utf16 = stackalloc char[2];
        foreach (var rune in secret.EnumerateRunes())
        {
            pattern.Append("(?:").Append(Regex.Escape(rune.ToString()));

            var length = rune.EncodeToUtf8(utf8);
            pattern.Append('|');
            foreach (var b in utf8[..length])
            {
                pattern.Append('%').Append(Hex(b >> 4)).Append(Hex(b & 0xF));
            }

            pattern.Append('|');
            foreach (var b in utf8[..length])
            {
                pattern.Append("%25").Append(Hex(b >> 4)).Append(Hex(b & 0xF));
            }

            pattern.Append('|');
            foreach (var unit in utf16[..rune.EncodeToUtf16(utf16)])
            {
                pattern.Append(@"\\u").Append(Hex(unit >> 12)).Append(Hex((unit >> 8) & 0xF)).Append(Hex((unit >> 4) & 0xF)).Append(Hex(unit & 0xF));
            }

            if (rune.Value is '/' or '"' or '\\')
            {
                pattern.Append('|').Append(@"\\").Append(Regex.Escape(rune.ToString()));
            }

            pattern.Append(')');
        }

        return new Regex(pattern.ToString(), RegexOptions.CultureInvariant, TimeSpan.FromMilliseconds(200));

        // One hex digit, matching either case.
        static string Hex(int digit) => digit < 10 ? ((char)('0' + digit)).ToString() : $"[{(char)('a' + digit - 10)}{(char)('A' + digit - 10)}]";
    }
}
