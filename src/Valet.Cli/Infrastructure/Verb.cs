using System.CommandLine;

namespace Valet.Cli.Infrastructure;

internal static class Verb
{
    public static readonly Option<bool> Json = new("--json") { Description = "Print exactly one JSON document on stdout" };

    /// <summary>Wires an action that talks to the server; CLI failures become one stderr line and an exit code.</summary>
    public static Command WithApi(this Command command, Func<ParseResult, ValetApi, CancellationToken, Task<int>> action)
    {
        command.SetAction(async (parse, cancellationToken) =>
        {
            using var api = ValetApi.FromEnvironment();
            return await action(parse, api, cancellationToken);
        });
        return command;
    }

    public static Command With(this Command command, params Symbol[] symbols)
    {
        foreach (var symbol in symbols)
        {
            switch (symbol)
            {
                case Option option:
                    command.Options.Add(option);
                    break;
                case Argument argument:
                    command.Arguments.Add(argument);
                    break;
                case Command sub:
                    command.Subcommands.Add(sub);
                    break;
            }
        }

        return command;
    }
}
