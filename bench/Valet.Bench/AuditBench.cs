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
/// <c>audit</c>: what one audit row costs to store on PostgreSQL, the write every proxied call makes. Stores
/// <c>--rows</c> events (default 100,000) through <see cref="IAuditStore.AppendManyAsync"/> in the audit writer's batches
/// of 512, and prints wall time per row and PostgreSQL's CPU per row (every backend, from /proc) — the share of a
/// proxied call that lands on the database's core.
/// </summary>
internal static class AuditBench
{
    public static async Task<int> RunAsync(string[] args)
    {
        var rows = args.Length > 1 && args[0] == "--rows" ? int.Parse(args[1], System.Globalization.CultureInfo.InvariantCulture) : 100_000;
        const int batchSize = 512;
        var pg = new PostgresFixture();
        await pg.InitializeAsync();
        try
        {
            var postmaster = pg.ServerProcessId() ?? throw new InvalidOperationException("audit needs the throwaway PostgreSQL (unset VALET_TEST_PG).");
            var services = new ServiceCollection().AddLogging();
            services.AddSingleton<IVault>(new XChaChaVault(VaultKeyRing.Load(Convert.ToBase64String(RandomNumberGenerator.GetBytes(32)), null, hosted: true,
                Path.GetTempPath())));
            services.AddValetStorage(DatabaseTarget.Parse(await pg.CreateDatabaseAsync(), Path.GetTempPath()));
            await using var provider = services.BuildServiceProvider();
            await provider.GetRequiredService<StorageInitializer>().InitializeAsync(CancellationToken.None);
            var store = provider.GetRequiredService<IAuditStore>();

            var batch = Enumerable.Range(0, batchSize).Select(i => new AuditEvent
            {
                OrgId = "default", Kind = "proxy.request", KeyId = "key_0123456789abcdefghij", ConnectionId = "conn_0123456789abcdefghij",
                Method = "GET", Path = "/repos/acme/widgets/issues", Status = 200, DurationMs = 3, BytesIn = 0, BytesOut = 1234,
                At = DateTimeOffset.UtcNow,
            }).ToList();

            await store.AppendManyAsync(batch, CancellationToken.None); // warm: connection pool, statement paths, JIT
            var pgBefore = ExternalBench.PostgresCpuSeconds(postmaster);
            var clock = Stopwatch.StartNew();
            for (var stored = 0; stored < rows; stored += batchSize)
            {
                await store.AppendManyAsync(batch, CancellationToken.None);
            }

            var elapsed = clock.Elapsed;
            var pgCpu = ExternalBench.PostgresCpuSeconds(postmaster) - pgBefore;
            var stored2 = (rows + batchSize - 1) / batchSize * batchSize;
            Console.WriteLine($"audit rows on PostgreSQL, batches of {batchSize}: {stored2:N0} rows in {elapsed.TotalSeconds:F2} s — " +
                $"{elapsed.TotalMicroseconds / stored2:F1} us wall per row, PostgreSQL CPU {pgCpu * 1e6 / stored2:F1} us per row");
            return 0;
        }
        finally
        {
            await pg.DisposeAsync();
        }
    }
}
