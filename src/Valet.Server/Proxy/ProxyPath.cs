namespace Valet.Server.Proxy;

/// <summary>
/// Reads the agent's request target exactly as sent (Kestrel's decoded and dot-normalised path hides the tricks) and
/// decides whether the part after <c>/v1/proxy/{id}</c> or <c>/v1/targets/{id}</c> may be appended to an API base.
/// </summary>
internal static class ProxyPath
{
    /// <summary>An API base parsed once: the URL, its path without a trailing '/', and <c>scheme://authority</c>.</summary>
    public sealed record ApiBase(Uri Url)
    {
        public string Path { get; } = Url.AbsolutePath.TrimEnd('/');

        public string Prefix { get; } = Url.GetLeftPart(UriPartial.Authority);
    }

    /// <summary>The parsed request target: the id segment, the remainder (empty or starting with '/'), the raw query (empty or '?…').</summary>
    public readonly record struct Parsed(string Id, string Rest, string Query);

    /// <summary>Null with <paramref name="error"/> set when the target is unsafe or not under <paramref name="prefix"/>.</summary>
    public static Parsed? Parse(string rawTarget, string prefix, out string? error)
    {
        error = null;
        if (string.IsNullOrEmpty(rawTarget) || rawTarget[0] != '/')
        {
            error = "The request target must be a path.";
            return null;
        }

        var q = rawTarget.IndexOf('?', StringComparison.Ordinal);
        var path = q < 0 ? rawTarget : rawTarget[..q];
        var query = q < 0 ? string.Empty : rawTarget[q..];
        if (!path.StartsWith(prefix, StringComparison.OrdinalIgnoreCase))
        {
            error = "The path is not under " + prefix + ".";
            return null;
        }

        var slash = path.IndexOf('/', prefix.Length);
        var id = Uri.UnescapeDataString(slash < 0 ? path[prefix.Length..] : path[prefix.Length..slash]);
        var rest = slash < 0 ? string.Empty : path[slash..];
        if (id.Length == 0)
        {
            error = "The path has no id.";
            return null;
        }

        error = CheckRest(rest) ?? CheckQuery(query);
        return error is null ? new Parsed(id, rest, query) : null;
    }

    /// <summary>Null when safe; else why not. <paramref name="rest"/> is empty or starts with '/'.</summary>
    public static string? CheckRest(string rest)
    {
        if (rest.Length == 0)
        {
            return null;
        }

        if (rest.Length > 1 && rest[1] == '/')
        {
            return "The path must not start with '//' (it could name another host).";
        }

        // Segment by segment on spans: this runs on every proxied call, and most paths have nothing to decode.
        var remaining = rest.AsSpan(1);
        for (var first = true; ; first = false)
        {
            var slash = remaining.IndexOf('/');
            var segment = slash < 0 ? remaining : remaining[..slash];
            if (segment.IsEmpty)
            {
                if (slash < 0)
                {
                    return null; // a trailing slash is fine
                }

                return "The path must not contain empty segments ('//').";
            }

            if (CheckSegment(segment, first) is { } error)
            {
                return error;
            }

            if (slash < 0)
            {
                return null;
            }

            remaining = remaining[(slash + 1)..];
        }
    }

    /// <summary>
    /// The segment as sent, decoded once and decoded twice (a double-encoded %252e%252e is '..' to a sloppy upstream).
    /// Without a '%' decoding changes nothing, so the decoded forms are only made when there is one.
    /// </summary>
    private static string? CheckSegment(ReadOnlySpan<char> raw, bool first)
    {
        var error = CheckForm(raw, first, decoded: false);
        if (error is not null || !raw.Contains('%'))
        {
            return error;
        }

        // Escapes an upstream might decode its own way: '%' without two hex digits (IIS's %u002e is '.'), and bytes that
        // are not UTF-8 (the overlong %c0%ae is '.' to a lenient decoder). .NET leaves both undecoded, so the checks below
        // would not see the dot; a real API path has neither.
        if (!EscapesAreUtf8(raw))
        {
            return "The path's percent escapes must be '%' and two hex digits, of valid UTF-8 (encode '%' itself as %25).";
        }

        var once = Uri.UnescapeDataString(raw);
        error = CheckForm(once, first, decoded: true);
        if (error is not null || !once.Contains('%'))
        {
            return error;
        }

        if (HasLenientDotEscape(once))
        {
            return "The path's percent escapes, decoded once, must not spell a character another way (%u…, overlong UTF-8).";
        }

        return CheckForm(Uri.UnescapeDataString(once), first, decoded: true);
    }

