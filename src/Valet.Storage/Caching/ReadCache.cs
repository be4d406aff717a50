using System.Collections.Concurrent;

namespace Valet.Storage.Caching;

/// <summary>
/// A bounded read-through map from a key to the last row read, for one entity. Only hits are stored (never "not
/// found"), entries expire after the TTL, and the map never holds more than its capacity: when full, the oldest tenth
/// is evicted at once, so eviction costs O(log n) per insert on average.
/// <para>
/// Correctness against a read racing a write: a reader takes a <see cref="Ticket"/> before going to the database and
/// <see cref="Put"/> stores the row only if no invalidation of that key (or clear) happened since. The stamp check is
/// repeated after the insert, so an invalidation landing between the check and the insert removes the entry again.
/// </para>
/// <para>
/// Concurrent misses of one key collapse into one database read (<see cref="GetOrReadAsync{TState}"/>): a cold cache under
/// a storm sends one query per key per node, not one per request, so nodes do not crowd the database. A caller joins a
/// read in flight only if no invalidation of that key happened since the read began; otherwise it starts its own.
/// </para>
/// </summary>
internal sealed class ReadCache<TValue>
    where TValue : class
{
    /// <summary>Invalidation stamps, striped by key hash: a collision only costs a skipped insert, never a stale hit.</summary>
    private const int StripeCount = 1024;

    private readonly ConcurrentDictionary<string, Entry> _entries = new(StringComparer.Ordinal);
    private readonly ConcurrentDictionary<string, InFlight> _reads = new(StringComparer.Ordinal);
    private readonly long[] _stripes = new long[StripeCount];
    private readonly Lock _evicting = new();
    private readonly TimeProvider _time;
    private readonly int _capacity;
    private readonly long _ttlTicks;
    private long _epoch;

    public ReadCache(TimeProvider time, TimeSpan ttl, int capacity)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(capacity);
        _time = time;
        _capacity = capacity;

        // In TimeProvider timestamp units, so a hit compares two longs.
        _ttlTicks = (long)Math.Min(ttl.TotalSeconds * time.TimestampFrequency, long.MaxValue / 2.0);
    }

    public int Count => _entries.Count;

    /// <summary>A snapshot taken before the database read: which invalidations the reader has already seen.</summary>
    public readonly record struct Ticket(long Stripe, long Epoch);

    public bool TryGet(string key, out TValue value)
    {
        if (_entries.TryGetValue(key, out var entry))
        {
            if (_time.GetTimestamp() - entry.Stored < _ttlTicks)
            {
                value = entry.Value;
                return true;
            }

            _entries.TryRemove(new KeyValuePair<string, Entry>(key, entry));
        }

        value = null!;
        return false;
    }

    /// <summary>Database reads in flight (for tests).</summary>
    internal int ReadsInFlight => _reads.Count;

    /// <summary>
    /// The cached row, else the result of one shared read: concurrent misses of <paramref name="key"/> wait for the same
    /// call of <paramref name="read"/>. The shared read does not run on any caller's token (one caller giving up must not
    /// fail the others); each caller stops waiting when its own <paramref name="cancellationToken"/> fires.
    /// </summary>
    public ValueTask<TValue?> GetOrReadAsync<TState>(string key, TState state, Func<TState, string, ValueTask<TValue?>> read,
        CancellationToken cancellationToken)
    {
        if (TryGet(key, out var value))
        {
            return ValueTask.FromResult<TValue?>(value);
        }

        return new ValueTask<TValue?>(SharedRead(key, state, read).WaitAsync(cancellationToken));
    }

    private Task<TValue?> SharedRead<TState>(string key, TState state, Func<TState, string, ValueTask<TValue?>> read)
    {
        while (true)
        {
            var ticket = Begin(key);
            if (_reads.TryGetValue(key, out var running))
            {
                if (running.Ticket == ticket)
                {
                    return running.Task;
                }

                // That read began before an invalidation of this key: its row may be stale. Replace it with a fresh one.
                var replacement = new InFlight(ticket);
                if (_reads.TryUpdate(key, replacement, running))
                {
                    return replacement.Run(this, key, state, read);
                }

                continue;
            }

            var mine = new InFlight(ticket);
            if (_reads.TryAdd(key, mine))
            {
                return mine.Run(this, key, state, read);
            }
        }
    }

    public Ticket Begin(string key) => new(Volatile.Read(ref _stripes[Stripe(key)]), Volatile.Read(ref _epoch));

    /// <summary>Stores <paramref name="value"/> unless <paramref name="key"/> was invalidated since <paramref name="ticket"/>.</summary>
    public void Put(string key, TValue value, Ticket ticket)
    {
        if (!Unchanged(key, ticket))
        {
            return;
        }

        if (_entries.Count >= _capacity)
        {
            Evict();
        }

        var entry = new Entry(value, _time.GetTimestamp());
        _entries[key] = entry;

        // An invalidation that ran between the check above and the insert did not see this entry: take it back out.
        if (!Unchanged(key, ticket))
        {
            _entries.TryRemove(new KeyValuePair<string, Entry>(key, entry));
        }
    }

    /// <summary>Forgets <paramref name="key"/>, and makes every read of it already in flight skip its insert.</summary>
    public void Invalidate(string key)
    {
        Interlocked.Increment(ref _stripes[Stripe(key)]);
        _entries.TryRemove(key, out _);
    }

    /// <summary>Forgets everything, and makes every read already in flight skip its insert.</summary>
    public void Clear()
    {
        Interlocked.Increment(ref _epoch);
        _entries.Clear();
    }

    private bool Unchanged(string key, Ticket ticket) =>
        Volatile.Read(ref _stripes[Stripe(key)]) == ticket.Stripe && Volatile.Read(ref _epoch) == ticket.Epoch;

    private static int Stripe(string key) => StringComparer.Ordinal.GetHashCode(key) & (StripeCount - 1);

    private void Evict()
    {
        lock (_evicting)
        {
            if (_entries.Count < _capacity)
            {
                return;
            }

            var now = _time.GetTimestamp();
            foreach (var (key, entry) in _entries)
            {
                if (now - entry.Stored >= _ttlTicks)
                {
                    _entries.TryRemove(new KeyValuePair<string, Entry>(key, entry));
                }
            }

            var excess = _entries.Count - _capacity + Math.Max(1, _capacity / 10);
            if (excess <= 0)
            {
                return;
            }

            foreach (var (key, entry) in _entries.OrderBy(e => e.Value.Stored).Take(excess).ToList())
            {
                _entries.TryRemove(new KeyValuePair<string, Entry>(key, entry));
            }
        }
    }

    private sealed record Entry(TValue Value, long Stored);

    private sealed class InFlight(Ticket ticket)
    {
        private readonly TaskCompletionSource<TValue?> _completion = new(TaskCreationOptions.RunContinuationsAsynchronously);

        public Ticket Ticket { get; } = ticket;

        public Task<TValue?> Task => _completion.Task;

        public Task<TValue?> Run<TState>(ReadCache<TValue> cache, string key, TState state, Func<TState, string, ValueTask<TValue?>> read)
        {
            _ = RunAsync(cache, key, state, read);
            return _completion.Task;
        }

        private async System.Threading.Tasks.Task RunAsync<TState>(ReadCache<TValue> cache, string key, TState state,
            Func<TState, string, ValueTask<TValue?>> read)
        {
            TValue? value = null;
            Exception? failure = null;
            try
            {
                value = await read(state, key);
                if (value is not null)
                {
                    cache.Put(key, value, Ticket);
                }
            }
            catch (Exception e)
            {
                failure = e;
            }

            // Leave the in-flight table before waking the waiters: a caller that retries as soon as its wait ends must
            // start a fresh read, not join this finished (possibly failed) one.
            cache._reads.TryRemove(new KeyValuePair<string, InFlight>(key, this));
            if (failure is not null)
            {
                _completion.SetException(failure);
            }
            else
            {
                _completion.SetResult(value);
            }
        }
    }
}
