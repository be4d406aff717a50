using System.Globalization;
using System.Text.RegularExpressions;
using Npgsql;
using Valet.Storage;
using Valet.Storage.Data;

namespace Valet.Bench;

/// <summary><c>scale</c>, part 5: <c>EXPLAIN (ANALYZE, BUFFERS)</c> of every hot query on the 1M database, with whether it used an index.</summary>
internal static partial class ScaleBench
{
    /// <summary>A query as a store sends it (same text, same parameters), with the state it needs set up first; every run is rolled back.</summary>
    private sealed record HotQuery(string Name, string Sql, Dictionary<string, object> Parameters, string? Setup = null);

    private static async Task<bool> ExplainAsync(SeededDatabase large)
    {
        Console.WriteLine("\n== EXPLAIN (ANALYZE, BUFFERS) of the hot queries on the 1M database (after VACUUM; each run once before in the same " +
            "transaction, so the figures are warm; every transaction rolled back)");
        string claimSql;
        await using (var db = new PostgresDb(DatabaseTarget.Parse(large.ConnectionString, Path.GetTempPath())))
        {
            claimSql = db.ClaimDueSql; // the statement ClaimDueAsync sends, from the store itself
        }

        var key = large.Keys[large.Keys.Count / 2];
        var connectionId = key.ConnectionIds[3];
        var now = DateTime.UtcNow;
        var claim = new Dictionary<string, object> { ["Now"] = now, ["LeaseUntil"] = now.AddMinutes(5), ["BatchSize"] = 50 };
        var dueIds = large.AllPairs().Where((_, i) => i % 100 == 7).Select(p => p.ConnectionId).Take(10_000).ToArray();
        var queries = new List<HotQuery>
        {
            new("connection by id — IConnectionStore.FindAsync (token route, proxy: each cache miss)",
                "SELECT * FROM connections WHERE id = @id", new() { ["id"] = connectionId }),
            new("API key by prefix — IApiKeyStore.FindByPrefixAsync (every agent request: each cache miss)",
                "SELECT * FROM api_keys WHERE prefix = @prefix", new() { ["prefix"] = key.Secret[..13] }),
            new("connections of an org — IConnectionStore.ListAsync (bootstrap, token by provider, dashboard)",
                "SELECT * FROM connections WHERE org_id = @orgId ORDER BY created_at, id", new() { ["orgId"] = key.OrgId }),
            new("targets of an org — ITargetStore.ListAsync (bootstrap, dashboard)",
                "SELECT * FROM targets WHERE org_id = @orgId ORDER BY created_at, id", new() { ["orgId"] = key.OrgId }),
            new("keys of an org — IApiKeyStore.ListAsync (dashboard, admin API)",
                "SELECT * FROM api_keys WHERE org_id = @orgId ORDER BY created_at, id", new() { ["orgId"] = key.OrgId }),
            new("refresh lock — IConnectionLocks.AcquireAsync (each refresh, under its transaction)",
                "SELECT * FROM connections WHERE id = @id FOR UPDATE", new() { ["id"] = connectionId }),
            new("connection by account — upsert on import and connect",
                "SELECT id, created_at FROM connections WHERE org_id = @OrgId AND provider = @Provider AND account_id = @AccountId FOR UPDATE",
                new() { ["OrgId"] = key.OrgId, ["Provider"] = ScaleSeed.Provider, ["AccountId"] = $"user-{int.Parse(key.OrgId[4..], CultureInfo.InvariantCulture)}-3" }),
            new("ClaimDueAsync, nothing due (every node, every ProactiveInterval)", claimSql, claim),
            new($"ClaimDueAsync, {dueIds.Length:N0} due at once (the refresher's burst)", claimSql, claim, Setup: MakeDue),
            new($"ClaimDueAsync, {dueIds.Length:N0} due at once, with the claim index as it was before migration 0010", claimSql, claim,
                Setup: ToClaimIndexBefore0010 + "; " + MakeDue),
        };

        await using var dataSource = NpgsqlDataSource.Create(large.ConnectionString);
        await using var connection = await dataSource.OpenConnectionAsync();

        // As autovacuum would have: the refresher runs left dead row versions whose index entries a claim would walk over.
        await ScaleSeed.ExecAsync(connection, "VACUUM connections");
        var allIndexed = true;
        foreach (var query in queries)
        {
            // Every query runs in a transaction that is rolled back: first once in a savepoint (so the plan's figures are
            // warm, and a write leaves no dead row in the range the explained run scans), then under EXPLAIN.
            await using var transaction = await connection.BeginTransactionAsync();
            await SetUpAsync(connection, transaction, query, dueIds);
            await transaction.SaveAsync("warm");
            await using (var command = Command(connection, transaction, query.Sql, query.Parameters))
            {
                await command.ExecuteNonQueryAsync();
            }

            await transaction.RollbackAsync("warm");
            allIndexed &= await ExplainOneAsync(connection, transaction, query);
            await transaction.RollbackAsync();
        }

        Console.WriteLine(allIndexed ? "\nEvery hot query used an index." : "\nAT LEAST ONE HOT QUERY SCANNED A TABLE SEQUENTIALLY.");
        return allIndexed;
    }

    private const string MakeDue = "UPDATE connections SET next_refresh_at = now() - interval '1 hour' WHERE id = ANY(@dueIds)";

    private static async Task SetUpAsync(NpgsqlConnection connection, NpgsqlTransaction transaction, HotQuery query, string[] dueIds)
    {
        if (query.Setup is not null)
        {
            await using var setup = new NpgsqlCommand(query.Setup, connection, transaction);
            setup.Parameters.AddWithValue("dueIds", dueIds);
            await setup.ExecuteNonQueryAsync();
        }
    }

    private static async Task<bool> ExplainOneAsync(NpgsqlConnection connection, NpgsqlTransaction transaction, HotQuery query)
    {
        var lines = new List<string>();
        await using (var explain = Command(connection, transaction, "EXPLAIN (ANALYZE, BUFFERS) " + query.Sql, query.Parameters))
        await using (var reader = await explain.ExecuteReaderAsync())
        {
            while (await reader.ReadAsync())
            {
                lines.Add(reader.GetString(0));
            }
        }

        var plan = string.Join('\n', lines);
        var seqScans = SeqScan().Matches(plan).Select(m => m.Groups[1].Value).Distinct().ToList();
        var indexes = IndexUse().Matches(plan).Select(m => m.Groups[1].Value).Distinct().ToList();
        var verdict = seqScans.Count > 0
            ? $"SEQUENTIAL SCAN of {string.Join(", ", seqScans)}"
            : $"index: {string.Join(", ", indexes)}";
        Console.WriteLine($"\n-- {query.Name}: {verdict}");
        Console.WriteLine("   " + query.Sql.ReplaceLineEndings("\n   "));
        foreach (var line in lines)
        {
            Console.WriteLine("   " + line);
        }

        return seqScans.Count == 0;
    }

    private static NpgsqlCommand Command(NpgsqlConnection connection, NpgsqlTransaction transaction, string sql, Dictionary<string, object> parameters)
    {
        var command = new NpgsqlCommand(sql, connection, transaction);
        foreach (var (name, value) in parameters)
        {
            command.Parameters.AddWithValue(name, value);
        }

        return command;
    }

    [GeneratedRegex(@"Seq Scan on (\w+)")]
    private static partial Regex SeqScan();

    [GeneratedRegex(@"(?:Index Scan|Index Only Scan|Bitmap Index Scan)(?: Backward)? (?:using|on) (\w+)")]
    private static partial Regex IndexUse();
}
