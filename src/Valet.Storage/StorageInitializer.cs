using System.Reflection;
using DbUp;
using DbUp.Engine;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using Npgsql;
using Valet.Core;
using Valet.Storage.Data;

namespace Valet.Storage;

/// <summary>
/// Brings the schema up to date at boot: DbUp applies the embedded, versioned scripts of the backend. Safe on every
/// boot and from several nodes at once (PostgreSQL: a session advisory lock around the upgrade; SQLite: a lock file).
/// </summary>
public sealed partial class StorageInitializer : IDisposable
{
    /// <summary>Advisory lock key for migrations: "VALET" in ASCII.</summary>
    internal const long MigrationLockKey = 0x56414C4554;

    private readonly DatabaseTarget _target;
    private readonly Db _db;
    private readonly ILogger _logger;
    private readonly SemaphoreSlim _once = new(1, 1);
    private bool _done;

    internal StorageInitializer(DatabaseTarget target, Db db, ILogger<StorageInitializer>? logger)
    {
        _target = target;
        _db = db;
        _logger = logger ?? (ILogger)NullLogger.Instance;
    }

    public async Task InitializeAsync(CancellationToken cancellationToken)
    {
        await _once.WaitAsync(cancellationToken);
        try
        {
            if (_done)
            {
                return;
            }

            var applied = _db is PostgresDb postgres
                ? await MigratePostgresAsync(postgres, cancellationToken)
                : await MigrateSqliteAsync((SqliteDb)_db, cancellationToken);
            // One line for the whole upgrade (a first run applies every script; a line each was most of a newcomer's screen).
            if (applied.Count > 0)
            {
                LogApplied(applied.Count, _target.Description, string.Join(", ", applied.Select(ShortName)));
            }

            _done = true;
        }
        finally
        {
            _once.Release();
        }
    }

    private async Task<IReadOnlyList<string>> MigratePostgresAsync(PostgresDb db, CancellationToken cancellationToken)
    {
        // A dedicated session holds the lock; DbUp runs on its own connections meanwhile. Other nodes wait here,
        // then find every script journaled and apply nothing.
        await using var connection = await db.DataSource.OpenConnectionAsync(cancellationToken);
        await using (var lockCommand = new NpgsqlCommand($"SELECT pg_advisory_lock({MigrationLockKey})", connection))
        {
            await lockCommand.ExecuteNonQueryAsync(cancellationToken);
        }

        try
        {
            var upgrader = DeployChanges.To.PostgresqlDatabase(_target.ConnectionString)
                .WithScriptsEmbeddedInAssembly(Assembly.GetExecutingAssembly(), name => name.Contains(".Migrations.Postgres.", StringComparison.Ordinal))
                .WithTransactionPerScript()
                .LogToNowhere()
                .Build();
            return await Task.Run(() => Run(upgrader), cancellationToken);
        }
        finally
        {
            await using var unlock = new NpgsqlCommand($"SELECT pg_advisory_unlock({MigrationLockKey})", connection);
            await unlock.ExecuteNonQueryAsync(CancellationToken.None);
        }
    }

    private async Task<IReadOnlyList<string>> MigrateSqliteAsync(SqliteDb db, CancellationToken cancellationToken)
    {
        var path = _target.SqlitePath!;

        // The database's directory is the data directory (by default): owner-only, and everything SQLite creates in it
        // later (-wal, -shm, -journal) too, through the umask this sets.
        var directory = Path.GetDirectoryName(Path.GetFullPath(path))!;
        var tightened = DataDirectory.Secure(directory);
        if (tightened.Count > 0)
        {
            LogTightened(directory, string.Join(", ", tightened.Select(Path.GetFileName)));
        }

        // Two processes starting on one file (valet serve twice): the lock file makes the second wait.
        await using var fileLock = await AcquireFileLockAsync(path + ".migrate.lock", cancellationToken);

        await using (var connection = await db.OpenAsync(cancellationToken))
        await using (var wal = connection.CreateCommand())
        {
            // Persistent in the file: readers never block the writer, and vice versa.
            wal.CommandText = "PRAGMA journal_mode = WAL;";
            await wal.ExecuteNonQueryAsync(cancellationToken);
        }

        var upgrader = DeployChanges.To.SqliteDatabase(_target.ConnectionString)
            .WithScriptsEmbeddedInAssembly(Assembly.GetExecutingAssembly(), name => name.Contains(".Migrations.Sqlite.", StringComparison.Ordinal))
            .WithTransactionPerScript()
            .LogToNowhere()
            .Build();
        return Run(upgrader);
    }

    private static List<string> Run(UpgradeEngine upgrader)
    {
        var result = upgrader.PerformUpgrade();
        if (!result.Successful)
        {
            throw new InvalidOperationException(
                $"Database migration {result.ErrorScript?.Name ?? "(unknown script)"} failed: {result.Error?.Message}", result.Error);
        }

        return [.. result.Scripts.Select(s => s.Name)];
    }

    private static async Task<FileStream> AcquireFileLockAsync(string path, CancellationToken cancellationToken)
    {
        while (true)
        {
            try
            {
                return new FileStream(path, FileMode.OpenOrCreate, FileAccess.ReadWrite, FileShare.None, 1, FileOptions.DeleteOnClose);
            }
            catch (IOException)
            {
                await Task.Delay(50, cancellationToken);
            }
        }
    }

    public void Dispose() => _once.Dispose();

    [LoggerMessage(EventId = 4002, Level = LogLevel.Warning,
        Message = "Data directory {Directory} was readable by other users: removed group and other permissions from {Paths}")]
    private partial void LogTightened(string directory, string paths);

    [LoggerMessage(EventId = 4001, Level = LogLevel.Information, Message = "Applied {Count} database migration(s) to {Database}: {Scripts}")]
    private partial void LogApplied(int count, string database, string scripts);

    /// <summary><c>Valet.Storage.Migrations.Sqlite.0001_initial.sql</c> → <c>0001_initial</c>.</summary>
    private static string ShortName(string script)
    {
        var name = script.EndsWith(".sql", StringComparison.Ordinal) ? script[..^4] : script;
        return name[(name.LastIndexOf('.') + 1)..];
    }
}
