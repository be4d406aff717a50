using System.Globalization;
using System.Net;

namespace Valet.Server.Dashboard;

/// <summary>
/// The dashboard's whole templating: pages are C# interpolated strings, and every value from data goes through
/// <see cref="E"/>. Small on purpose (see docs/dashboard.md, "Rendering").
/// </summary>
internal static class Html
{
    /// <summary>HTML-encodes text for an element body or a quoted attribute.</summary>
    public static string E(string? value) => WebUtility.HtmlEncode(value ?? string.Empty);

    /// <summary>A URL path segment or query value.</summary>
    public static string U(string value) => Uri.EscapeDataString(value);

    public static string When(DateTimeOffset? at) => at is { } value
        ? $"<time datetime=\"{value.UtcDateTime.ToString("O", CultureInfo.InvariantCulture)}\">{E(value.UtcDateTime.ToString("yyyy-MM-dd HH:mm 'UTC'", CultureInfo.InvariantCulture))}</time>"
        : "<span class=\"muted\">—</span>";

    public static string Join<T>(IEnumerable<T> items, Func<T, string> render) => string.Concat(items.Select(render));

    public static string Flash(string? ok, IEnumerable<string>? errors)
    {
        var list = errors?.ToList() ?? [];
        var html = ok is null ? string.Empty : $"<p class=\"flash ok\" role=\"status\" id=\"flash-ok\">{E(ok)}</p>";
        if (list.Count == 1)
        {
            html += $"<p class=\"flash error\" role=\"alert\" id=\"flash-error\">{E(list[0])}</p>";
        }
        else if (list.Count > 1)
        {
            html += $"<div class=\"flash error\" role=\"alert\" id=\"flash-error\">Not saved:<ul>{Join(list, m => $"<li>{E(m)}</li>")}</ul></div>";
        }

        return html;
    }
}
