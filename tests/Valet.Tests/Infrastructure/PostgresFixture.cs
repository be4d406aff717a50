using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using Npgsql;

namespace Valet.Tests.Infrastructure;

/// <summary>
/// A real PostgreSQL for the tests: <c>VALET_TEST_PG</c> (a connection string to a server where the user may create
/// databases) when set, else a throwaway server from the local binaries (initdb + pg_ctl on a free port, fsync off),
/// stopped and deleted on dispose. Never skips: without binaries it fails, naming the script that installs them.
/// </summary>
public class PostgresFixture : IAsyncLifetime
{
    private string? _dataDirectory;
    private string? _adminConnectionString;
    private bool _runAsPostgres;

    /// <summary>The PostgreSQL bin directory (initdb, pg_ctl, pg_dump), when found.</summary>
    public string? BinDirectory { get; private set; }

    public string AdminConnectionString => _adminConnectionString ?? throw new InvalidOperationException("The fixture is not started.");

    /// <summary>The server's <c>max_connections</c>. Generous here so that test classes sharing it never crowd each other.</summary>
    protected virtual int MaxConnections => 300;

    /// <summary>Whether <c>VALET_TEST_PG</c> may replace the throwaway server.</summary>
    protected virtual bool MayUseExternalServer => true;

    public async Task InitializeAsync()
    {
        BinDirectory = FindBinDirectory();
        var external = Environment.GetEnvironmentVariable("VALET_TEST_PG");
        if (MayUseExternalServer && !string.IsNullOrWhiteSpace(external))
        {
            _adminConnectionString = external;
            return;
        }

        if (BinDirectory is null)
        {
            throw new InvalidOperationException(
                "No PostgreSQL server binaries found under /usr/lib/postgresql/*/bin (nor initdb on PATH). " +
                "Run scripts/install-test-deps.sh, or set VALET_TEST_PG to a connection string of a server the tests may use.");
        }

        _runAsPostgres = OperatingSystem.IsLinux() && Environment.UserName == "root";
        _dataDirectory = Path.Combine(Path.GetTempPath(), "valet-pg-" + Guid.NewGuid().ToString("N")[..12]);
        Directory.CreateDirectory(_dataDirectory);
        if (_runAsPostgres)
        {
            await RunAsync("chown", ["postgres:postgres", _dataDirectory], asPostgres: false);
        }

        var port = FreePort();
        await RunAsync(Path.Combine(BinDirectory, "initdb"), ["-D", _dataDirectory, "-A", "trust", "-U", "postgres", "-E", "UTF8", "--no-sync"], _runAsPostgres);
        await RunAsync(
            Path.Combine(BinDirectory, "pg_ctl"),
            ["-D", _dataDirectory, "-l", Path.Combine(_dataDirectory, "server.log"), "-w", "-t", "60",
             "-o", $"-c listen_addresses=127.0.0.1 -p {port} -k {_dataDirectory} -c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections={MaxConnections}",
             "start"],
            _runAsPostgres);
        _adminConnectionString = $"Host=127.0.0.1;Port={port};Username=postgres;Database=postgres;Pooling=false";
    }

    /// <summary>The postmaster's process id (first line of <c>postmaster.pid</c>); null for an external server.</summary>
    public int? ServerProcessId() =>
        _dataDirectory is not null && File.Exists(Path.Combine(_dataDirectory, "postmaster.pid"))
            ? int.Parse(File.ReadLines(Path.Combine(_dataDirectory, "postmaster.pid")).First(), System.Globalization.CultureInfo.InvariantCulture)
            : null;

    /// <summary>A fresh, empty database (so test classes and tests are isolated); returns its connection string.</summary>
    public async Task<string> CreateDatabaseAsync()
    {
        var name = "valet_test_" + Guid.NewGuid().ToString("N")[..16];
        await using (var connection = new NpgsqlConnection(AdminConnectionString))
        {
            await connection.OpenAsync();
            await using var command = new NpgsqlCommand($"CREATE DATABASE {name}", connection);
            await command.ExecuteNonQueryAsync();
        }

        return new NpgsqlConnectionStringBuilder(AdminConnectionString) { Database = name, Pooling = true }.ConnectionString;
    }

    public async Task DropDatabaseAsync(string connectionString)
    {
        var name = new NpgsqlConnectionStringBuilder(connectionString).Database;
        await using var connection = new NpgsqlConnection(AdminConnectionString);
        await connection.OpenAsync();
        await using var command = new NpgsqlCommand($"DROP DATABASE IF EXISTS {name} WITH (FORCE)", connection);
        await command.ExecuteNonQueryAsync();
    }

