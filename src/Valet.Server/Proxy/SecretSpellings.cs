using System.Globalization;
using System.Runtime.CompilerServices;
using System.Text;
using System.Text.RegularExpressions;

namespace Valet.Server.Proxy;

/// <summary>
/// A credential in any spelling an upstream's echo can give it. Each character may be raw, percent-encoded (either case
/// of hex), encoded twice (<c>%252F</c>, a URL nested in another's query), JSON-escaped (<c>\u002b</c> in either case,
/// <c>\/</c>, <c>\"</c>, <c>\\</c>), percent-encoded with its <c>%</c> JSON-escaped (<c>\u00252B</c>) or an HTML
/// character reference (<c>&amp;#x2B;</c> as Razor and <c>HtmlEncoder</c> write it, zero-padded <c>&amp;#x002B;</c>,
/// <c>&amp;#43;</c>, <c>&amp;#0043;</c>, <c>&amp;quot;</c>; inside JSON also with its <c>&amp;</c> escaped, <c>\u0026#x2B;</c>),
/// and a non-ASCII character also as its UTF-8 bytes read one per character. Spellings mix freely: an upstream that
/// decodes and re-serialises a URL may escape some characters and not others (<c>Ab/Cd%2BEf==</c> for <c>Ab/Cd+Ef==</c>),
/// and a JSON writer may then escape what is left (Go's <c>\u002b</c>). Used on the proxy's response headers and body for
/// a query secret (<see cref="ProxyTransformer"/>, <see cref="EchoMaskingStream"/>) and on everything <c>call_api</c>
/// returns (<see cref="Mcp.EchoedSecrets"/>), whose cut-tail check (<see cref="TailStart"/>) walks the same spellings.
/// </summary>
internal static class SecretSpellings
{
    /// <summary>
    /// Built once per secret (the cached connection's string instance), not per call; a rotated secret is a new string,
    /// and the old entry goes with it.
    /// </summary>
    private static readonly ConditionalWeakTable<string, Spelled> Secrets = new();

    public static Regex Pattern(string secret) => Secrets.GetValue(secret, Build).Pattern;

    /// <summary>How long the longest spelling of the whole secret is: no match of <see cref="Pattern"/> is longer.</summary>
    public static int LongestSpelling(string secret) => Secrets.GetValue(secret, Build).Runes.Sum(r => r.Max(s => s.Text.Length));

    /// <summary>
    /// Where, in <paramref name="text"/>, the longest tail starts that spells the first characters of
    /// <paramref name="secret"/> (at least <paramref name="minimumCharacters"/> of them, fewer than all), possibly ending
    /// partway through one character's spelling (<c>…Cd%2</c>, a body cut mid-escape); -1 when no tail does. With
    /// <paramref name="minimumCharacters"/> 0, a tail that is only the start of the first character's spelling counts too:
    /// where a streamed body must be held back because more bytes could still complete the secret.
    /// </summary>
    public static int TailStart(string text, string secret, int minimumCharacters)
    {
        var runes = Secrets.GetValue(secret, Build).Runes;
        if (runes.Length <= minimumCharacters)
        {
            return -1;
        }

        // No spelling of one character is longer than this, so a tail of the whole secret is not longer than this many.
        var window = Math.Max(0, text.Length - runes.Length * runes.Max(r => r.Max(s => s.Text.Length)));

        // A depth-first walk with its own stack (a recursive one overflowed the thread's stack on a token of some thousands
        // of characters, which no catch can survive). A state is (position, characters spelt): whether text[position..]
        // spells the rest to the end does not depend on where the walk started, so a state seen once (and not a success,
        // which returns) is never walked again. A secret that repeats itself ("aaaa…") against text that does could still
        // make the walk quadratic; past a budget of steps the whole window is taken as the tail: on a body already cut
        // short, removing more is the safe side.
        var seen = new HashSet<(int At, int Index)>();
        var stack = new Stack<(int At, int Index)>();
        var steps = 0;
        for (var start = window; start <= text.Length - Math.Max(1, minimumCharacters); start++)
        {
            if (!StartsASpelling(runes[0], text[start]))
            {
                continue;
            }

            stack.Push((start, 0));
            while (stack.TryPop(out var state))
            {
                var (at, index) = state;
                if (at == text.Length)
                {
                    if (index >= minimumCharacters)
                    {
                        return start;
                    }

                    continue;
                }

                // The whole secret followed by more text is not a cut tail (and Pattern took it).
                if (index == runes.Length || !seen.Add(state))
                {
                    continue;
                }

                if (++steps > StepBudget)
                {
                    return window;
                }

                var rest = text.AsSpan(at);
                foreach (var spelling in runes[index])
                {
                    var comparison = spelling.IgnoreCase ? StringComparison.OrdinalIgnoreCase : StringComparison.Ordinal;
                    if (rest.Length < spelling.Text.Length)
                    {
                        // The text ends partway through this spelling (a body cut mid-escape).
                        if (index >= minimumCharacters && spelling.Text.AsSpan(0, rest.Length).Equals(rest, comparison))
                        {
                            return start;
                        }
                    }
                    else if (rest.StartsWith(spelling.Text, comparison))
                    {
                        stack.Push((at + spelling.Text.Length, index + 1));
                    }
                }
            }
        }

        return -1;

        static bool StartsASpelling(Spelling[] spellings, char c)
        {
            foreach (var spelling in spellings)
            {
                if (spelling.Text[0] == c || (spelling.IgnoreCase && char.ToUpperInvariant(spelling.Text[0]) == char.ToUpperInvariant(c)))
                {
                    return true;
                }
            }

            return false;
        }
    }

