using System.CommandLine;
using System.CommandLine.Parsing;
using System.Globalization;

namespace Valet.Cli.Infrastructure;

/// <summary>
/// Usage errors as the rest of the CLI reports failures: one line per problem on stderr, <c>valet: PROBLEM See 'valet
/// VERB --help'.</c>, nothing on stdout (it may be a pipe into a JSON reader), exit <see cref="ExitCodes.Usage"/>.
/// System.CommandLine's own parse-error action would print the whole help on stdout instead.
/// </summary>
internal static class Usage
{
    /// <summary>
    /// A usage error a verb found itself (a value the parser accepted, refused by the verb) ends like a parse error's:
    /// with where to find the verb's help, unless it is several lines or names its help already.
    /// </summary>
    public static string WithHint(string message, ParseResult parse) =>
        message.Contains('\n', StringComparison.Ordinal) || message.Contains("--help", StringComparison.Ordinal)
            ? message
            : $"{message} See '{PathOf(parse.CommandResult)} --help'.";

    /// <summary>One line per parse error, each ending with where to find the verb's help.</summary>
    public static IReadOnlyList<string> Describe(ParseResult parse)
    {
        var hint = $"See '{PathOf(parse.CommandResult)} --help'.";
        return [.. parse.Errors.Select(e => $"{OneLine(e.Message)} {hint}").Distinct(StringComparer.Ordinal)];
    }

    /// <summary>
    /// A group (<c>valet</c>, <c>valet keys</c>, …) run without one of its commands is a usage error naming them, not a
    /// screen of help.
    /// </summary>
    public static void RequireSubcommands(Command command, string path = "valet")
    {
        foreach (var sub in command.Subcommands)
        {
            RequireSubcommands(sub, path + " " + sub.Name);
        }

        if (command.Subcommands.Count > 0 && command.Action is null)
        {
            var names = string.Join(", ", command.Subcommands.Where(c => !c.Hidden).Select(c => c.Name));
            var where = command is RootCommand ? string.Empty : $" after '{path}'";
            var message = $"missing command{where} ({names}). See '{path} --help'.";
            command.SetAction((Func<ParseResult, int>)(_ => throw new CliException(message, ExitCodes.Usage)));
        }
    }

    /// <summary><c>true</c> or <c>false</c> (any case); anything else is a parse error saying so.</summary>
    public static Argument<bool> TrueOrFalse(this Argument<bool> argument)
    {
        argument.CustomParser = result => Convert(result, $"<{argument.Name}>", "true or false",
            text => (bool.TryParse(text, out var value), value), () => argument.HasDefaultValue && (bool)argument.GetDefaultValue()!);
        return argument;
    }

    /// <summary>A whole number in invariant digits; anything else is a parse error naming the option.</summary>
    public static Option<int> WholeNumber(this Option<int> option)
    {
        option.CustomParser = result => Convert(result, option.Name, Expected(result, int.MinValue, int.MaxValue),
            text => (int.TryParse(text, NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out var value), value),
            () => option.HasDefaultValue ? (int)option.GetDefaultValue()! : 0);
        return option;
    }

    /// <inheritdoc cref="WholeNumber(Option{int})"/>
    public static Option<long?> WholeNumber(this Option<long?> option)
    {
        option.CustomParser = result => Convert<long?>(result, option.Name, Expected(result, long.MinValue, long.MaxValue),
            text => (long.TryParse(text, NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out var value), value), () => null);
        return option;
    }

    /// <summary>"a whole number", or for digits that do not fit, the range they must fit in.</summary>
    private static string Expected(System.CommandLine.Parsing.ArgumentResult result, long min, long max) =>
        result.Tokens.Count > 0 && result.Tokens[^1].Value.TrimStart('-', '+') is { Length: > 0 } digits && digits.All(char.IsAsciiDigit)
            ? $"a whole number from {min} to {max}"
            : "a whole number";

    /// <summary>Only these values (exact case); the help shows them as <c>a|b</c>.</summary>
    public static Option<string> OneOf(this Option<string> option, params string[] values)
    {
        option.HelpName = string.Join('|', values);
        option.CompletionSources.Add(values);
        option.Validators.Add(result =>
        {
            // No token: the option was not given and its default applies.
            if (result.Tokens.Count > 0 && result.Tokens[^1].Value is var value && !values.Contains(value, StringComparer.Ordinal))
            {
                result.AddError($"{option.Name} must be {Alternatives(values)}, not '{value}'.");
            }
        });
        return option;
    }

    private static T? Convert<T>(ArgumentResult result, string name, string expected, Func<string, (bool Ok, T Value)> parse, Func<T?> fallback)
    {
        if (result.Tokens.Count == 0)
        {
            return fallback();
        }

        var text = result.Tokens[^1].Value;
        var (ok, value) = parse(text);
        if (!ok)
        {
            result.AddError($"{name} must be {expected}, not '{text}'.");
            return default;
        }

        return value;
    }

    private static string Alternatives(IReadOnlyList<string> values) =>
        values.Count == 1 ? values[0] : string.Join(", ", values.Take(values.Count - 1)) + " or " + values[^1];

    private static string PathOf(CommandResult command)
    {
        var names = new List<string>();
        for (SymbolResult? result = command; result is not null; result = result.Parent)
        {
            if (result is CommandResult { Command: var c })
            {
                names.Add(c is RootCommand ? "valet" : c.Name);
            }
        }

        names.Reverse();
        return string.Join(' ', names);
    }

    /// <summary>System.CommandLine's messages may span lines (a list of allowed values): one line, ending in a full stop.</summary>
    private static string OneLine(string message)
    {
        var line = string.Join(' ', message.Split((char[]?)null, StringSplitOptions.RemoveEmptyEntries));
        return line.EndsWith('.') ? line : line + ".";
    }
}