    /// <summary>A plain-text <c>pg_dump</c> of the database, schema and data.</summary>
    public async Task<string> DumpAsync(string connectionString)
    {
        var builder = new NpgsqlConnectionStringBuilder(connectionString);
        var pgDump = BinDirectory is null ? "pg_dump" : Path.Combine(BinDirectory, "pg_dump");
        var environment = new Dictionary<string, string?> { ["PGPASSWORD"] = builder.Password };
        return await RunAsync(
            pgDump,
            ["-h", builder.Host!, "-p", builder.Port.ToString(System.Globalization.CultureInfo.InvariantCulture), "-U", builder.Username ?? "postgres",
             "--no-owner", "-d", builder.Database!],
            _runAsPostgres, environment);
    }

    public async Task DisposeAsync()
    {
        NpgsqlConnection.ClearAllPools();
        if (_dataDirectory is null || BinDirectory is null)
        {
            return;
        }

        try
        {
            await RunAsync(Path.Combine(BinDirectory, "pg_ctl"), ["-D", _dataDirectory, "-m", "immediate", "-w", "stop"], _runAsPostgres);
        }
        finally
        {
            Directory.Delete(_dataDirectory, recursive: true);
        }
    }

    private static string? FindBinDirectory()
    {
        if (Directory.Exists("/usr/lib/postgresql"))
        {
            var newest = Directory.GetDirectories("/usr/lib/postgresql")
                .Select(d => Path.Combine(d, "bin"))
                .Where(d => File.Exists(Path.Combine(d, "initdb")) && File.Exists(Path.Combine(d, "pg_ctl")))
                .OrderByDescending(d => int.TryParse(Path.GetFileName(Path.GetDirectoryName(d)), out var v) ? v : 0)
                .FirstOrDefault();
            if (newest is not null)
            {
                return newest;
            }
        }

        return (Environment.GetEnvironmentVariable("PATH") ?? string.Empty)
            .Split(Path.PathSeparator, StringSplitOptions.RemoveEmptyEntries)
            .FirstOrDefault(d => File.Exists(Path.Combine(d, "initdb")) && File.Exists(Path.Combine(d, "pg_ctl")));
    }

    private static int FreePort()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }

    private static async Task<string> RunAsync(string fileName, IReadOnlyList<string> arguments, bool asPostgres, IReadOnlyDictionary<string, string?>? environment = null)
    {
        var start = new ProcessStartInfo
        {
            FileName = asPostgres ? "runuser" : fileName,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
            WorkingDirectory = Path.GetTempPath(),
        };
        if (asPostgres)
        {
            foreach (var a in new[] { "-u", "postgres", "--", fileName })
            {
                start.ArgumentList.Add(a);
            }
        }

        foreach (var argument in arguments)
        {
            start.ArgumentList.Add(argument);
        }

        foreach (var (key, value) in environment ?? new Dictionary<string, string?>())
        {
            start.Environment[key] = value;
        }

        using var process = Process.Start(start) ?? throw new InvalidOperationException($"Could not start {fileName}.");
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        await process.WaitForExitAsync();
        if (process.ExitCode != 0)
        {
            throw new InvalidOperationException($"{Path.GetFileName(fileName)} exited with {process.ExitCode}: {await stderr}");
        }

        return await stdout;
    }
}

/// <summary>
/// A server configured as PostgreSQL ships: <c>max_connections</c> = 100 (3 of them reserved for superusers). Always a
/// throwaway server of its own, so that the limit is known.
/// </summary>
public sealed class StockPostgresFixture : PostgresFixture
{
    public const int StockMaxConnections = 100;

    protected override int MaxConnections => StockMaxConnections;

    protected override bool MayUseExternalServer => false;

    /// <summary>
    /// A fresh database owned by an ordinary (non-superuser) role, as an application connects in production: superusers
    /// may use the reserved connections, an application may not.
    /// </summary>
    public async Task<string> CreateApplicationDatabaseAsync()
    {
        var name = "valet_stock_" + Guid.NewGuid().ToString("N")[..12];
        await using (var connection = new NpgsqlConnection(AdminConnectionString))
        {
            await connection.OpenAsync();
            foreach (var sql in new[]
            {
                "DO $$ BEGIN IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'valet_app') THEN CREATE ROLE valet_app LOGIN; END IF; END $$",
                $"CREATE DATABASE {name} OWNER valet_app",
            })
            {
                await using var command = new NpgsqlCommand(sql, connection);
                await command.ExecuteNonQueryAsync();
            }
        }

        return new NpgsqlConnectionStringBuilder(AdminConnectionString) { Database = name, Username = "valet_app", Pooling = true }.ConnectionString;
    }
}

[CollectionDefinition(Name)]
public sealed class PostgresCollection : ICollectionFixture<PostgresFixture>
{
    public const string Name = "postgres";
}
