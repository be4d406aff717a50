namespace Valet.Cli.Infrastructure;

/// <summary>Documents a verb reads from a file argument, or stdin for <c>-</c>: every way a read fails is one usage line.</summary>
internal static class InputFiles
{
    public static async Task<string> ReadTextAsync(string path, string what, CancellationToken cancellationToken)
    {
        if (path == "-")
        {
            return await Console.In.ReadToEndAsync(cancellationToken);
        }

        if (string.IsNullOrWhiteSpace(path))
        {
            throw new CliException($"{what} needs a file path ('-' reads stdin).", ExitCodes.Usage);
        }

        if (Directory.Exists(path))
        {
            throw new CliException($"cannot read {path}: it is a directory, not a file.", ExitCodes.Usage);
        }

        try
        {
            return await File.ReadAllTextAsync(path, cancellationToken);
        }
        catch (Exception error) when (error is FileNotFoundException or DirectoryNotFoundException)
        {
            throw new CliException($"cannot read {path}: no such file.", ExitCodes.Usage);
        }
        catch (UnauthorizedAccessException)
        {
            throw new CliException($"cannot read {path}: permission denied.", ExitCodes.Usage);
        }
        catch (IOException error)
        {
            throw new CliException($"cannot read {path}: {error.Message}", ExitCodes.Usage);
        }
    }
}
