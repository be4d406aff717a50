using System.Text.RegularExpressions;
using Microsoft.AspNetCore.Http;

namespace Valet.Server.Http;

/// <summary>Collects every field problem of a request, so the caller learns them all at once.</summary>
internal sealed partial class Validation
{
    private readonly Dictionary<string, List<string>> _errors = new(StringComparer.Ordinal);

    public bool IsValid => _errors.Count == 0;

    /// <summary>A provider id that is not in the catalog: where to see the ones that are (the API's route and the CLI's verb).</summary>
    public void UnknownProvider(string field, string providerId) =>
        Add(field, $"unknown provider '{providerId}' (see GET /v1/providers or valet providers list)");

    public void Add(string field, string message)
    {
        if (!_errors.TryGetValue(field, out var list))
        {
            _errors[field] = list = [];
        }

        list.Add(message);
    }

    /// <summary>Adds "is required" when missing; returns the trimmed value.</summary>
    public string? Required(string field, string? value, int maxLength = 200)
    {
        if (string.IsNullOrWhiteSpace(value))
        {
            Add(field, "is required");
            return null;
        }

        if (value.Length > maxLength)
        {
            Add(field, $"must be at most {maxLength} characters");
            return null;
        }

        return value.Trim();
    }

    /// <summary>
    /// A name a person reads (an org's, a key's, an account's): required, at most <paramref name="maxLength"/>, and no
    /// control characters — an escape sequence in a name is a command to whichever terminal lists it, and a line break
    /// breaks every table and log line it appears in.
    /// </summary>
    public const string NoControlCharacters = "must not contain control characters (line breaks, tabs, escape sequences)";

    public string? Text(string field, string? value, int maxLength = 200)
    {
        var trimmed = Required(field, value, maxLength);
        if (trimmed is not null && HasControl(trimmed))
        {
            Add(field, NoControlCharacters);
            return null;
        }

        return trimmed;
    }

    /// <summary>An optional name (an account's login or email): at most <paramref name="maxLength"/>, no control characters.</summary>
    public void OptionalText(string field, string? value, int maxLength)
    {
        if (value is null)
        {
            return;
        }

        if (value.Length > maxLength)
        {
            Add(field, $"must be at most {maxLength} characters");
        }
        else if (HasControl(value))
        {
            Add(field, NoControlCharacters);
        }
    }

    public static bool HasControl(string value) => value.Any(char.IsControl);

    public string? Slug(string field, string? value)
    {
        var trimmed = Required(field, value, 64);
        if (trimmed is not null && !SlugPattern().IsMatch(trimmed))
        {
            Add(field, "must be a slug: lower-case letters, digits and '-', starting with a letter or digit");
            return null;
        }

        return trimmed;
    }

    /// <summary>
    /// A scope as RFC 6749 §3.3 defines it: <c>scope-token = 1*( %x21 / %x23-5B / %x5D-7E )</c>, visible ASCII without
    /// space, <c>"</c> or <c>\</c>; at most 200 characters here. A space would split one scope into two at the provider, a
    /// control character has no place in an authorization URL or a stored grant.
    /// </summary>
    public static bool IsScopeToken(string? scope) =>
        scope is { Length: > 0 and <= 200 } && !scope.AsSpan().ContainsAnyExcept(ScopeTokenChars);

    /// <summary>Adds one problem to <paramref name="field"/> when the list is too long or a scope is not a scope token.</summary>
    public void Scopes(string field, IReadOnlyCollection<string?>? scopes, int max)
    {
        if (scopes is not null && (scopes.Count > max || !scopes.All(IsScopeToken)))
        {
            Add(field, ScopesRule(max));
        }
    }

    public static string ScopesRule(int max) =>
        $"must be at most {max} scopes, each 1 to 200 visible ASCII characters without spaces, '\"' or '\\' (RFC 6749 section 3.3)";

    private static readonly System.Buffers.SearchValues<char> ScopeTokenChars = System.Buffers.SearchValues.Create(
        "!#$%&'()*+,-./0123456789:;<=>?@ABCDEFGHIJKLMNOPQRSTUVWXYZ[]^_`abcdefghijklmnopqrstuvwxyz{|}~");

    /// <summary>Every problem as one readable line ("name is required"), for the dashboard's error banner.</summary>
    public IEnumerable<string> Messages => _errors.SelectMany(e => e.Value.Select(message => $"{e.Key} {message}"));

    public ProblemResult Problem() => Problems.Validation(_errors.ToDictionary(e => e.Key, e => e.Value.ToArray(), StringComparer.Ordinal));

    [GeneratedRegex("^[a-z0-9][a-z0-9-]{0,63}$")]
    private static partial Regex SlugPattern();
}
