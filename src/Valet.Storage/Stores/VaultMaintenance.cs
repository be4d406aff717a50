using System.Text;
using Valet.Core.Stores;
using Valet.Core.Vault;
using Valet.Storage.Data;

namespace Valet.Storage.Stores;

internal sealed class VaultMaintenance(Db db, IVault vault) : IVaultMaintenance
{
    /// <summary>Every sealed column. The key-check value is handled on its own, last.</summary>
    internal static readonly (string Table, string Column)[] SealedColumns =
    [
        ("connections", "access_token"),
        ("connections", "refresh_token"),
        ("credentials", "client_secret"),
        ("flows", "code_verifier"),
        ("device_flows", "device_code"),
    ];

    internal const int BatchSize = 100;
    private const string KeyCheckRow = "key_check";
    private static readonly SealContext KeyCheckContext = new("vault_meta", KeyCheckRow, "value");
    private static readonly byte[] KeyCheckPlaintext = Encoding.ASCII.GetBytes("valet key check v1");

    public async Task VerifyKeyAsync(CancellationToken cancellationToken)
    {
        await using var connection = await db.OpenAsync(cancellationToken);

        // Several nodes may boot on a fresh database at once: the first insert wins, everyone verifies the winner.
        var stored = await ReadKeyCheckAsync(connection, cancellationToken);
        if (stored is null)
        {
            await connection.ExecAsync(
                "INSERT INTO vault_meta (key, value) VALUES (@key, @value) ON CONFLICT (key) DO NOTHING",
                new { key = KeyCheckRow, value = vault.Seal(KeyCheckPlaintext, KeyCheckContext) }, null, cancellationToken);
            stored = await ReadKeyCheckAsync(connection, cancellationToken);
        }

        string keyId;
        try
        {
            keyId = vault.KeyIdOf(stored);
        }
        catch (VaultException)
        {
            throw new VaultKeyMismatchException("The key-check value in vault_meta is not in a known vault format: the database is damaged or not Valet's.");
        }

        try
        {
            if (vault.Open(stored, KeyCheckContext).AsSpan().SequenceEqual(KeyCheckPlaintext))
            {
                return;
            }
        }
        catch (VaultException)
        {
            // Reported below, in one line, without the exception's details.
        }

        throw new VaultKeyMismatchException(
            $"The configured encryption key cannot decrypt existing data (sealed with key id {keyId}); configure that key, " +
            "or list it after the new one in VALET_ENCRYPTION_KEYS and run 'valet vault rotate'.", keyId);
    }

    public async Task<long> CountStaleAsync(CancellationToken cancellationToken)
    {
        await using var connection = await db.OpenAsync(cancellationToken);
        long total = 0;
        foreach (var (table, column) in SealedColumns)
        {
            total += await CountStaleAsync(connection, table, column, cancellationToken);
        }

        total += await CountStaleAsync(connection, "vault_meta", "value", cancellationToken);
        return total;
    }

    public async Task<long> RotateAsync(IProgress<RotationProgress>? progress, CancellationToken cancellationToken)
    {
        long total = 0;
        foreach (var (table, column) in SealedColumns)
        {
            total += await RotateColumnAsync(table, column, "id", progress, cancellationToken);
        }

        // Last, so that a database whose key check is under the new key has nothing else left under the old one.
        total += await RotateColumnAsync("vault_meta", "value", "key", progress, cancellationToken);
        return total;
    }

    private async Task<long> RotateColumnAsync(string table, string column, string idColumn, IProgress<RotationProgress>? progress, CancellationToken cancellationToken)
    {
        long remaining;
        await using (var counter = await db.OpenAsync(cancellationToken))
        {
            remaining = await CountStaleAsync(counter, table, column, cancellationToken);
        }

        long done = 0;
        var after = string.Empty;
        while (remaining > 0)
        {
            cancellationToken.ThrowIfCancellationRequested();
            await using var connection = await db.OpenAsync(cancellationToken);
            await using var transaction = await connection.BeginTransactionAsync(cancellationToken);

            // Keyset paging on the id guarantees progress even when a row keeps being rewritten meanwhile.
            var batch = await connection.ReadAsync(
                db,
                $"SELECT {idColumn} AS row_id, {column} AS value FROM {table} WHERE {StalePredicate(column)} AND {idColumn} > @after ORDER BY {idColumn} LIMIT {BatchSize}",
                new { header = CurrentHeader(), after }, transaction,
                r => (Id: r.Str("row_id"), Value: r.Bytes("value")), cancellationToken);
            if (batch.Count == 0)
            {
                break;
            }

            foreach (var (id, value) in batch)
            {
                var context = table == "vault_meta" ? KeyCheckContext : new SealContext(table, id, column);
                var plaintext = vault.Open(value, context);
                try
                {
                    // Guarded by the old value: a row rewritten meanwhile is already under the current key.
                    done += await connection.ExecAsync(
                        $"UPDATE {table} SET {column} = @fresh WHERE {idColumn} = @id AND {column} = @old",
                        new { fresh = vault.Seal(plaintext, context), id, old = value }, transaction, cancellationToken);
                }
                finally
                {
                    Array.Clear(plaintext);
                }
            }

            await transaction.CommitAsync(cancellationToken);
            after = batch[^1].Id;
            progress?.Report(new RotationProgress(table, column, done, Math.Max(0, remaining - done)));
        }

        return done;
    }

    private async Task<long> CountStaleAsync(System.Data.Common.DbConnection connection, string table, string column, CancellationToken cancellationToken) =>
        await connection.ScalarAsync<long>($"SELECT COUNT(*) FROM {table} WHERE {StalePredicate(column)}", new { header = CurrentHeader() }, null, cancellationToken);

    /// <summary>Compares the key-id header bytes in SQL, so stale rows are found without opening anything.</summary>
    private string StalePredicate(string column) => $"{column} IS NOT NULL AND {db.BlobPrefix(column, CurrentHeader().Length)} <> @header";

    /// <summary><c>0x01 | len(kid) | kid</c>: the bytes every value sealed under the current key starts with.</summary>
    private byte[] CurrentHeader()
    {
        var kid = Encoding.ASCII.GetBytes(vault.CurrentKeyId);
        return [1, (byte)kid.Length, .. kid];
    }

    private static async Task<byte[]?> ReadKeyCheckAsync(System.Data.Common.DbConnection connection, CancellationToken cancellationToken) =>
        await connection.ScalarAsync<byte[]>("SELECT value FROM vault_meta WHERE key = @key", new { key = KeyCheckRow }, null, cancellationToken);
}
