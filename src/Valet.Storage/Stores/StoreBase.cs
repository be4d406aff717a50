using System.Data.Common;
using Valet.Core.Stores;
using Valet.Storage.Data;

namespace Valet.Storage.Stores;

internal abstract class StoreBase(Db db, TimeProvider time)
{
    protected Db Db { get; } = db;

    protected DateTimeOffset Now() => Db.Truncate(time.GetUtcNow());

    protected DateTimeOffset OrNow(DateTimeOffset value) => value == default ? Now() : Db.Truncate(value);

    /// <summary>Runs a write, translating a uniqueness or foreign-key violation into <see cref="StoreConflictException"/>.</summary>
    protected async Task<T> WriteAsync<T>(string conflictMessage, Func<DbConnection, Task<T>> write, CancellationToken cancellationToken)
    {
        await using var connection = await Db.OpenAsync(cancellationToken);
        try
        {
            return await write(connection);
        }
        catch (DbException e) when (Db.IsConflict(e))
        {
            throw new StoreConflictException(conflictMessage, e);
        }
    }

    protected async Task<List<T>> QueryAsync<T>(string sql, object? args, Func<Row, T> map, CancellationToken cancellationToken)
    {
        await using var connection = await Db.OpenAsync(cancellationToken);
        return await connection.ReadAsync(Db, sql, args, null, map, cancellationToken);
    }

    protected async Task<T?> QueryOneAsync<T>(string sql, object? args, Func<Row, T> map, CancellationToken cancellationToken)
        where T : class
    {
        await using var connection = await Db.OpenAsync(cancellationToken);
        return await connection.ReadOneAsync(Db, sql, args, null, map, cancellationToken);
    }

    protected async Task<int> ExecAsync(string sql, object? args, CancellationToken cancellationToken)
    {
        await using var connection = await Db.OpenAsync(cancellationToken);
        return await connection.ExecAsync(sql, args, null, cancellationToken);
    }

    protected static async IAsyncEnumerable<T> Yield<T>(Task<List<T>> rows)
    {
        // Buffered: the caller may touch the database while enumerating, without a reader held open.
        foreach (var row in await rows)
        {
            yield return row;
        }
    }
}
