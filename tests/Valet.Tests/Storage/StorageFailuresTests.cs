using Microsoft.Data.Sqlite;
using Npgsql;
using Valet.Storage;

namespace Valet.Tests.Storage;

public sealed class StorageFailuresTests
{
    [Theory]
    [InlineData("FATAL", "55000", true)]  // database is not accepting connections
    [InlineData("ERROR", "53300", true)]  // too many connections
    [InlineData("FATAL", "57P01", true)]  // admin shutdown
    [InlineData("ERROR", "08006", true)]  // connection failure
    [InlineData("ERROR", "23505", false)] // unique violation: a conflict, handled by the stores
    [InlineData("ERROR", "42P01", false)] // undefined table: a bug
    public void PostgresServerErrors_AreAnOutageOnlyWhenTheyConcernTheConnection(string severity, string sqlState, bool outage) =>
        Assert.Equal(outage, StorageFailures.IsUnavailable(new PostgresException("message", severity, severity, sqlState)));

    [Theory]
    [InlineData(5, true)]   // SQLITE_BUSY after busy_timeout
    [InlineData(13, true)]  // SQLITE_FULL
    [InlineData(19, false)] // SQLITE_CONSTRAINT
    [InlineData(1, false)]  // SQLITE_ERROR (bad SQL)
    public void SqliteErrors_AreAnOutageWhenTheDatabaseIsBusyOrTheDiskIsNot(int code, bool outage) =>
        Assert.Equal(outage, StorageFailures.IsUnavailable(new InvalidOperationException("wrapped", new SqliteException("message", code))));

    [Fact]
    public void ClientSideNpgsqlFailures_AndNothingElse_AreAnOutage()
    {
        Assert.True(StorageFailures.IsUnavailable(new NpgsqlException("The connection pool has been exhausted", new TimeoutException())));
        Assert.False(StorageFailures.IsUnavailable(new InvalidOperationException("a bug")));
        Assert.False(StorageFailures.IsUnavailable(null));
    }
}
