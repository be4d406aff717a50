using System.Diagnostics;
using System.Net.Http.Headers;
using System.Text.Json;

namespace Valet.Bench.Soak;

internal enum RequestKind
{
    Token,
    Proxy,
    Bootstrap,
}

/// <summary>Latencies and errors of one minute (or of the whole run), per request kind.</summary>
internal sealed class Window
{
    public List<double>[] Latencies { get; } = [new(), new(), new()];

    public long Errors { get; set; }

    public long Requests => Latencies.Sum(l => l.Count);

    public IEnumerable<double> All => Latencies.SelectMany(l => l);

    public static double Percentile(IEnumerable<double> values, double p)
    {
        var sorted = values.Order().ToArray();
        return sorted.Length == 0 ? double.NaN : sorted[Math.Min(sorted.Length - 1, (int)(p * sorted.Length))];
    }
}

/// <summary>
/// Steady mixed load: <c>workers</c> callers, each paced to its share of <c>rate</c> requests per second (a late caller
/// does not burst to catch up), alternating nodes; of every ten requests five are the token route, four a proxied GET,
/// one bootstrap. A request counts as an error on a non-2xx, an exception, or a token the provider never issued or has
/// expired.
/// </summary>
internal sealed class SoakLoad(IReadOnlyList<Uri> nodes, string key, string connectionId, SoakProvider provider, int workers, int rate)
{
    private const int MaxErrorSamples = 5;
    private readonly Lock _gate = new();
    private readonly List<string> _errorSamples = [];
    private Window _current = new();

    public IReadOnlyList<string> ErrorSamples
    {
        get
        {
            lock (_gate)
            {
                return [.. _errorSamples];
            }
        }
    }

    /// <summary>The figures since the last call; the next window starts now.</summary>
    public Window Swap()
    {
        lock (_gate)
        {
            var done = _current;
            _current = new Window();
            return done;
        }
    }

    public async Task RunAsync(CancellationToken stop)
    {
        var clients = nodes.Select(url =>
        {
            var client = new HttpClient(new SocketsHttpHandler { UseProxy = false, MaxConnectionsPerServer = workers }) { BaseAddress = url, Timeout = TimeSpan.FromSeconds(30) };
            client.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", key);
            return client;
        }).ToArray();
        try
        {
            await Task.WhenAll(Enumerable.Range(0, workers).Select(w => Task.Run(() => WorkerAsync(w, clients, stop), CancellationToken.None)));
        }
        finally
        {
            foreach (var client in clients)
            {
                client.Dispose();
            }
        }
    }

    private async Task WorkerAsync(int worker, HttpClient[] clients, CancellationToken stop)
    {
        var period = TimeSpan.FromSeconds((double)workers / rate);
        // Spread the workers' first requests over one period so they do not arrive in lockstep.
        var next = Stopwatch.GetTimestamp() + (long)(period.TotalSeconds * Stopwatch.Frequency * worker / workers);
        for (var i = worker; !stop.IsCancellationRequested; i++)
        {
            var wait = Stopwatch.GetElapsedTime(Stopwatch.GetTimestamp(), next);
            if (wait > TimeSpan.Zero)
            {
                try
                {
                    await Task.Delay(wait, stop);
                }
                catch (OperationCanceledException)
                {
                    return;
                }
            }

            next = Math.Max(next + (long)(period.TotalSeconds * Stopwatch.Frequency), Stopwatch.GetTimestamp());
            // Shift by one every ten requests, so every node sees every kind.
            var node = (i + i / 10) % clients.Length;
            var kind = (i % 10) switch
            {
                < 5 => RequestKind.Token,
                < 9 => RequestKind.Proxy,
                _ => RequestKind.Bootstrap,
            };
            var started = Stopwatch.GetTimestamp();
            string? error;
            try
            {
                error = await CallAsync(clients[node], kind, stop);
            }
            catch (OperationCanceledException) when (stop.IsCancellationRequested)
            {
                return;
            }
            catch (Exception ex)
            {
                error = $"{ex.GetType().Name}: {ex.Message}";
            }

            Record(kind, node, Stopwatch.GetElapsedTime(started).TotalMilliseconds, error);
        }
    }

    private async Task<string?> CallAsync(HttpClient client, RequestKind kind, CancellationToken stop)
    {
        using var request = kind switch
        {
            RequestKind.Token => new HttpRequestMessage(HttpMethod.Post, $"/v1/connections/{connectionId}/token"),
            RequestKind.Proxy => new HttpRequestMessage(HttpMethod.Get, $"/v1/proxy/{connectionId}/user"),
            _ => new HttpRequestMessage(HttpMethod.Get, "/v1/bootstrap"),
        };
        using var response = await client.SendAsync(request, stop);
        var body = await response.Content.ReadAsStringAsync(stop);
        if (!response.IsSuccessStatusCode)
        {
            return $"{(int)response.StatusCode} {body[..Math.Min(body.Length, 400)]}";
        }

        if (kind == RequestKind.Token)
        {
            using var json = JsonDocument.Parse(body);
            var token = json.RootElement.TryGetProperty("access_token", out var t) ? t.GetString() : null;
            if (!provider.IsValid(token))
            {
                return $"200 with an access token the provider did not issue or that has expired: {body[..Math.Min(body.Length, 400)]}";
            }
        }

        return null;
    }

    private void Record(RequestKind kind, int node, double milliseconds, string? error)
    {
        lock (_gate)
        {
            _current.Latencies[(int)kind].Add(milliseconds);
            if (error is not null)
            {
                _current.Errors++;
                if (_errorSamples.Count < MaxErrorSamples)
                {
                    _errorSamples.Add($"{kind} on node{node}: {error}");
                    Console.WriteLine($"  error ({kind} on node{node}): {error}");
                }
            }
        }
    }
}
