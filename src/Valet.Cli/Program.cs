using System.CommandLine;
using System.CommandLine.Invocation;
using System.Runtime.InteropServices;
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
            DashboardCommand.Create(),
            OrgsCommand.Create(),
            CredentialsCommand.Create(),
            KeysCommand.Create(),
            ProvidersCommand.Create(),
            VaultCommand.Create(),
            TargetsCommand.Create(),
            AuditCommand.Create());
        Usage.RequireSubcommands(root);

        // Parse errors are usage errors: one line each on stderr and exit 2, never the help on stdout (the default action).
        // A help or version request still wins over them, as System.CommandLine decides.
        var parse = root.Parse(args);
        if (parse.Errors.Count > 0 && parse.Action is ParseErrorAction)
        {
            foreach (var line in Usage.Describe(parse))
            {
                await Console.Error.WriteLineAsync("valet: " + line);
            }

            return ExitCodes.Usage;
        }

        // Ctrl+C and SIGTERM cancel the verb's token; the verb stops and we print one line (a second signal kills).
        // System.CommandLine's own handler is off: it would race us for the exit code and let the cancellation escape.
        using var interrupted = new CancellationTokenSource();
        using var sigint = PosixSignalRegistration.Create(PosixSignal.SIGINT, context => Interrupt(context, interrupted));
        using var sigterm = PosixSignalRegistration.Create(PosixSignal.SIGTERM, context => Interrupt(context, interrupted));
        try
        {
            return await parse.InvokeAsync(
                new InvocationConfiguration { EnableDefaultExceptionHandler = false, ProcessTerminationTimeout = null }, interrupted.Token);
        }
        catch (OperationCanceledException) when (interrupted.IsCancellationRequested)
        {
            await Console.Error.WriteLineAsync("valet: interrupted.");
            return ExitCodes.Interrupted;
        }
        catch (CliException error)
        {
            await Console.Error.WriteLineAsync("valet: " + (error.ExitCode == ExitCodes.Usage ? Usage.WithHint(error.Message, parse) : error.Message));
            return error.ExitCode;
        }
        catch (Exception error) when (error is not OutOfMemoryException)
        {
            // A bug, not an expected failure: still one line, no stack trace for the user.
            await Console.Error.WriteLineAsync($"valet: unexpected {error.GetType().Name}: {error.Message}");
            return ExitCodes.Failure;
        }
    }

    private static void Interrupt(PosixSignalContext context, CancellationTokenSource interrupted)
    {
        // The first signal asks the verb to stop; a second one, if the verb has not, lets the runtime end the process.
        context.Cancel = !interrupted.IsCancellationRequested;
        interrupted.Cancel();
    }
}
