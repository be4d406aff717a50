using System.Diagnostics;
using System.Globalization;
using System.Text.Json;
using System.Threading.Channels;
using Microsoft.Extensions.DependencyInjection;
using Npgsql;
using NpgsqlTypes;
using Valet.Core.Domain;
using Valet.Core.Keys;
using Valet.Core.Stores;
using Valet.Core.Vault;
using Valet.Storage;
using Valet.Storage.Stores;
using Valet.Tests.Infrastructure;

namespace Valet.Bench;

/// <summary>One seeded API key: the secret an agent would hold and the connections its permissions name.</summary>
internal sealed record SeededKey(string Secret, string OrgId, string[] ConnectionIds);

/// <summary>A seeded database: its connection string, its keys (with their secrets, for the load generator) and counts.</summary>
internal sealed record SeededDatabase(string ConnectionString, string Label, IReadOnlyList<string> OrgIds, IReadOnlyList<SeededKey> Keys, long Connections,
    long Targets)
{
    /// <summary>Every (connection, key) pair a request may use: each connection with the key that holds it.</summary>
    public IEnumerable<(string ConnectionId, string Secret)> AllPairs() =>
        Keys.SelectMany(k => k.ConnectionIds.Select(c => (c, k.Secret)));
}

/// <summary>
/// <c>scale</c>, part 1: a PostgreSQL database laid out by Valet's own migrations (<see cref="StorageInitializer"/>, then
/// the vault key check, exactly as <c>valet serve</c> boots), then bulk-loaded with <c>COPY … (FORMAT BINARY, FREEZE)</c>:
/// orgs, connections whose tokens are sealed by Valet's <see cref="XChaChaVault"/> to their row and column
/// (<see cref="ConnectionRows.AccessContext"/>), API keys minted and hashed by <see cref="ApiKeySecrets"/> with permissions
/// in the store's JSON shape, and targets. A <c>valet serve</c> given the same <c>VALET_ENCRYPTION_KEY</c> can use any row.
/// </summary>
internal static class ScaleSeed
{
    public const string Provider = "bench";

