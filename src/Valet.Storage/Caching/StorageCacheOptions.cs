using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.Options;

namespace Valet.Storage.Caching;

/// <summary>The <c>Storage</c> configuration section (environment: <c>VALET_STORAGE__CACHETTL</c>, …).</summary>
public sealed class StorageCacheOptions
{
    public const string Section = "Storage";

    /// <summary>
    /// Safety net only: how long a cached API key or connection may be served without a re-read. Invalidation does
    /// the real work (every write in this process; LISTEN/NOTIFY across PostgreSQL nodes). Zero disables the cache.
    /// </summary>
    public TimeSpan CacheTtl { get; set; } = TimeSpan.FromSeconds(30);

    /// <summary>Entries per cached entity (API keys, connections); the oldest are evicted beyond it.</summary>
    public int CacheSize { get; set; } = 10_000;

    /// <summary>The longest wait between two attempts of the PostgreSQL change listener to reconnect.</summary>
    public TimeSpan ListenerMaxBackoff { get; set; } = TimeSpan.FromSeconds(30);
}

/// <summary>Binds the <c>Storage</c> section when the host has a configuration (plain service collections have none).</summary>
internal sealed class StorageCacheConfigure(IServiceProvider services) : IConfigureOptions<StorageCacheOptions>
{
    public void Configure(StorageCacheOptions options)
    {
        if (services.GetService(typeof(IConfiguration)) is IConfiguration configuration)
        {
            configuration.GetSection(StorageCacheOptions.Section).Bind(options);
        }
    }
}

internal sealed class StorageCacheOptionsValidator : IValidateOptions<StorageCacheOptions>
{
    public ValidateOptionsResult Validate(string? name, StorageCacheOptions options)
    {
        var errors = new List<string>();
        if (options.CacheTtl < TimeSpan.Zero)
        {
            errors.Add("Storage:CacheTtl must be zero (cache off) or positive.");
        }

        if (options.CacheSize < 1)
        {
            errors.Add("Storage:CacheSize must be at least 1.");
        }

        if (options.ListenerMaxBackoff <= TimeSpan.Zero)
        {
            errors.Add("Storage:ListenerMaxBackoff must be positive.");
        }

        return errors.Count == 0 ? ValidateOptionsResult.Success : ValidateOptionsResult.Fail(errors);
    }
}