    /// <summary>How many states <see cref="TailStart"/> walks before it takes the whole window (a few tens of milliseconds).</summary>
    private const int StepBudget = 1_000_000;

    private static Spelled Build(string secret)
    {
        var runes = secret.EnumerateRunes().Select(Spellings).ToArray();
        var pattern = new StringBuilder();
        foreach (var spellings in runes)
        {
            pattern.Append("(?:");
            // Longest first: an alternation takes the first that matches, and the raw '%' of a secret before its '%25'
            // would leave "25" behind.
            foreach (var (text, ignoreCase) in spellings.OrderByDescending(s => s.Text.Length))
            {
                pattern.Append(ignoreCase ? "(?i:" : "(?:").Append(Regex.Escape(text)).Append(")|");
            }

            pattern.Length--;
            pattern.Append(')');
        }

        // A sequence of alternations of literals: matching is linear in practice (alternatives of one character rarely share
        // a prefix), so the timeout is a guard against the unforeseen, not a budget. It is wall-clock time: at 200 ms a
        // node whose CPU was busy cut ordinary bodies short (found in review), so it is generous.
        return new Spelled(new Regex(pattern.ToString(), RegexOptions.CultureInvariant, TimeSpan.FromSeconds(5)), runes);
    }

    /// <summary>The ways one character can be written: raw first (the only one compared case-sensitively).</summary>
    private static Spelling[] Spellings(Rune rune)
    {
        Span<byte> utf8 = stackalloc byte[4];
        Span<char> utf16 = stackalloc char[2];
        var bytes = utf8[..rune.EncodeToUtf8(utf8)];
        var units = utf16[..rune.EncodeToUtf16(utf16)];

        var once = new StringBuilder();
        var twice = new StringBuilder();
        var onceInJson = new StringBuilder();
        foreach (var b in bytes)
        {
            once.Append('%').Append(b.ToString("X2", CultureInfo.InvariantCulture));
            twice.Append("%25").Append(b.ToString("X2", CultureInfo.InvariantCulture));
            onceInJson.Append(@"\u0025").Append(b.ToString("X2", CultureInfo.InvariantCulture)); // a JSON writer escaping the '%' of %2B
        }

        var json = new StringBuilder();
        foreach (var unit in units)
        {
            json.Append(@"\u").Append(((int)unit).ToString("X4", CultureInfo.InvariantCulture));
        }

        var spellings = new List<Spelling>
        {
            new(rune.ToString(), false),
            new(once.ToString(), true),
            new(twice.ToString(), true),
            new(json.ToString(), true),
            new(onceInJson.ToString(), true),
            new("&#x" + rune.Value.ToString("X", CultureInfo.InvariantCulture) + ";", true),
            new("&#x" + rune.Value.ToString("X4", CultureInfo.InvariantCulture) + ";", true), // zero-padded, as some encoders write
            new("&#" + rune.Value.ToString(CultureInfo.InvariantCulture) + ";", false),
            new("&#" + rune.Value.ToString("D4", CultureInfo.InvariantCulture) + ";", false),
        };
        if (rune.Value > 0x7F)
        {
            // Its UTF-8 bytes read one character per byte: how a body scanned as bytes (EchoMaskingStream) holds it.
            spellings.Add(new(Encoding.Latin1.GetString(bytes), false));
        }

        if (rune.Value is '/' or '"' or '\\')
        {
            spellings.Add(new("\\" + rune, false));
        }

        if (rune.Value switch { '&' => "&amp;", '"' => "&quot;", '\'' => "&apos;", '<' => "&lt;", '>' => "&gt;", _ => null } is { } named)
        {
            spellings.Add(new(named, true));
        }

        // HTML inside JSON: a JSON writer that escapes '&' (System.Text.Json's default encoder writes \u0026) turns each
        // character reference into one more spelling.
        spellings.AddRange(spellings.Where(s => s.Text.StartsWith('&')).Select(s => new Spelling(@"\u0026" + s.Text[1..], true)).ToList());
        return [.. spellings.DistinctBy(s => s.Text, StringComparer.Ordinal)];
    }

    private readonly record struct Spelling(string Text, bool IgnoreCase);

    private sealed record Spelled(Regex Pattern, Spelling[][] Runes);
}
