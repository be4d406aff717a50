namespace Valet.Core.Providers;

/// <summary>
/// "A runtime provider changed" — raised by the storage layer when another node's write is announced (PostgreSQL
/// NOTIFY) or when the announcements may have been missed (the listener reconnected: <c>null</c>, reload everything).
/// The <see cref="ProviderRegistry"/> listens and reloads.
/// </summary>
public sealed class ProviderChanges
{
    public event Action<string?>? Changed;

    public void Notify(string? providerId) => Changed?.Invoke(providerId);
}