    public static async Task<SeededDatabase> SeedAsync(PostgresFixture pg, string label, int orgs, int perOrg, int keysPerOrg, string encryptionKey)
    {
        var clock = Stopwatch.StartNew();
        var connectionString = await pg.CreateDatabaseAsync();
        var ring = VaultKeyRing.Load(encryptionKey, null, hosted: true, Path.GetTempPath());
        using var vault = new XChaChaVault(ring);

        // Valet's own migrations and key check, as `valet serve` runs them at boot.
        var services = new ServiceCollection().AddLogging();
        services.AddSingleton<IVault>(vault);
        services.AddValetStorage(DatabaseTarget.Parse(connectionString, Path.GetTempPath()));
        await using (var provider = services.BuildServiceProvider())
        {
            await provider.GetRequiredService<StorageInitializer>().InitializeAsync(CancellationToken.None);
            await provider.GetRequiredService<IVaultMaintenance>().VerifyKeyAsync(CancellationToken.None);
        }

        var migrated = clock.Elapsed;

        // The plan: ids and key secrets first (cheap), so that sealing can run in parallel with the COPY.
        var perKey = perOrg / keysPerOrg;
        var now = DateTimeOffset.FromUnixTimeMilliseconds(DateTimeOffset.UtcNow.ToUnixTimeMilliseconds());
        var orgIds = Enumerable.Range(0, orgs).Select(o => $"org-{o:D5}").ToArray();
        var connectionIds = new string[orgs * perOrg];
        for (var i = 0; i < connectionIds.Length; i++)
        {
            connectionIds[i] = Ids.New("conn");
        }

        var keys = new List<SeededKey>(orgs * keysPerOrg);
        var keyRows = new List<(string Id, string OrgId, string Name, string Prefix, byte[] Hash, string Permissions)>(orgs * keysPerOrg);
        for (var o = 0; o < orgs; o++)
        {
            for (var k = 0; k < keysPerOrg; k++)
            {
                var held = connectionIds.AsSpan(o * perOrg + k * perKey, perKey).ToArray();
                var minted = ApiKeySecrets.Mint();
                keys.Add(new SeededKey(minted.Key.Reveal(), orgIds[o], held));
                keyRows.Add((Ids.New("key"), orgIds[o], $"agent-{k}", minted.Prefix, minted.Hash,
                    JsonSerializer.Serialize(held.Select(id => new Dictionary<string, string> { ["connection"] = id }))));
            }
        }

        var planned = clock.Elapsed;

        await using var dataSource = NpgsqlDataSource.Create(connectionString);
        await using var connection = await dataSource.OpenConnectionAsync();
        await using var transaction = await connection.BeginTransactionAsync();

        // Truncating in the load's own transaction lets COPY write the rows frozen (no hint-bit rewrite or VACUUM later).
        // Triggers are off for the load, as with a restore tool: no node is listening, and the rows are consistent by
        // construction, so the per-row NOTIFY and foreign-key checks would only cost time.
        await ExecAsync(connection, "SET LOCAL session_replication_role = replica; TRUNCATE orgs CASCADE");

        await using (var writer = await connection.BeginBinaryImportAsync("COPY orgs (id, name, headless, created_at) FROM STDIN (FORMAT BINARY, FREEZE)"))
        {
            foreach (var id in orgIds)
            {
                await writer.StartRowAsync();
                await writer.WriteAsync(id, NpgsqlDbType.Text);
                await writer.WriteAsync("Org " + id, NpgsqlDbType.Text);
                await writer.WriteAsync(false, NpgsqlDbType.Boolean);
                await writer.WriteAsync(now.UtcDateTime, NpgsqlDbType.TimestampTz);
            }

            await writer.CompleteAsync();
        }

        var copyStart = clock.Elapsed;
        await CopyConnectionsAsync(connection, vault, orgIds, connectionIds, perOrg, now);
        var connectionsCopied = clock.Elapsed;

        await using (var writer = await connection.BeginBinaryImportAsync(
            "COPY api_keys (id, org_id, name, prefix, hash, permissions, created_at, last_used_at) FROM STDIN (FORMAT BINARY, FREEZE)"))
        {
            foreach (var (id, orgId, name, prefix, hash, permissions) in keyRows)
            {
                await writer.StartRowAsync();
                await writer.WriteAsync(id, NpgsqlDbType.Text);
                await writer.WriteAsync(orgId, NpgsqlDbType.Text);
                await writer.WriteAsync(name, NpgsqlDbType.Text);
                await writer.WriteAsync(prefix, NpgsqlDbType.Text);
                await writer.WriteAsync(hash, NpgsqlDbType.Bytea);
                await writer.WriteAsync(permissions, NpgsqlDbType.Text);
                await writer.WriteAsync(now.UtcDateTime, NpgsqlDbType.TimestampTz);
                await writer.WriteNullAsync();
            }

            await writer.CompleteAsync();
        }

        // One target per key, bound to the first connection the key holds (so `targets of an org` has rows to find).
        var targets = 0L;
        await using (var writer = await connection.BeginBinaryImportAsync(
            "COPY targets (id, org_id, connection_id, name, provider, managed, base_url, required_scopes, created_at) FROM STDIN (FORMAT BINARY, FREEZE)"))
        {
            foreach (var key in keys)
            {
                await writer.StartRowAsync();
                await writer.WriteAsync(Ids.New("tgt"), NpgsqlDbType.Text);
                await writer.WriteAsync(key.OrgId, NpgsqlDbType.Text);
                await writer.WriteAsync(key.ConnectionIds[0], NpgsqlDbType.Text);
                await writer.WriteAsync("api", NpgsqlDbType.Text);
                await writer.WriteAsync(Provider, NpgsqlDbType.Text);
                await writer.WriteAsync(false, NpgsqlDbType.Boolean);
                await writer.WriteAsync("http://127.0.0.1/api", NpgsqlDbType.Text);
                await writer.WriteAsync("[]", NpgsqlDbType.Text);
                await writer.WriteAsync(now.UtcDateTime, NpgsqlDbType.TimestampTz);
                targets++;
            }

            await writer.CompleteAsync();
        }

        await transaction.CommitAsync();
        var loaded = clock.Elapsed;
        // Statistics for the planner, and the visibility map set, as a database that has run for a while has them.
        await ExecAsync(connection, "VACUUM (ANALYZE)");
        var analyzed = clock.Elapsed;

        var rows = orgIds.Length + connectionIds.Length + keyRows.Count + targets;
        var copySeconds = (loaded - copyStart).TotalSeconds;
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"seeded {label}: {orgIds.Length:N0} orgs, {connectionIds.Length:N0} connections, {keyRows.Count:N0} API keys, {targets:N0} targets " +
            $"in {analyzed.TotalSeconds:F1} s — migrations {migrated.TotalSeconds:F1} s, ids and keys {(planned - migrated).TotalSeconds:F1} s, " +
            $"connections sealed+COPY {(connectionsCopied - copyStart).TotalSeconds:F1} s " +
            $"({connectionIds.Length / Math.Max(0.001, (connectionsCopied - copyStart).TotalSeconds):N0} rows/s), " +
            $"all COPY {copySeconds:F1} s ({rows / Math.Max(0.001, copySeconds):N0} rows/s), VACUUM (ANALYZE) {(analyzed - loaded).TotalSeconds:F1} s"));
        Console.WriteLine("  sizes (table + indexes): " + await SizesAsync(connection));
        return new SeededDatabase(connectionString, label, orgIds, keys, connectionIds.Length, targets);
    }

    /// <summary>
    /// Connections through one binary COPY, fed by a bounded channel: org chunks are sealed in parallel (two AEAD seals per
    /// row, each bound to the row id and column) while the single writer streams the previous chunks to PostgreSQL.
    /// </summary>
    private static async Task CopyConnectionsAsync(NpgsqlConnection connection, IVault vault, string[] orgIds, string[] connectionIds, int perOrg,
        DateTimeOffset now)
    {
        const int OrgsPerChunk = 20;
        var channel = Channel.CreateBounded<SealedConnection[]>(new BoundedChannelOptions(32) { SingleReader = true });
        var scopes = JsonSerializer.Serialize(new[] { "read", "write" });
        var producer = Task.Run(async () =>
        {
            try
            {
                var chunks = Enumerable.Range(0, (orgIds.Length + OrgsPerChunk - 1) / OrgsPerChunk);
                await Parallel.ForEachAsync(chunks, new ParallelOptions { MaxDegreeOfParallelism = Environment.ProcessorCount }, async (chunk, ct) =>
                {
                    var first = chunk * OrgsPerChunk;
                    var last = Math.Min(orgIds.Length, first + OrgsPerChunk);
                    var rows = new SealedConnection[(last - first) * perOrg];
                    var random = new Random(chunk);
                    for (var o = first; o < last; o++)
                    {
                        for (var c = 0; c < perOrg; c++)
                        {
                            var index = o * perOrg + c;
                            var id = connectionIds[index];

                            // Tokens of realistic length (GitHub-like 40 chars up to Google-like 200): 72 and 52 characters.
                            var access = "bench-at-" + Ids.RandomToken(47);
                            var refresh = "bench-rt-" + Ids.RandomToken(32);
                            var expiresAt = now + TimeSpan.FromDays(30) + TimeSpan.FromMilliseconds(random.NextInt64((long)TimeSpan.FromDays(30).TotalMilliseconds));
                            rows[index - first * perOrg] = new SealedConnection(id, orgIds[o], $"user-{o}-{c}",
                                vault.SealString(access, ConnectionRows.AccessContext(id)), vault.SealString(refresh, ConnectionRows.RefreshContext(id)),
                                expiresAt, expiresAt - TimeSpan.FromMinutes(5));
                        }
                    }

                    await channel.Writer.WriteAsync(rows, ct);
                });
                channel.Writer.Complete();
            }
            catch (Exception e)
            {
                channel.Writer.Complete(e);
            }
        });

        await using (var writer = await connection.BeginBinaryImportAsync(
            """
            COPY connections (id, org_id, provider, credential_id, account_id, account_login, account_email, scopes, access_token, refresh_token,
                token_type, expires_at, status, status_reason, api_base_url, version, created_at, updated_at, last_refreshed_at, next_refresh_at,
                refresh_failures) FROM STDIN (FORMAT BINARY, FREEZE)
            """))
        {
            await foreach (var chunk in channel.Reader.ReadAllAsync())
            {
                foreach (var row in chunk)
                {
                    // Synchronous writes: they only fill Npgsql's buffer, and a flush blocks this one loop, nothing else.
                    writer.StartRow();
                    writer.Write(row.Id, NpgsqlDbType.Text);
                    writer.Write(row.OrgId, NpgsqlDbType.Text);
                    writer.Write(Provider, NpgsqlDbType.Text);
                    writer.WriteNull();
                    writer.Write(row.AccountId, NpgsqlDbType.Text);
                    writer.Write(row.AccountId, NpgsqlDbType.Text);
                    writer.WriteNull();
                    writer.Write(scopes, NpgsqlDbType.Text);
                    writer.Write(row.AccessToken, NpgsqlDbType.Bytea);
                    writer.Write(row.RefreshToken, NpgsqlDbType.Bytea);
                    writer.Write("Bearer", NpgsqlDbType.Text);
                    writer.Write(row.ExpiresAt.UtcDateTime, NpgsqlDbType.TimestampTz);
                    writer.Write("active", NpgsqlDbType.Text);
                    writer.WriteNull();
                    writer.WriteNull();
                    writer.Write(1L, NpgsqlDbType.Bigint);
                    writer.Write(now.UtcDateTime, NpgsqlDbType.TimestampTz);
                    writer.Write(now.UtcDateTime, NpgsqlDbType.TimestampTz);
                    writer.Write(now.UtcDateTime, NpgsqlDbType.TimestampTz);
                    writer.Write(row.NextRefreshAt.UtcDateTime, NpgsqlDbType.TimestampTz);
                    writer.Write(0, NpgsqlDbType.Integer);
                }
            }

            await writer.CompleteAsync();
        }

        await producer;
    }

    private readonly record struct SealedConnection(string Id, string OrgId, string AccountId, byte[] AccessToken, byte[] RefreshToken,
        DateTimeOffset ExpiresAt, DateTimeOffset NextRefreshAt);

    private static async Task<string> SizesAsync(NpgsqlConnection connection)
    {
        await using var command = new NpgsqlCommand(
            """
            SELECT string_agg(format('%s %s', t, pg_size_pretty(pg_total_relation_size(t::regclass))), ', ' ORDER BY t)
            FROM unnest(ARRAY['connections', 'api_keys', 'targets', 'orgs']) AS t
            """, connection);
        return (string)(await command.ExecuteScalarAsync())!;
    }

    internal static async Task ExecAsync(NpgsqlConnection connection, string sql)
    {
        await using var command = new NpgsqlCommand(sql, connection) { CommandTimeout = 0 };
        await command.ExecuteNonQueryAsync();
    }
}
