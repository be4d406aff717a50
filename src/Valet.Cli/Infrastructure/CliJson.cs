using System.Text.Encodings.Web;
using System.Text.Json;
using System.Text.Json.Serialization;

namespace Valet.Cli.Infrastructure;

internal static class CliJson
{
    public static readonly JsonSerializerOptions Options = new()
    {
        PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower,
        DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull,
    };

    private static readonly JsonSerializerOptions Pretty = new() { WriteIndented = true, Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping };

    /// <summary>Exactly one JSON document on stdout.</summary>
    public static void Print(JsonElement element) => Console.Out.WriteLine(JsonSerializer.Serialize(element, Pretty));

    public static void Print(object value) => Console.Out.WriteLine(JsonSerializer.Serialize(JsonSerializer.SerializeToElement(value, Options), Pretty));

    /// <summary>
    /// A field as text for a person's terminal: booleans as <c>true</c>/<c>false</c>, and control characters shown as
    /// <c>?</c>: an account name a provider returned, or a value stored before the server refused them, must not move
    /// the cursor, clear the screen or break a table (an escape sequence is a terminal command).
    /// </summary>
    public static string Str(this JsonElement element, string name) =>
        element.ValueKind == JsonValueKind.Object && element.TryGetProperty(name, out var value)
            ? value.ValueKind switch
            {
                JsonValueKind.Null => string.Empty,
                JsonValueKind.True => "true",
                JsonValueKind.False => "false",
                JsonValueKind.String => Printable(value.GetString() ?? string.Empty),
                _ => Printable(value.ToString()),
            }
            : string.Empty;

    public static string Printable(string text) =>
        text.Any(char.IsControl) ? string.Concat(text.Select(c => char.IsControl(c) ? '?' : c)) : text;
}

/// <summary>Plain aligned text tables on stdout (no colour, pipe-friendly).</summary>
internal static class Table
{
    public static void Print(IReadOnlyList<string> headers, IEnumerable<IReadOnlyList<string>> rows)
    {
        var all = rows.ToList();
        var widths = headers.Select((h, i) => Math.Max(h.Length, all.Count == 0 ? 0 : all.Max(r => r[i].Length))).ToArray();
        Console.Out.WriteLine(string.Join("  ", headers.Select((h, i) => h.ToUpperInvariant().PadRight(widths[i]))).TrimEnd());
        foreach (var row in all)
        {
            Console.Out.WriteLine(string.Join("  ", row.Select((c, i) => c.PadRight(widths[i]))).TrimEnd());
        }
    }
}
