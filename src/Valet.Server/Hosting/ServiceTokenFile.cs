using Valet.Core;
using Valet.Core.Domain;

namespace Valet.Server.Hosting;

/// <summary>
/// Local mode: a random service token in <c>{data}/service-token</c> (mode 0600) that the CLI on the same machine
/// presents. It is the only principal the <c>/internal/*</c> routes accept.
/// </summary>
internal static class ServiceTokenFile
{
    public const string FileName = "service-token";

    public static string PathIn(string dataDirectory) => Path.Combine(dataDirectory, FileName);

    public static string LoadOrCreate(string dataDirectory)
    {
        var path = PathIn(dataDirectory);
        if (!File.Exists(path))
        {
            DataDirectory.Create(dataDirectory);
            try
            {
                var options = new FileStreamOptions { Mode = FileMode.CreateNew, Access = FileAccess.Write };
                if (!OperatingSystem.IsWindows())
                {
                    options.UnixCreateMode = UnixFileMode.UserRead | UnixFileMode.UserWrite;
                }

                using var stream = new FileStream(path, options);
                using var writer = new StreamWriter(stream);
                writer.Write("vs_" + Ids.RandomToken(32));
            }
            catch (IOException) when (File.Exists(path))
            {
                // Created concurrently by another process on this data directory: use it.
            }
        }

        return File.ReadAllText(path).Trim();
    }

    /// <summary>What the CLI reads; null when the file is absent or unreadable.</summary>
    public static string? TryRead(string dataDirectory)
    {
        try
        {
            var path = PathIn(dataDirectory);
            return File.Exists(path) ? File.ReadAllText(path).Trim() : null;
        }
        catch (IOException)
        {
            return null;
        }
        catch (UnauthorizedAccessException)
        {
            return null;
        }
    }
}
