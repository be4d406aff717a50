using Valet.Core;

namespace Valet.Server.Hosting;

/// <summary>
/// One <c>valet serve</c> per SQLite database. Local mode coordinates refreshes in process (an in-memory lock per
/// connection, docs/storage.md): a second process on the same file would refresh the same connections on its own, and a
/// provider that rotates refresh tokens strictly revokes the grant when one is used twice. So <c>serve</c> holds an
/// exclusive lock on <c>{database}.lock</c> (an OS file lock: released when the process ends, however it ends) and a
/// second one refuses to start in one line. PostgreSQL needs none: its row locks coordinate every node.
/// </summary>
internal sealed class SqliteProcessLock : IDisposable
{
    private readonly FileStream? _held;

    private SqliteProcessLock(FileStream? held) => _held = held;

    public static SqliteProcessLock Acquire(string databasePath)
    {
        var path = databasePath + ".lock";
        if (!Directory.Exists(Path.GetDirectoryName(path)))
        {
            return new SqliteProcessLock(null); // nothing to share yet; opening the database reports the missing directory
        }

        try
        {
            var options = new FileStreamOptions
            {
                Mode = FileMode.OpenOrCreate,
                Access = FileAccess.ReadWrite,
                Share = FileShare.None, // on Unix .NET takes flock(LOCK_EX | LOCK_NB) for this
            };
            if (!OperatingSystem.IsWindows())
            {
                options.UnixCreateMode = UnixFileMode.UserRead | UnixFileMode.UserWrite;
            }

            return new SqliteProcessLock(new FileStream(path, options));
        }
        catch (IOException error) when (error is not FileNotFoundException and not DirectoryNotFoundException && IsHeldElsewhere(error))
        {
            throw new ValetConfigurationException(
                $"Another valet serve is already using {databasePath} (it holds {path}): one server per SQLite database. Stop it, or give this one its own VALET_DATA_DIR.");
        }
    }

    public void Dispose() => _held?.Dispose();

    /// <summary>The lock is taken (EWOULDBLOCK from flock, which .NET reports as a sharing violation), not some other I/O failure.</summary>
    private static bool IsHeldElsewhere(IOException error) => error.HResult == unchecked((int)0x80070020) || error.HResult == 11 /* EAGAIN */;
}

/// <summary>Created by the container, so disposing the host (started or not) releases the lock it was given.</summary>
internal sealed class SqliteProcessLockOwner : IDisposable
{
    private SqliteProcessLock? _lock;

    public void Own(SqliteProcessLock held) => _lock = held;

    public void Dispose() => _lock?.Dispose();
}
