using Microsoft.Data.Sqlite;
using Npgsql;

namespace Valet.Storage;

/// <summary>
/// Tells a database that is unreachable or overloaded (an outage: try again later) from a failure that is a bug.
/// The server answers the first with 503 <c>storage_unavailable</c> and Retry-After, the second with 500.
/// </summary>
public static class StorageFailures
{
    /// <summary>True when <paramref name="error"/> or one of its inner exceptions says the database is not there right now.</summary>
    public static bool IsUnavailable(Exception? error)
    {
        for (var e = error; e is not null; e = e.InnerException)
        {
            switch (e)
            {
                // A server-side error: an outage only when it ended the session or names connections or resources.
                case PostgresException pg:
                    return pg.Severity is "FATAL" or "PANIC"
                        || pg.SqlState.StartsWith("08", StringComparison.Ordinal)   // connection exception
                        || pg.SqlState.StartsWith("53", StringComparison.Ordinal)   // insufficient resources (too many connections)
                        || pg.SqlState.StartsWith("57P", StringComparison.Ordinal); // shutdown, cannot connect now

                // Client side: broken or refused connection, timeout, exhausted pool.
                case NpgsqlException:
                    return true;

                // Busy past busy_timeout, locked, I/O error, disk full, cannot open.
                case SqliteException sqlite:
                    return sqlite.SqliteErrorCode is 5 or 6 or 10 or 13 or 14;
            }
        }

        return false;
    }

    /// <summary>
    /// True when PostgreSQL refused a text value it cannot store (the NUL character, or one with no equivalent in the
    /// database's encoding): bad input, not an outage and not a bug. JSON bodies refuse NUL before they get here; this is
    /// for any value that reaches the database by another path.
    /// </summary>
    public static bool IsUnstorableText(Exception? error)
    {
        for (var e = error; e is not null; e = e.InnerException)
        {
            if (e is PostgresException pg)
            {
                return pg.SqlState is PostgresErrorCodes.CharacterNotInRepertoire or PostgresErrorCodes.UntranslatableCharacter;
            }
        }

        return false;
    }

    /// <summary>What a log line says about an outage: the exception type and the SQL state or SQLite code, never a message.</summary>
    public static string Describe(Exception? error)
    {
        for (var e = error; e is not null; e = e.InnerException)
        {
            switch (e)
            {
                case PostgresException pg:
                    return $"{nameof(PostgresException)} {pg.SqlState}";
                case SqliteException sqlite:
                    return $"{nameof(SqliteException)} {sqlite.SqliteErrorCode}";
            }
        }

        for (var e = error; e is not null; e = e.InnerException)
        {
            if (e is NpgsqlException or TimeoutException or System.Net.Sockets.SocketException)
            {
                return e.GetType().Name;
            }
        }

        return error?.GetType().Name ?? "unknown";
    }
}
