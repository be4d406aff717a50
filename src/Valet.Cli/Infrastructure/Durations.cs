using System.Globalization;

namespace Valet.Cli.Infrastructure;

internal static class Durations
{
    /// <summary><c>90</c> (seconds), <c>30s</c>, <c>5m</c>, <c>1h</c>.</summary>
    public static TimeSpan Parse(string value, string option)
    {
        var text = value.Trim();
        var unit = text.Length > 0 && char.IsLetter(text[^1]) ? char.ToLowerInvariant(text[^1]) : 's';
        var number = char.IsLetter(text.LastOrDefault()) ? text[..^1] : text;
        if (!double.TryParse(number, NumberStyles.Float, CultureInfo.InvariantCulture, out var amount) || amount <= 0 || unit is not ('s' or 'm' or 'h'))
        {
            throw new CliException($"{option} '{value}' is not a duration such as 90s, 5m or 1h.", ExitCodes.Usage);
        }

        return unit switch { 'h' => TimeSpan.FromHours(amount), 'm' => TimeSpan.FromMinutes(amount), _ => TimeSpan.FromSeconds(amount) };
    }
}
