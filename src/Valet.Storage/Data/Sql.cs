using System.Data.Common;
using System.Text.Json;
using Dapper;

namespace Valet.Storage.Data;

/// <summary>Dapper binds the parameters; rows are read by hand so timestamps and sealed columns stay explicit.</summary>
internal static class Sql
{
    public static Task<int> ExecAsync(this DbConnection connection, string sql, object? args, DbTransaction? transaction, CancellationToken cancellationToken) =>
        connection.ExecuteAsync(new CommandDefinition(sql, args, transaction, cancellationToken: cancellationToken));

    public static Task<T?> ScalarAsync<T>(this DbConnection connection, string sql, object? args, DbTransaction? transaction, CancellationToken cancellationToken) =>
        connection.ExecuteScalarAsync<T>(new CommandDefinition(sql, args, transaction, cancellationToken: cancellationToken));

    public static async Task<List<T>> ReadAsync<T>(
        this DbConnection connection, Db db, string sql, object? args, DbTransaction? transaction, Func<Row, T> map, CancellationToken cancellationToken)
    {
        var list = new List<T>();
        await using var reader = await connection.ExecuteReaderAsync(new CommandDefinition(sql, args, transaction, cancellationToken: cancellationToken));
        var row = new Row(reader, db);
        while (await reader.ReadAsync(cancellationToken))
        {
            list.Add(map(row));
        }

        return list;
    }

    public static async Task<T?> ReadOneAsync<T>(
        this DbConnection connection, Db db, string sql, object? args, DbTransaction? transaction, Func<Row, T> map, CancellationToken cancellationToken)
        where T : class
    {
        var rows = await connection.ReadAsync(db, sql, args, transaction, map, cancellationToken);
        return rows.Count == 0 ? null : rows[0];
    }

    public static string? ToJson(IReadOnlyList<string>? values) => values is null ? null : JsonSerializer.Serialize(values);

    public static IReadOnlyList<string>? FromJson(string? json) => json is null ? null : JsonSerializer.Deserialize<string[]>(json);

    /// <summary>A name → value map as a JSON object (connection parameters); null stays null.</summary>
    public static string? ToJsonMap(IReadOnlyDictionary<string, string>? values) => values is null ? null : JsonSerializer.Serialize(values);

    public static IReadOnlyDictionary<string, string>? FromJsonMap(string? json) =>
        json is null ? null : JsonSerializer.Deserialize<Dictionary<string, string>>(json);
}

/// <summary>Reads the current row of a reader by column name.</summary>
internal sealed class Row(DbDataReader reader, Db db)
{
    public string Str(string column) => reader.GetString(reader.GetOrdinal(column));

    public string? StrOrNull(string column)
    {
        var i = reader.GetOrdinal(column);
        return reader.IsDBNull(i) ? null : reader.GetString(i);
    }

    public long Long(string column) => Convert.ToInt64(reader.GetValue(reader.GetOrdinal(column)), System.Globalization.CultureInfo.InvariantCulture);

    public long? LongOrNull(string column)
    {
        var i = reader.GetOrdinal(column);
        return reader.IsDBNull(i) ? null : Convert.ToInt64(reader.GetValue(i), System.Globalization.CultureInfo.InvariantCulture);
    }

    public int Int(string column) => checked((int)Long(column));

    public int? IntOrNull(string column) => LongOrNull(column) is { } v ? checked((int)v) : null;

    public bool Bool(string column) => Convert.ToBoolean(reader.GetValue(reader.GetOrdinal(column)), System.Globalization.CultureInfo.InvariantCulture);

    public byte[] Bytes(string column) => (byte[])reader.GetValue(reader.GetOrdinal(column));

    public byte[]? BytesOrNull(string column)
    {
        var i = reader.GetOrdinal(column);
        return reader.IsDBNull(i) ? null : (byte[])reader.GetValue(i);
    }

    public DateTimeOffset Time(string column) => db.ReadTime(reader, reader.GetOrdinal(column));

    public DateTimeOffset? TimeOrNull(string column)
    {
        var i = reader.GetOrdinal(column);
        return reader.IsDBNull(i) ? null : db.ReadTime(reader, i);
    }
}