    /// <summary>
    /// In a once-decoded segment, a '%' is often just a '%' (<c>100%25Cafe</c> is <c>100%Cafe</c>), so only what a second,
    /// lenient decode could turn into another character is refused: IIS's <c>%uXXXX</c>, and an overlong UTF-8 lead
    /// (<c>%C0</c>/<c>%C1</c>, <c>%E0</c> then <c>%80</c>–<c>%9F</c>, <c>%F0</c> then <c>%80</c>–<c>%8F</c>).
    /// </summary>
    private static bool HasLenientDotEscape(ReadOnlySpan<char> form)
    {
        for (var i = 0; i + 2 < form.Length; i++)
        {
            if (form[i] != '%')
            {
                continue;
            }

            if (form[i + 1] is 'u' or 'U' && i + 5 < form.Length && !form.Slice(i + 2, 4).ContainsAnyExcept(HexDigits))
            {
                return true;
            }

            if (!TryEscapedByte(form, i, out var lead))
            {
                continue;
            }

            var second = TryEscapedByte(form, i + 3, out var next) ? next : (byte)0;
            if (lead is 0xC0 or 0xC1 || (lead == 0xE0 && second is >= 0x80 and <= 0x9F) || (lead == 0xF0 && second is >= 0x80 and <= 0x8F))
            {
                return true;
            }
        }

        return false;
    }

    private static readonly System.Buffers.SearchValues<char> HexDigits = System.Buffers.SearchValues.Create("0123456789abcdefABCDEF");

    /// <summary>
    /// Whether a segment as sent (visible ASCII, checked before) has only well-formed escapes ('%' and two hex digits)
    /// that decode to valid UTF-8.
    /// </summary>
    private static bool EscapesAreUtf8(ReadOnlySpan<char> raw)
    {
        Span<byte> bytes = raw.Length <= 512 ? stackalloc byte[raw.Length] : new byte[raw.Length];
        var length = 0;
        for (var i = 0; i < raw.Length; i++)
        {
            if (raw[i] != '%')
            {
                bytes[length++] = (byte)raw[i];
            }
            else if (TryEscapedByte(raw, i, out var escaped))
            {
                bytes[length++] = escaped;
                i += 2;
            }
            else
            {
                return false;
            }
        }

        return System.Text.Unicode.Utf8.IsValid(bytes[..length]);
    }

    /// <summary>The byte a well-formed escape (<c>%</c> and two hex digits) at <paramref name="at"/> names; false when there is none.</summary>
    private static bool TryEscapedByte(ReadOnlySpan<char> form, int at, out byte value)
    {
        value = 0;
        if (at + 2 >= form.Length || form[at] != '%' || !char.IsAsciiHexDigit(form[at + 1]) || !char.IsAsciiHexDigit(form[at + 2]))
        {
            return false;
        }

        value = (byte)((HexValue(form[at + 1]) << 4) | HexValue(form[at + 2]));
        return true;

        static int HexValue(char c) => c <= '9' ? c - '0' : (c | 0x20) - 'a' + 10;
    }

