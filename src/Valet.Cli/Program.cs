using System.CommandLine;
using Valet.Cli.Commands;
using Valet.Cli.Infrastructure;

namespace Valet.Cli;

internal static class Program
{
    public static async Task<int> Main(string[] args)
    {
        var root = new RootCommand("Valet — outbound OAuth connection broker for AI agents");
        root.With(
            ServeCommand.Create(),
            ConnectCommand.Create(),
            ConnectionsCommand.Create(),
            ImportCommand.Create(),
            TokenCommand.Create(),
            DemoCommand.Create(),
            OrgsCommand.Create(),
            CredentialsCommand.Create(),
            KeysCommand.Create(),
            ProvidersCommand.Create(),
            VaultCommand.Create(),
            TargetsCommand.Create(),
            AuditCommand.Create());

        try
        {
            return await root.Parse(args).InvokeAsync(new InvocationConfiguration { EnableDefaultExceptionHandler = false });
        }
        catch (CliException error)
        {
            await Console.Error.WriteLineAsync("valet: " + error.Message);
            return error.ExitCode;
        }
        catch (Exception error) when (error is not OutOfMemoryException)
        {
            // A bug, not an expected failure: still one line, no stack trace for the user.
            await Console.Error.WriteLineAsync($"valet: unexpected {error.GetType().Name}: {error.Message}");
            return ExitCodes.Failure;
        }
    }
}
