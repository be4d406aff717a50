using System.Reflection;
using System.Text.RegularExpressions;
using Microsoft.Extensions.Logging;

namespace Valet.Tests.Logging;

/// <summary>Every <c>[LoggerMessage]</c> of every Valet assembly has its own event id, and docs/logging.md lists it.</summary>
public sealed partial class LogEventIdTests
{
    private static readonly Assembly[] ValetAssemblies =
    [
        typeof(Valet.Core.Providers.NetworkAddresses).Assembly,
        typeof(Valet.Storage.StorageInitializer).Assembly,
        typeof(Valet.Server.Hosting.ValetHost).Assembly,
        typeof(Valet.Cli.Program).Assembly,
    ];

    private static List<(int Id, string Where)> EventIds() =>
    [
        .. ValetAssemblies.Distinct()
            .SelectMany(assembly => assembly.GetTypes())
            .SelectMany(type => type.GetMethods(BindingFlags.Static | BindingFlags.Instance | BindingFlags.Public | BindingFlags.NonPublic | BindingFlags.DeclaredOnly))
            .Select(method => (Method: method, Attribute: method.GetCustomAttribute<LoggerMessageAttribute>()))
            .Where(m => m.Attribute is not null)
            .Select(m => (m.Attribute!.EventId, $"{m.Method.DeclaringType!.FullName}.{m.Method.Name}")),
    ];

    [Fact]
    public void LoggerMessageEventIds_AreUniqueAcrossValetAssemblies()
    {
        var ids = EventIds();

        var duplicates = ids.GroupBy(i => i.Id).Where(g => g.Count() > 1)
            .Select(g => $"{g.Key}: {string.Join(", ", g.Select(i => i.Where))}").ToList();
        Assert.True(ids.Count >= 30, $"only {ids.Count} [LoggerMessage] methods found: is the scan looking at the right assemblies?");
        Assert.True(duplicates.Count == 0, "Event ids used twice:\n" + string.Join('\n', duplicates));
    }

    [Fact]
    public void EveryEventId_IsListedInDocsLogging()
    {
        var documented = DocumentedIds().Matches(File.ReadAllText(DocsLogging())).Select(m => int.Parse(m.Groups[1].Value, System.Globalization.CultureInfo.InvariantCulture)).ToHashSet();

        var missing = EventIds().Where(i => !documented.Contains(i.Id)).Select(i => $"{i.Id} ({i.Where})").ToList();

        Assert.True(missing.Count == 0, "Not in docs/logging.md:\n" + string.Join('\n', missing));
    }

    private static string DocsLogging()
    {
        var dir = new DirectoryInfo(AppContext.BaseDirectory);
        while (dir is not null && !File.Exists(Path.Combine(dir.FullName, "docs", "logging.md")))
        {
            dir = dir.Parent;
        }

        return dir is null ? throw new InvalidOperationException("docs/logging.md not found") : Path.Combine(dir.FullName, "docs", "logging.md");
    }

    [GeneratedRegex(@"^\| (\d{4}) \|", RegexOptions.Multiline)]
    private static partial Regex DocumentedIds();
}
