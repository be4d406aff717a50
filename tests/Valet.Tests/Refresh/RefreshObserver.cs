namespace Valet.Tests.Refresh;

/// <summary>
/// Watches connections' <c>last_refreshed_at</c>/<c>expires_at</c> as the background refresher works: every distinct
/// <c>last_refreshed_at</c> after the first sample is one stored renewal.
/// </summary>
internal sealed class RefreshObserver(IReadOnlyList<string> connectionIds, Func<string, Task<(DateTimeOffset? RefreshedAt, DateTimeOffset? ExpiresAt)>> read)
{
    private readonly Dictionary<string, List<(DateTimeOffset? RefreshedAt, DateTimeOffset? ExpiresAt)>> _states =
        connectionIds.ToDictionary(id => id, _ => new List<(DateTimeOffset?, DateTimeOffset?)>(), StringComparer.Ordinal);

    /// <summary>Renewals seen per connection so far (the first sample is the baseline).</summary>
    public async Task<IReadOnlyDictionary<string, int>> SampleAsync()
    {
        foreach (var (id, states) in _states)
        {
            var state = await read(id);
            if (states.Count == 0 || states[^1].RefreshedAt != state.RefreshedAt)
            {
                states.Add(state);
            }
        }

        return _states.ToDictionary(p => p.Key, p => p.Value.Count - 1, StringComparer.Ordinal);
    }

    public int Total => _states.Values.Sum(s => s.Count - 1);

    /// <summary>Each renewal happened while the token it replaced was still valid, and pushed the expiry later.</summary>
    public void AssertEachRefreshBeforeExpiry()
    {
        foreach (var (id, states) in _states)
        {
            for (var i = 1; i < states.Count; i++)
            {
                Assert.True(states[i].RefreshedAt < states[i - 1].ExpiresAt,
                    $"{id}: renewal {i} at {states[i].RefreshedAt:o} came after the token's expiry {states[i - 1].ExpiresAt:o}");
                Assert.True(states[i].ExpiresAt > states[i - 1].ExpiresAt, $"{id}: renewal {i} did not move expires_at later");
            }
        }
    }
}
