using System.Runtime.InteropServices;
using System.Runtime.Versioning;

namespace Valet.Core;

/// <summary>
/// The data directory holds the database, the encryption key and the service token: owner only (0700, files 0600).
/// On Unix the process umask becomes 077 the first time Valet touches it, so every file created later — by Valet or
/// by SQLite (<c>-wal</c>, <c>-shm</c>, <c>-journal</c>) — is owner-only from birth, with no window in between.
/// Nothing to do on Windows (ACLs, inherited from the user profile).
/// </summary>
public static class DataDirectory
{
    private const UnixFileMode OwnerOnlyDirectory = UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute;
    private const UnixFileMode GroupAndOther = UnixFileMode.GroupRead | UnixFileMode.GroupWrite | UnixFileMode.GroupExecute
        | UnixFileMode.OtherRead | UnixFileMode.OtherWrite | UnixFileMode.OtherExecute | UnixFileMode.SetGroup | UnixFileMode.SetUser
        | UnixFileMode.StickyBit;

    private static int _umaskSet;

    /// <summary>Owner-only umask (once per process), then the directory, created 0700 when absent.</summary>
    public static void Create(string directory)
    {
        if (OperatingSystem.IsWindows())
        {
            Directory.CreateDirectory(directory);
            return;
        }

        RestrictNewFiles();
        if (!Directory.Exists(directory))
        {
            Directory.CreateDirectory(directory, OwnerOnlyDirectory);
        }
    }

    /// <summary>
    /// <see cref="Create"/>, then an existing directory and the files directly in it lose every group and other bit.
    /// Returns what was tightened (for one log line); symbolic links and files of another owner are left alone.
    /// </summary>
    public static IReadOnlyList<string> Secure(string directory)
    {
        Create(directory);
        if (OperatingSystem.IsWindows())
        {
            return [];
        }

        var tightened = new List<string>();
        if (Tighten(directory))
        {
            tightened.Add(directory);
        }

        foreach (var file in Directory.EnumerateFiles(directory))
        {
            if (new FileInfo(file).LinkTarget is null && Tighten(file))
            {
                tightened.Add(file);
            }
        }

        return tightened;
    }

    [UnsupportedOSPlatform("windows")]
    private static bool Tighten(string path)
    {
        try
        {
            var mode = File.GetUnixFileMode(path);
            if ((mode & GroupAndOther) == 0)
            {
                return false;
            }

            File.SetUnixFileMode(path, mode & ~GroupAndOther);
            return true;
        }
        catch (Exception error) when (error is UnauthorizedAccessException or IOException)
        {
            return false; // not ours to change (another owner) or gone meanwhile
        }
    }

    [UnsupportedOSPlatform("windows")]
    private static void RestrictNewFiles()
    {
        if (Interlocked.Exchange(ref _umaskSet, 1) == 0)
        {
            _ = Umask(0b000_111_111); // 077: new files 0600, new directories 0700
        }
    }

    // DllImport, not LibraryImport: the generated stub needs unsafe code, and a uint in and out needs no marshalling.
    [DllImport("libc", EntryPoint = "umask")]
    [DefaultDllImportSearchPaths(DllImportSearchPath.SafeDirectories)]
#pragma warning disable SYSLIB1054
    private static extern uint Umask(uint mask);
#pragma warning restore SYSLIB1054
}
