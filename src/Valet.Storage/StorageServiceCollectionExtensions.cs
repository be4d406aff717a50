using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using Valet.Core.Providers;
using Valet.Core.Stores;
using Valet.Core.Vault;
using Valet.Storage;
using Valet.Storage.Caching;
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
        services.TryAddSingleton<IFlowStore, FlowStore>();
        services.TryAddSingleton<ITargetStore, TargetStore>();
        services.TryAddSingleton<IAuditStore, AuditStore>();
        services.TryAddSingleton<ISessionStore, SessionStore>();
        services.TryAddSingleton<ISignInLinkStore, SignInLinkStore>();
        services.TryAddSingleton<IDataProtectionKeyStore, DataProtectionKeyStore>();
        services.TryAddSingleton<IRuntimeProviderStore, RuntimeProviderStore>();
        services.TryAddSingleton<Valet.Core.Flows.IDeviceFlowStore, DeviceFlowStore>();
        services.TryAddSingleton<ProviderChanges>();

        // The hot reads go through a cache (docs/storage.md, "Caching and invalidation"). The undecorated stores stay
        // resolvable under the key StorageCache.Uncached.
        services.AddOptions<StorageCacheOptions>().ValidateOnStart();
        services.TryAddEnumerable(ServiceDescriptor.Singleton<IConfigureOptions<StorageCacheOptions>, StorageCacheConfigure>());
        services.TryAddEnumerable(ServiceDescriptor.Singleton<IValidateOptions<StorageCacheOptions>, StorageCacheOptionsValidator>());
        services.TryAddSingleton<StorageCache>();
        services.TryAddSingleton<ChangeListener>();
        services.TryAddEnumerable(ServiceDescriptor.Singleton<IHostedService, ChangeListener>(sp => sp.GetRequiredService<ChangeListener>()));

        services.TryAddKeyedSingleton<IConnectionStore>(StorageCache.Uncached, (sp, _) => ActivatorUtilities.CreateInstance<ConnectionStore>(sp));
        services.TryAddKeyedSingleton<IApiKeyStore>(StorageCache.Uncached, (sp, _) => ActivatorUtilities.CreateInstance<ApiKeyStore>(sp));
        services.TryAddKeyedSingleton<IVaultMaintenance>(StorageCache.Uncached, (sp, _) => ActivatorUtilities.CreateInstance<VaultMaintenance>(sp));
        services.TryAddKeyedSingleton<IConnectionLocks>(StorageCache.Uncached, (sp, _) =>
        {
            var db = sp.GetRequiredService<Db>();
            var vault = sp.GetRequiredService<IVault>();
            var time = sp.GetRequiredService<TimeProvider>();
            // A lease's transaction idles through the provider call: PostgreSQL may end it a while after that call's own
            // timeout (see PostgresConnectionLocks).
            var providerTimeout = sp.GetService<Microsoft.Extensions.Options.IOptionsMonitor<Valet.Core.Tokens.RefreshOptions>>()?.CurrentValue.ProviderTimeout
                ?? new Valet.Core.Tokens.RefreshOptions().ProviderTimeout;
            return db.IsPostgres
                ? new PostgresConnectionLocks(db, vault, time, TimeSpan.FromMilliseconds(Math.Min(int.MaxValue, (providerTimeout + TimeSpan.FromSeconds(30)).TotalMilliseconds)))
                : new SqliteConnectionLocks(db, vault, time);
        });

        services.TryAddSingleton<IConnectionStore>(sp => new CachingConnectionStore(
            sp.GetRequiredKeyedService<IConnectionStore>(StorageCache.Uncached), sp.GetRequiredService<StorageCache>()));
        services.TryAddSingleton<IApiKeyStore>(sp => new CachingApiKeyStore(
            sp.GetRequiredKeyedService<IApiKeyStore>(StorageCache.Uncached), sp.GetRequiredService<StorageCache>()));
        services.TryAddSingleton<IVaultMaintenance>(sp => new CachingVaultMaintenance(
            sp.GetRequiredKeyedService<IVaultMaintenance>(StorageCache.Uncached), sp.GetRequiredService<StorageCache>()));
        services.TryAddSingleton<IConnectionLocks>(sp => new CachingConnectionLocks(
            sp.GetRequiredKeyedService<IConnectionLocks>(StorageCache.Uncached), sp.GetRequiredService<StorageCache>()));
        return services;
    }
}
