using Microsoft.Data.Sqlite;
using Npgsql;
using Valet.Core;

namespace Valet.Storage;

/// <summary>
/// Where the data lives, parsed from <c>VALET_DATABASE</c>: <c>sqlite:PATH</c> (the default is
/// <c>{dataDir}/valet.db</c>), a PostgreSQL connection string (<c>Host=…;Database=…</c>) or a
/// <c>postgres://user:pass@host:port/db?sslmode=require</c> URL. <see cref="ToString"/> never shows a password.
/// </summary>
public sealed class DatabaseTarget
{
    public const string DefaultSqliteFileName = "valet.db";

    /// <summary>
    /// Connections per node unless the connection string says otherwise (<c>Maximum Pool Size</c>). Sized for several
    /// nodes on a stock server: PostgreSQL's default <c>max_connections</c> is 100 with 3 reserved for superusers, and
    /// each node also holds one connection outside the pool for LISTEN. Three nodes × (25 + 1) = 78. A request that finds
    /// the pool busy waits for a connection (up to <c>Timeout</c>, 15 s by default) instead of failing.
    /// </summary>
    public const int DefaultMaxPoolSize = 25;

    private const string FormatHelp =
        "VALET_DATABASE must be sqlite:PATH, a PostgreSQL connection string (Host=…;Database=…) or a postgres://user:pass@host:port/db URL.";

    private DatabaseTarget(bool isPostgres, string connectionString, string? sqlitePath, string description)
    {
        IsPostgres = isPostgres;
        ConnectionString = connectionString;
        SqlitePath = sqlitePath;
        Description = description;
    }

    public bool IsPostgres { get; }

    /// <summary>The ADO.NET connection string. Holds the password for PostgreSQL: never log it.</summary>
    public string ConnectionString { get; }

    /// <summary>The database file, for SQLite.</summary>
    public string? SqlitePath { get; }

    /// <summary>A loggable description (<c>SQLite /home/me/.valet/valet.db</c>, <c>PostgreSQL db.internal:5432/valet</c>).</summary>
    public string Description { get; }

    public override string ToString() => Description;

    /// <summary>Parses <c>VALET_DATABASE</c>; null or blank means the SQLite default in <paramref name="dataDirectory"/>.</summary>
    public static DatabaseTarget Parse(string? value, string dataDirectory)
    {
        ArgumentNullException.ThrowIfNull(dataDirectory);
        value = value?.Trim();
        if (string.IsNullOrEmpty(value))
        {
            return Sqlite(Path.Combine(dataDirectory, DefaultSqliteFileName));
        }

        if (value.StartsWith("sqlite:", StringComparison.OrdinalIgnoreCase))
        {
            var path = value["sqlite:".Length..];
            if (path.StartsWith("//", StringComparison.Ordinal))
            {
                path = path[2..]; // sqlite:///abs/path
            }

            return Sqlite(string.IsNullOrWhiteSpace(path) ? Path.Combine(dataDirectory, DefaultSqliteFileName) : path);
        }

        if (value.StartsWith("postgres://", StringComparison.OrdinalIgnoreCase)
            || value.StartsWith("postgresql://", StringComparison.OrdinalIgnoreCase))
        {
            return Postgres(FromUrl(value));
        }

        if (value.Contains('=', StringComparison.Ordinal))
        {
            NpgsqlConnectionStringBuilder builder;
            try
            {
                builder = new NpgsqlConnectionStringBuilder(value);
            }
            catch (ArgumentException)
            {
                // The exception text may quote the value: say only what is wrong in general.
                throw new ValetConfigurationException(
                    "VALET_DATABASE is not a valid PostgreSQL connection string (expected Host=…;Database=…;Username=…;Password=…).");
            }

            if (string.IsNullOrWhiteSpace(builder.Host))
            {
                throw new ValetConfigurationException("VALET_DATABASE: the PostgreSQL connection string has no Host.");
            }

            return Postgres(builder);
        }

        throw new ValetConfigurationException(FormatHelp);
    }

    public static DatabaseTarget Sqlite(string path)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(path);
        if (path == "~" || path.StartsWith("~/", StringComparison.Ordinal))
        {
            path = Path.Combine(Environment.GetFolderPath(Environment.SpecialFolder.UserProfile), path.TrimStart('~').TrimStart('/'));
        }

        var full = Path.GetFullPath(path);
        var builder = new SqliteConnectionStringBuilder
        {
            DataSource = full,
            Mode = SqliteOpenMode.ReadWriteCreate,
            Pooling = true,
            ForeignKeys = true,
            DefaultTimeout = 30,
        };
        return new DatabaseTarget(false, builder.ConnectionString, full, $"SQLite {full}");
    }

    public static DatabaseTarget Postgres(string connectionString)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(connectionString);
        return Postgres(new NpgsqlConnectionStringBuilder(connectionString));
    }

    private static DatabaseTarget Postgres(NpgsqlConnectionStringBuilder builder)
    {
        if (string.IsNullOrEmpty(builder.ApplicationName))
        {
            builder.ApplicationName = "valet";
        }

        if (!builder.ShouldSerialize("Maximum Pool Size"))
        {
            builder.MaxPoolSize = DefaultMaxPoolSize;
        }

        var description = $"PostgreSQL {builder.Host}:{builder.Port}/{builder.Database ?? builder.Username}";
        return new DatabaseTarget(true, builder.ConnectionString, null, description);
    }

    private static NpgsqlConnectionStringBuilder FromUrl(string value)
    {
        if (!Uri.TryCreate(value, UriKind.Absolute, out var uri) || string.IsNullOrEmpty(uri.Host))
        {
            throw new ValetConfigurationException("VALET_DATABASE is not a valid postgres:// URL (postgres://user:pass@host:port/db).");
        }

        var builder = new NpgsqlConnectionStringBuilder
        {
            Host = uri.Host.Trim('[', ']'),
            Port = uri.IsDefaultPort || uri.Port <= 0 ? 5432 : uri.Port,
        };

        if (!string.IsNullOrEmpty(uri.UserInfo))
        {
            var colon = uri.UserInfo.IndexOf(':', StringComparison.Ordinal);
            builder.Username = Uri.UnescapeDataString(colon < 0 ? uri.UserInfo : uri.UserInfo[..colon]);
            if (colon >= 0)
            {
                builder.Password = Uri.UnescapeDataString(uri.UserInfo[(colon + 1)..]);
            }
        }

        var database = Uri.UnescapeDataString(uri.AbsolutePath.Trim('/'));
        if (database.Length > 0)
        {
            builder.Database = database;
        }

        foreach (var pair in uri.Query.TrimStart('?').Split('&', StringSplitOptions.RemoveEmptyEntries))
        {
            var eq = pair.IndexOf('=', StringComparison.Ordinal);
            var key = Uri.UnescapeDataString(eq < 0 ? pair : pair[..eq]);
            var parameter = Uri.UnescapeDataString(eq < 0 ? string.Empty : pair[(eq + 1)..]);
            try
            {
                // libpq spellings first (sslmode=require), then any Npgsql keyword (Maximum Pool Size=50).
                builder[key switch
                {
                    "sslmode" => "SSL Mode",
                    "application_name" => "Application Name",
                    "connect_timeout" => "Timeout",
                    _ => key,
                }] = parameter;
            }
            catch (Exception e) when (e is ArgumentException or FormatException or InvalidCastException)
            {
                throw new ValetConfigurationException($"VALET_DATABASE: the URL parameter '{key}' is not supported or has an invalid value.");
            }
        }

        return builder;
    }
}
