using System.Text;
using System.Text.Json;

namespace Valet.Server.Mcp;

/// <summary>
/// Takes the credentials Valet sent upstream out of what <c>call_api</c> returns (SPEC §11: tokens never appear in a tool
/// result), for an upstream that echoes its request back, in any spelling (<see cref="Proxy.SecretSpellings"/>: raw,
/// percent-encoded whole or in part, JSON-escaped). A body cut at the cap that ends in the first characters of one loses
/// that tail too. The plain proxy route does not do this: its caller is the
/// agent's own HTTP client, which gets the upstream's answer byte for byte.
/// </summary>
internal static class EchoedSecrets
{
    public const string Mark = "[redacted by Valet]";

    /// <summary>The shortest tail of a cut body that is taken for the start of a credential.</summary>
    private const int MinimumTail = 6;

    public static ReadOnlyMemory<byte> Redact(ReadOnlyMemory<byte> body, IReadOnlyList<string> secrets, bool truncated)
    {
        if (secrets.Count == 0 || body.IsEmpty)
        {
            return body;
        }

        var original = Encoding.UTF8.GetString(body.Span);
        var text = original;
        foreach (var secret in secrets)
        {
            text = Proxy.SecretSpellings.Pattern(secret).Replace(text, Mark);
            if (!truncated)
            {
                continue;
            }

            foreach (var form in TailForms(secret))
            {
                if (TailLength(text, form) is > 0 and var tail)
                {
                    text = text[..^tail] + Mark;
                    break;
                }
            }
        }

        return ReferenceEquals(text, original) || text == original ? body : Encoding.UTF8.GetBytes(text);
    }

    public static string Redact(string value, IReadOnlyList<string> secrets)
    {
        foreach (var secret in secrets)
        {
            value = Proxy.SecretSpellings.Pattern(secret).Replace(value, Mark);
        }

        return value;
    }

    /// <summary>
    /// The spellings whose first characters are looked for at the end of a cut body: raw; JSON-escaped as .NET escapes it
    /// and with only <c>/</c> escaped (PHP's <c>\/</c>); and percent-encoded with either case of hex, as a query secret goes
    /// on the wire (<see cref="Proxy.SecretQueryHandler"/>). Longest first.
    /// </summary>
    private static IEnumerable<string> TailForms(string secret)
    {
        var forms = new HashSet<string>(StringComparer.Ordinal) { secret, JsonEncodedText.Encode(secret).ToString(), secret.Replace("/", "\\/", StringComparison.Ordinal) };
        var encoded = Uri.EscapeDataString(secret);
        forms.Add(encoded);
        forms.Add(System.Text.RegularExpressions.Regex.Replace(encoded, "%[0-9A-F]{2}", m => m.Value.ToLowerInvariant()));
        return forms.OrderByDescending(f => f.Length);
    }

    /// <summary>How many characters at the end of <paramref name="text"/> are the start of <paramref name="secret"/> (0: none, or too few to tell).</summary>
    private static int TailLength(string text, string secret)
    {
        for (var length = Math.Min(secret.Length - 1, text.Length); length >= MinimumTail; length--)
        {
            if (text.AsSpan(text.Length - length).SequenceEqual(secret.AsSpan(0, length)))
            {
                return length;
            }
        }

        return 0;
    }
}
