namespace Valet.Server.Flows;

/// <summary>
/// Where Valet may send a browser back to. Every value here ends up in a <c>Location</c> header, which carries only
/// visible ASCII; a value outside that set is refused up front (400), never left to fail as a 500 when the header is set.
/// </summary>
internal static class ReturnUrls
{
    public const int MaxLength = 2048;

    /// <summary>True when <paramref name="value"/> has a character a Location header must not carry (control, space, non-ASCII).</summary>
    public static bool HasUnsafeCharacter(string? value) => value is not null && value.AsSpan().ContainsAnyExceptInRange('!', '~');

    /// <summary>
    /// A plain same-origin path for <c>/signin?return=</c>: <c>/</c>, then path and query characters only. Refused: control
    /// characters and whitespace (<c>/\t/host</c> is read as <c>//host</c> by browsers), backslashes, scheme-relative
    /// <c>//host</c>, and the same tricks percent-encoded (<c>/%2F/host</c>, <c>/%5Chost</c>, <c>/%09/host</c>).
    /// </summary>
    public static bool IsLocalPath(string value)
    {
        if (value.Length is 0 or > MaxLength || value[0] != '/' || !IsPlainPath(value))
        {
            return false;
        }

        // Decode-aware: what a later hop decodes must not become a control character, whitespace, a backslash or a leading
        // "//" either (two rounds cover %252F-style double encoding).
        var decoded = value;
        for (var round = 0; round < 2; round++)
        {
            var next = Uri.UnescapeDataString(decoded);
            if (next == decoded)
            {
                break;
            }

            if (next.Any(c => char.IsControl(c) || char.IsWhiteSpace(c) || c == '\\') || next.StartsWith("//", StringComparison.Ordinal))
            {
                return false;
            }

            decoded = next;
        }

        return true;
    }

    private static bool IsPlainPath(string value) =>
        !HasUnsafeCharacter(value) && !value.Contains('\\', StringComparison.Ordinal) && !value.StartsWith("//", StringComparison.Ordinal)
        && Uri.TryCreate(value, UriKind.Relative, out _);
}
