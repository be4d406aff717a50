using System.Globalization;
using System.Text;
using System.Text.Json.Nodes;

namespace Valet.Tests.Fuzz;

/// <summary>
/// Seeded generator of hostile inputs: plausible values mutated (control characters, bidi and full-width characters,
/// encodings, traversal forms, huge and empty strings) and JSON of the wrong shape. Same seed, same sequence.
/// </summary>
internal sealed class FuzzInputs(int seed)
{
    private static readonly string[] Oddities =
    [
        "\0", "\r\n", "\n", "\t", "\u001b[31m", "\u007f", "\u0085", "\u2028", "\u202e", "\ufeff", "\uff0e\uff0e", "ü", "漢字", "😀",
        "\ud800", "%", "%00", "%0a", "%0d%0a", "%2e%2e", "%2f", "%5c", "%EF%BC%8E", "%ff", "..", "..;", "../", "..\\", "//", "\\\\",
        "?", "#", "&", "=", ";", ",", "'", "\"", "<script>", "${jndi:x}", "{{7*7}}", " ", "+", "*", "@", ":", "[", "]", "{", "}",
        "http://169.254.169.254/", "//evil.example", "javascript:alert(1)", "file:///etc/passwd",
    ];

    private readonly Random _random = new(seed);

    public int Next(int max) => _random.Next(max);

    public bool Chance(int percent) => _random.Next(100) < percent;

    public T Pick<T>(IReadOnlyList<T> values) => values[_random.Next(values.Count)];

    /// <summary>A value derived from <paramref name="seedValue"/>: unchanged, mutated once or several times, or replaced.</summary>
    public string Mutate(string seedValue)
    {
        var value = seedValue;
        var rounds = _random.Next(0, 4);
        for (var i = 0; i < rounds; i++)
        {
            value = _random.Next(9) switch
            {
                0 => value.Insert(_random.Next(value.Length + 1), Pick(Oddities)),
                1 => value + Pick(Oddities),
                2 => Pick(Oddities) + value,
                3 => value.Length > 0 ? value.Remove(_random.Next(value.Length), 1) : value,
                4 => Uri.EscapeDataString(value),
                5 => new string('a', Pick(new[] { 255, 256, 1024, 5000, 70_000 })),
                6 => string.Empty,
                7 => value.ToUpperInvariant(),
                _ => RandomText(_random.Next(1, 40)),
            };
        }

        return value;
    }

    public string RandomText(int length)
    {
        var builder = new StringBuilder(length);
        for (var i = 0; i < length; i++)
        {
            builder.Append(_random.Next(6) switch
            {
                0 => (char)_random.Next(0, 32),
                1 => (char)_random.Next(0x80, 0x800),
                2 => Pick(Oddities),
                _ => (char)_random.Next(32, 127),
            });
        }

        return builder.ToString();
    }

    /// <summary>A JSON value for a field: usually the right type and a mutated value, sometimes the wrong type.</summary>
    public JsonNode? Value(object plausible) => _random.Next(10) switch
    {
        0 => null,
        1 => JsonValue.Create(_random.Next(int.MinValue, int.MaxValue)),
        2 => JsonValue.Create(Pick(new[] { double.MaxValue, -1.5, 1e300, 0.0 })),
        3 => JsonValue.Create(_random.Next(2) == 0),
        4 => new JsonArray(JsonValue.Create(Mutate("x")), JsonValue.Create(7)),
        5 => new JsonObject { [Mutate("k")] = Mutate("v") },
        _ => plausible switch
        {
            string s => JsonValue.Create(Mutate(s)),
            int n => JsonValue.Create(Pick(new long[] { n, -n, 0, long.MaxValue, 300_000_000_000 })),
            string[] a => new JsonArray([.. a.Select(x => (JsonNode?)JsonValue.Create(Mutate(x)))]),
            JsonNode node => node.DeepClone(),
            _ => JsonValue.Create(Mutate(plausible.ToString() ?? string.Empty)),
        },
    };

    /// <summary>An object with some of <paramref name="fields"/> (each possibly mutated or mistyped) and maybe an unknown one.</summary>
    public string Object(IReadOnlyDictionary<string, object> fields)
    {
        if (Chance(5))
        {
            return Pick(new[] { "", "null", "[]", "{", "{\"a\":", "\"text\"", "123", "{\"a\":1}}", "\ufeff{}", "{\"a\":\"\\ud800\"}" });
        }

        var json = new JsonObject();
        foreach (var (name, plausible) in fields)
        {
            if (Chance(85))
            {
                json[Chance(3) ? Mutate(name) : name] = Value(plausible);
            }
        }

        if (Chance(10))
        {
            json[RandomText(5)] = Value("extra");
        }

        return json.ToJsonString();
    }

    public string Number() => Pick(new[] { "0", "-1", "1", "60", "61", "1e3", "NaN", "99999999999999999999", "", "abc", "0x10", "1.5" })
        .ToString(CultureInfo.InvariantCulture);
}
