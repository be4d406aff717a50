namespace Valet.Cli.Infrastructure;

internal static class ExitCodes
{
    public const int Success = 0;

    /// <summary>The operation failed: the server said no, a flow ended in error, or the server is unreachable.</summary>
    public const int Failure = 1;

    /// <summary>Bad usage or configuration: a parse error, a bad option value, a boot check of <c>valet serve</c>.</summary>
    public const int Usage = 2;

    /// <summary>Stopped by Ctrl+C or SIGTERM while working or waiting (128 + SIGINT, as shells report it).</summary>
    public const int Interrupted = 130;
}

/// <summary>An expected CLI failure: printed as one line <c>valet: MESSAGE</c> on stderr, then the exit code.</summary>
/// <param name="code">
/// A stable error code for a <c>--json</c> outcome document: the server's problem <c>code</c>, or the CLI's own
/// (<c>server_unreachable</c>). Null for usage errors, which print no document.
/// </param>
internal sealed class CliException(string message, int exitCode = ExitCodes.Failure, string? code = null) : Exception(message)
{
    public int ExitCode { get; } = exitCode;

    public string? Code { get; } = code;
}
