using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;
using Npgsql;

namespace Valet.Storage.Caching;

/// <summary>
/// PostgreSQL only: one dedicated session that <c>LISTEN</c>s on <see cref="StorageCache.Channel"/> and evicts what the
/// triggers of migration 0002 name (<c>key:PREFIX</c>, <c>conn:ID</c>), so a write on any node reaches every node's
/// cache as soon as it commits. While the session is down the cache is off (reads go to the database); on every
/// (re)connect it starts empty, since notifications sent meanwhile are lost. Reconnects back off exponentially.
/// </summary>
internal sealed partial class ChangeListener(
    DatabaseTarget target,
    StorageCache cache,
    IOptions<StorageCacheOptions> options,
    TimeProvider time,
    ILogger<ChangeListener>? logger = null) : BackgroundService
{
    /// <summary>The listener's <c>application_name</c>, so an operator (or a test) can find its backend.</summary>
    public const string ApplicationName = "valet-change-listener";

    private static readonly TimeSpan FirstBackoff = TimeSpan.FromMilliseconds(250);

    /// <summary>How often the listener sends itself a heartbeat.</summary>
    internal static readonly TimeSpan Heartbeat = TimeSpan.FromSeconds(1);

    /// <summary>How long a heartbeat may take before the session is taken for dead (whole seconds: Npgsql's unit).</summary>
    internal static readonly TimeSpan HeartbeatTimeout = TimeSpan.FromSeconds(2);

    private readonly ILogger _logger = logger ?? NullLogger<ChangeListener>.Instance;
    private int _connects;

    /// <summary>How many times the listener has subscribed (for tests and diagnostics).</summary>
    public int Connects => Volatile.Read(ref _connects);

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        // Runs even with the cache off: runtime providers (migration 0007) are announced on the same channel.
        if (!target.IsPostgres)
        {
            return;
        }

        var builder = new NpgsqlConnectionStringBuilder(target.ConnectionString)
        {
            ApplicationName = ApplicationName,
            Pooling = false,          // a broken session must not go back to a pool
            KeepAlive = 5,            // notice a silently dead server while waiting
            Multiplexing = false,
            CommandTimeout = (int)HeartbeatTimeout.TotalSeconds, // a heartbeat that does not return: the session is gone
            CancellationTimeout = -1, // and do not wait on a cancel request to a backend that may not answer it
        };
        var connectionString = builder.ConnectionString;
        var failures = 0;
        while (!stoppingToken.IsCancellationRequested)
        {
            try
            {
                await using var connection = new NpgsqlConnection(connectionString);
                connection.Notification += (_, e) => cache.Apply(e.Payload);
                await connection.OpenAsync(stoppingToken);
                await using (var listen = new NpgsqlCommand($"LISTEN {StorageCache.Channel}", connection))
                {
                    await listen.ExecuteNonQueryAsync(stoppingToken);
                }

                cache.ListenerConnected();
                Interlocked.Increment(ref _connects);
                LogListening(_logger, target.Description);
                failures = 0;

                // A heartbeat a second, sent on this session to itself: it comes back (after every notification sent
                // before it) only if the session is alive both ways. A backend that hangs, or a network path that drops
                // the session without closing it, fails the NOTIFY within HeartbeatTimeout, and the cache goes off
                // (StorageCache.IsActive also stops serving once no heartbeat has come back for HeartbeatLimit).
                await using var beat = new NpgsqlCommand($"NOTIFY {StorageCache.Channel}, '{cache.HeartbeatPayload}'", connection);
                var beatAt = System.Diagnostics.Stopwatch.GetTimestamp(); // real time, whatever clock the rest runs on: this measures I/O
                while (true)
                {
                    if (WaitMilliseconds(Heartbeat - System.Diagnostics.Stopwatch.GetElapsedTime(beatAt)) is var wait and > 0)
                    {
                        await connection.WaitAsync(wait, stoppingToken);
                        continue;
                    }

                    beatAt = System.Diagnostics.Stopwatch.GetTimestamp();
                    await beat.ExecuteNonQueryAsync(stoppingToken);
                }
            }
            catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
            {
                break;
            }
            catch (Exception e)
            {
                cache.ListenerLost();
                failures++;
                var delay = Backoff(failures, options.Value.ListenerMaxBackoff);
                LogLost(_logger, e.GetType().Name, delay.TotalMilliseconds);
                try
                {
                    await Task.Delay(delay, time, stoppingToken);
                }
                catch (OperationCanceledException)
                {
                    break;
                }
            }
            finally
            {
                cache.ListenerLost();
            }
        }
    }

    /// <summary>
    /// Milliseconds to wait for a notification before the next heartbeat is due; 0 when it is due now. Never a positive
    /// wait below one millisecond rounded down to 0: Npgsql's <c>WaitAsync</c> takes 0 as "no timeout", and the loop then
    /// waited until some other notification came, sending no heartbeat, so the cache went off (found by the benchmark).
    /// Notifications reach the event only inside a command or a wait (https://npgsql.org/doc/wait.html).
    /// </summary>
    internal static int WaitMilliseconds(TimeSpan untilDue) =>
        untilDue <= TimeSpan.Zero ? 0 : (int)Math.Ceiling(Math.Min(untilDue.TotalMilliseconds, int.MaxValue));

    internal static TimeSpan Backoff(int failures, TimeSpan max)
    {
        var exponent = Math.Clamp(failures - 1, 0, 20);
        var delay = FirstBackoff * Math.Pow(2, exponent);
        return delay < max ? delay : max;
    }

    [LoggerMessage(EventId = 4010, Level = LogLevel.Information, Message = "Listening for cache invalidations on {Database}")]
    private static partial void LogListening(ILogger logger, string database);

    // Only the exception type: a connection error may carry host names or worse.
    [LoggerMessage(EventId = 4011, Level = LogLevel.Warning,
        Message = "Cache invalidation listener lost its session ({Error}); the cache is off until it reconnects in {DelayMs} ms")]
    private static partial void LogLost(ILogger logger, string error, double delayMs);
}
