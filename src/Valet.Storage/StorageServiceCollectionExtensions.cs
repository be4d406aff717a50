using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Logging;
using Valet.Core.Stores;
using Valet.Core.Vault;
using Valet.Storage;
using Valet.Storage.Data;
using Valet.Storage.Stores;

namespace Microsoft.Extensions.DependencyInjection;

public static class StorageServiceCollectionExtensions
{
    /// <summary>
    /// Registers every store for <paramref name="target"/>, plus <see cref="StorageInitializer"/>. The caller registers
    /// <see cref="IVault"/>; at boot it calls <see cref="StorageInitializer.InitializeAsync"/>, then
    /// <see cref="IVaultMaintenance.VerifyKeyAsync"/>. Safe to call twice (the first registration wins).
    /// </summary>
    public static IServiceCollection AddValetStorage(this IServiceCollection services, DatabaseTarget target)
    {
        ArgumentNullException.ThrowIfNull(services);
        ArgumentNullException.ThrowIfNull(target);

        services.TryAddSingleton(target);
        services.TryAddSingleton(TimeProvider.System);
        services.TryAddSingleton<Db>(sp =>
        {
            var t = sp.GetRequiredService<DatabaseTarget>();
            return t.IsPostgres ? new PostgresDb(t) : new SqliteDb(t);
        });
        services.TryAddSingleton(sp => new StorageInitializer(
            sp.GetRequiredService<DatabaseTarget>(), sp.GetRequiredService<Db>(), sp.GetService<ILogger<StorageInitializer>>()));

        services.TryAddSingleton<IOrgStore, OrgStore>();
        services.TryAddSingleton<ICredentialStore, CredentialStore>();
        services.TryAddSingleton<IConnectionStore, ConnectionStore>();
        services.TryAddSingleton<IFlowStore, FlowStore>();
        services.TryAddSingleton<IApiKeyStore, ApiKeyStore>();
        services.TryAddSingleton<ITargetStore, TargetStore>();
        services.TryAddSingleton<IAuditStore, AuditStore>();
        services.TryAddSingleton<IVaultMaintenance, VaultMaintenance>();
        services.TryAddSingleton<IConnectionLocks>(sp =>
        {
            var db = sp.GetRequiredService<Db>();
            var vault = sp.GetRequiredService<IVault>();
            var time = sp.GetRequiredService<TimeProvider>();
            return db.IsPostgres ? new PostgresConnectionLocks(db, vault, time) : new SqliteConnectionLocks(db, vault, time);
        });
        return services;
    }
}
