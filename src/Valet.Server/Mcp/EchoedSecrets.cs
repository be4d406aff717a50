using System.Text;

namespace Valet.Server.Mcp;

/// <summary>
/// Takes the credentials Valet sent upstream out of what <c>call_api</c> returns (SPEC §11: tokens never appear in a tool
/// result), for an upstream that echoes its request back, in any spelling (<see cref="Proxy.SecretSpellings"/>: raw,
/// percent-encoded whole or in part, JSON-escaped, HTML character references). A body cut at the cap that ends in the
/// first characters of one, in the same spellings and even partway through an escape, loses that tail too. The plain
/// proxy route does not do this: its caller is the agent's own HTTP client, which gets the upstream's answer byte for byte.
/// </summary>
internal static class EchoedSecrets
{
    public const string Mark = "[redacted by Valet]";

    /// <summary>The fewest characters of a credential a cut body must end in for that tail to be taken off.</summary>
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

            if (Proxy.SecretSpellings.TailStart(text, secret, MinimumTail) is >= 0 and var tail)
            {
                text = text[..tail] + Mark;
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
}
