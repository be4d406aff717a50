using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using Valet.Core.Stores;

namespace Valet.Core.Providers;

/// <summary>
/// The catalog every part of Valet asks (<see cref="IProviderCatalog"/>): the boot-time catalog (built-in and
/// configured, immutable) plus the providers registered at run time, held as an immutable snapshot swapped whole.
/// A write on this node reloads at once; a write on another node arrives through <see cref="ProviderChanges"/>
/// (PostgreSQL NOTIFY, a few milliseconds). Reads never touch the database.
/// </summary>
public sealed partial class ProviderRegistry : IProviderCatalog, IDisposable
{
    private readonly IProviderCatalog _static;
    private readonly ProviderChanges _changes;
    private readonly SemaphoreSlim _reload = new(1, 1);
    private IRuntimeProviderStore? _store;
    private ILogger _logger = NullLogger<ProviderRegistry>.Instance;
    private volatile Snapshot _snapshot;
    private int _pending;

    /// <summary>
    /// Made before the container (it is registered as the catalog instance); the store is attached once the container
    /// exists (<see cref="Attach"/>). Until then it serves the boot catalog alone.
    /// </summary>
    public ProviderRegistry(IProviderCatalog staticCatalog, ProviderChanges changes)
    {
        ArgumentNullException.ThrowIfNull(staticCatalog);
        ArgumentNullException.ThrowIfNull(changes);
        _static = staticCatalog;
        _changes = changes;
        _snapshot = new Snapshot(new Dictionary<string, ProviderDefinition>(StringComparer.OrdinalIgnoreCase), staticCatalog.All);
        _changes.Changed += OnChanged;
    }

    /// <summary>Where runtime providers are read from; call <see cref="ReloadAsync"/> afterwards.</summary>
    public void Attach(IRuntimeProviderStore store, ILogger<ProviderRegistry>? logger = null)
    {
        ArgumentNullException.ThrowIfNull(store);
        _store = store;
        _logger = logger ?? NullLogger<ProviderRegistry>.Instance;
    }

    public IReadOnlyCollection<ProviderDefinition> All => _snapshot.All;

    public ProviderDefinition? Find(string id) =>
        string.IsNullOrEmpty(id) ? null : _static.Find(id) ?? _snapshot.Runtime.GetValueOrDefault(id);

    /// <summary>The provider comes from the catalog or configuration: read-only through the API.</summary>
    public bool IsReadOnly(string id) => _static.Find(id) is not null;

    /// <summary>Reads every runtime provider from the database and swaps the snapshot. Rows that no longer validate are skipped (and logged).</summary>
    public async Task ReloadAsync(CancellationToken cancellationToken)
    {
        if (_store is not { } store)
        {
            return;
        }

        await _reload.WaitAsync(cancellationToken);
        try
        {
            Interlocked.Exchange(ref _pending, 0);
            var runtime = new Dictionary<string, ProviderDefinition>(StringComparer.OrdinalIgnoreCase);
            foreach (var row in await store.ListAsync(cancellationToken))
            {
                if (_static.Find(row.Id) is not null)
                {
                    continue; // configuration added the same id since: configuration wins
                }

                var problems = new List<string>();
                if (RuntimeProviders.Load(row, problems) is { } definition)
                {
                    runtime[row.Id] = definition;
                }
                else
                {
                    LogSkipped(_logger, row.Id, string.Join("; ", problems));
                }
            }

            var all = _static.All.Concat(runtime.Values).OrderBy(p => p.Id, StringComparer.Ordinal).ToList();
            _snapshot = new Snapshot(runtime, all);
        }
        finally
        {
            _reload.Release();
        }
    }

    public void Dispose()
    {
        _changes.Changed -= OnChanged;
        _reload.Dispose();
    }

    /// <summary>Notifications may come in bursts: one reload runs, and one more after it if anything arrived meanwhile.</summary>
    private void OnChanged(string? providerId)
    {
        if (Interlocked.Exchange(ref _pending, 1) == 0)
        {
            _ = ReloadInBackgroundAsync();
        }
    }

    private async Task ReloadInBackgroundAsync()
    {
        try
        {
            await ReloadAsync(CancellationToken.None);
        }
        catch (Exception e)
        {
            // The database is away: the snapshot stays as it was; the listener's reconnect asks for a reload again.
            LogReloadFailed(_logger, e.GetType().Name);
        }
    }

    private sealed record Snapshot(Dictionary<string, ProviderDefinition> Runtime, IReadOnlyCollection<ProviderDefinition> All);

    [LoggerMessage(EventId = 3300, Level = LogLevel.Warning, Message = "Runtime provider {ProviderId} no longer validates and is ignored: {Problems}")]
    private static partial void LogSkipped(ILogger logger, string providerId, string problems);

    [LoggerMessage(EventId = 3301, Level = LogLevel.Warning, Message = "Reloading runtime providers failed ({Error}); the previous set stays in use")]
    private static partial void LogReloadFailed(ILogger logger, string error);
}