    private static string? CheckForm(ReadOnlySpan<char> form, bool first, bool decoded)
    {
        // As sent, a request target is visible ASCII (RFC 9112 §3.2). Kestrel refuses anything else on the HTTP route, but
        // MCP's call_api builds the target from a tool argument: a raw space would rewrite the upstream's request line and a
        // raw non-ASCII character would go out as a NUL byte (hiding a ".." from this check). Encoded, both are fine.
        if (!decoded && form.IndexOfAnyExceptInRange('!', '~') >= 0)
        {
            return "The path must be visible ASCII: percent-encode spaces, control and non-ASCII characters.";
        }

        if (IsDotSegment(form))
        {
            return "The path must not contain '.' or '..' segments, plain or encoded, with a ';' parameter or in full-width dots.";
        }

        if (form.Contains('\\'))
        {
            return "The path must not contain backslashes, plain or encoded.";
        }

        if (decoded && form.Contains('/'))
        {
            return "The path must not contain an encoded '/' (%2F) inside a segment.";
        }

        if (form.IndexOfAnyInRange('\0', '\u001f') >= 0 || form.Contains('\u007f'))
        {
            return "The path must not contain control characters.";
        }

        if (first && form.ContainsAny(':', '@'))
        {
            return "The first path segment must not contain ':' or '@' (no scheme, no user-info, no absolute URL).";
        }

        return null;
    }

    /// <summary>
    /// <c>.</c> or <c>..</c> as some upstream may read it: what comes before a <c>;</c> (Tomcat and other servlet containers
    /// drop path parameters, so <c>..;</c> is <c>..</c> to them), with the compatibility dots that Unicode normalisation
    /// (NFKC) folds to '.': U+FF0E full-width, U+FE52 small and U+2024 one-dot leader (one dot), U+2025 two-dot leader (two).
    /// </summary>
    private static bool IsDotSegment(ReadOnlySpan<char> form)
    {
        var semicolon = form.IndexOf(';');
        var name = (semicolon < 0 ? form : form[..semicolon]).Trim(' '); // ".. " is ".." to a server that trims names (IIS)
        if (name.IsEmpty || name.Length > 2)
        {
            return false;
        }

        var dots = 0;
        foreach (var c in name)
        {
            dots += c switch
            {
                '.' or '\uFF0E' or '\uFE52' or '\u2024' => 1,
                '\u2025' => 2,
                _ => 3, // anything else: not a dot segment
            };
        }

        return dots <= 2;
    }

    private static string? CheckQuery(string query) =>
        query.AsSpan().IndexOfAnyExceptInRange('!', '~') >= 0 || query.Contains('#', StringComparison.Ordinal)
            ? "The query must be visible ASCII without '#': percent-encode spaces, control and non-ASCII characters."
            : null;

    /// <summary>
    /// <paramref name="apiBase"/> + <paramref name="rest"/> + <paramref name="query"/>, kept byte for byte (no re-canonicalisation),
    /// then checked again: same scheme, host and port as the base, path at or under the base path.
    /// </summary>
    public static Uri? Combine(ApiBase apiBase, string rest, string query)
    {
        var baseUrl = apiBase.Url;
        var basePath = apiBase.Path;
        var text = string.Concat(apiBase.Prefix, basePath, rest, query);
        if (!Uri.TryCreate(text, new UriCreationOptions { DangerousDisablePathAndQueryCanonicalization = true }, out var uri)
            || !string.Equals(uri.Scheme, baseUrl.Scheme, StringComparison.OrdinalIgnoreCase)
            || !string.Equals(uri.IdnHost, baseUrl.IdnHost, StringComparison.OrdinalIgnoreCase)
            || uri.Port != baseUrl.Port
            || !string.IsNullOrEmpty(uri.UserInfo))
        {
            return null;
        }

        // Read off PathAndQuery, which HttpClient builds (and the Uri keeps) for the request line anyway: AbsolutePath would
        // be one more string per proxied call.
        var pathAndQuery = uri.PathAndQuery;
        return basePath.Length == 0
            || (pathAndQuery.StartsWith(basePath, StringComparison.Ordinal) && (pathAndQuery.Length == basePath.Length || pathAndQuery[basePath.Length] is '/' or '?'))
            ? uri
            : null;
    }

    /// <summary>The path for the audit trail: the remainder and the query parameter names, never their values.</summary>
    public static string ForAudit(string rest, string query)
    {
        var path = rest.Length == 0 ? "/" : rest;
        if (query.Length > 1)
        {
            var names = query[1..].Split('&', StringSplitOptions.RemoveEmptyEntries)
                .Select(pair => pair.Split('=', 2)[0])
                .Distinct(StringComparer.Ordinal);
            path += "?" + string.Join('&', names);
        }

        return path.Length <= 512 ? path : path[..512];
    }
}
