using System.Diagnostics;
using System.Security.Cryptography;
using Microsoft.Extensions.DependencyInjection;
using Valet.Core.Domain;
using Valet.Core.Stores;
using Valet.Core.Vault;
using Valet.Storage;
using Valet.Tests.Infrastructure;

namespace Valet.Bench;

/// <summary>
/// <c>audit [--rows N] [--backend sqlite]</c>: what one audit row costs to store, the write every proxied call makes.
/// Stores <c>--rows</c> events (default 100,000) through <see cref="IAuditStore.AppendMany"/> in the audit writer's
/// batches of 512, and prints wall time per row and the database's CPU per row: PostgreSQL's (every backend, from /proc),
/// or on SQLite this process's own (SQLite runs inside Valet, on the audit writer's thread).
/// </summary>
internal static class AuditBench
{
    public static async Task<int> RunAsync(string[] args)
    {
        var rows = Option(args, "--rows") is { } given ? int.Parse(given, System.Globalization.CultureInfo.InvariantCulture) : 100_000;
        if (Option(args, "--backend") == "sqlite")
        {
            var directory = Path.Combine(Path.GetTempPath(), "valet-audit-bench-" + Guid.NewGuid().ToString("N")[..12]);
            Directory.CreateDirectory(directory);
            try
            {
                await MeasureAsync("SQLite", null, directory, rows, () => Environment.CpuUsage.TotalTime.TotalSeconds);
            }
            finally
            {
                Directory.Delete(directory, recursive: true);
            }

            return 0;
        }

        var pg = new PostgresFixture();
        await pg.InitializeAsync();
        try
        {
            var postmaster = pg.ServerProcessId() ?? throw new InvalidOperationException("audit needs the throwaway PostgreSQL (unset VALET_TEST_PG).");
            await MeasureAsync("PostgreSQL", await pg.CreateDatabaseAsync(), Path.GetTempPath(), rows, () => ExternalBench.PostgresCpuSeconds(postmaster));
            return 0;
        }
        finally
        {
            await pg.DisposeAsync();
        }
    }

    private static string? Option(string[] args, string name) => Array.IndexOf(args, name) is var at and >= 0 && at + 1 < args.Length ? args[at + 1] : null;

    private static async Task MeasureAsync(string backend, string? database, string dataDirectory, int rows, Func<double> databaseCpuSeconds)
    {
        const int batchSize = 512;
        var services = new ServiceCollection().AddLogging();
        services.AddSingleton<IVault>(new XChaChaVault(VaultKeyRing.Load(Convert.ToBase64String(RandomNumberGenerator.GetBytes(32)), null, hosted: true,
            Path.GetTempPath())));
        services.AddValetStorage(DatabaseTarget.Parse(database, dataDirectory));
        await using var provider = services.BuildServiceProvider();
        await provider.GetRequiredService<StorageInitializer>().InitializeAsync(CancellationToken.None);
        var store = provider.GetRequiredService<IAuditStore>();

        var batch = Enumerable.Range(0, batchSize).Select(i => new AuditEvent
        {
            OrgId = "default", Kind = "proxy.request", KeyId = "key_0123456789abcdefghij", ConnectionId = "conn_0123456789abcdefghij",
            Method = "GET", Path = "/repos/acme/widgets/issues", Status = 200, DurationMs = 3, BytesIn = 0, BytesOut = 1234,
            At = DateTimeOffset.UtcNow,
        }).ToList();

        for (var i = 0; i < 20; i++)
        {
            store.AppendMany(batch); // warm: connection pool, statement paths, JIT
        }

        var cpuBefore = databaseCpuSeconds();
        var ownBefore = Environment.CpuUsage.TotalTime;
        var clock = Stopwatch.StartNew();
        for (var stored = 0; stored < rows; stored += batchSize)
        {
            store.AppendMany(batch);
        }

        var elapsed = clock.Elapsed;
        var cpu = databaseCpuSeconds() - cpuBefore;
        var own = Environment.CpuUsage.TotalTime - ownBefore;
        var total = (rows + batchSize - 1) / batchSize * batchSize;
        Console.WriteLine($"audit rows on {backend}, batches of {batchSize}: {total:N0} rows in {elapsed.TotalSeconds:F2} s — " +
            $"{elapsed.TotalMicroseconds / total:F1} us wall per row, {backend} CPU {cpu * 1e6 / total:F1} us per row" +
            (database is null ? string.Empty : $", the writer's (this process's) CPU {own.TotalMicroseconds / total:F1} us per row"));
    }
}
