using Valet.Server.Hosting;

namespace Valet.Cli.Infrastructure;

/// <summary>
/// What goes wrong with the data directory itself while a verb loads its configuration (<c>valet serve</c>, <c>demo</c>,
/// <c>vault rotate</c>): one usage line naming the directory or <c>valet.json</c>, not an unexpected exception.
/// </summary>
internal static class BootErrors
{
    /// <summary>The usage error for <paramref name="error"/>, or null when it is not about the data directory.</summary>
    public static CliException? Describe(Exception error)
    {
        var directory = ValetSettings.DefaultDataDirectory();
        return error switch
        {
            // The configuration loader's message only says it failed; the innermost one says where.
            InvalidDataException => new CliException(
                $"{Path.Combine(directory, "valet.json")} is not valid JSON: {Innermost(error).Message}", ExitCodes.Usage),
            IOException or UnauthorizedAccessException => new CliException(
                $"cannot use the data directory {directory} (VALET_DATA_DIR): {error.Message}", ExitCodes.Usage),
            _ => null,
        };
    }

    private static Exception Innermost(Exception error)
    {
        while (error.InnerException is { } inner)
        {
            error = inner;
        }

        return error;
    }
}
