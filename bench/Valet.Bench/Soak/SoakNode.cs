using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Net.Sockets;
using System.Text.RegularExpressions;
using Valet.Tests.Infrastructure;

namespace Valet.Bench.Soak;

/// <summary>
/// One memory sample of a node: RSS from /proc now; GC heap as the smallest heap-after-GC its runtime-stats lines reported
/// since the previous sample (the floor: a single reading may follow a gen0 GC with gen2 garbage not yet collected).
/// </summary>
internal sealed record NodeMemory(long RssBytes, long GcHeapBytes, long Gen2Collections, int ThreadPoolThreads);

/// <summary>
/// A real <c>valet serve</c> subprocess (so its RSS is its own). Keeps only what the soak needs of its stderr: the latest
/// runtime-stats line, a count of warning and error lines, and the last few lines for a failure report.
/// </summary>
internal sealed partial class SoakNode : IAsyncDisposable
{
    private readonly Process _process;
    private readonly Queue<string> _tail = new();
    private (long Heap, long Gen2, int Threads)? _runtime;
    private long _heapFloor = long.MaxValue;
    private int _warnings;
    private int _errors;

    private SoakNode(Process process, Uri url)
    {
        _process = process;
        Url = url;
    }

    public Uri Url { get; }

    public int Pid => _process.Id;

    public int Warnings => Volatile.Read(ref _warnings);

    public int Errors => Volatile.Read(ref _errors);

    public static int FreePort()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }

    /// <summary>Starts <c>valet serve</c> on <paramref name="url"/> with <paramref name="environment"/> (VALET_* variables) and waits for /healthz.</summary>
    public static async Task<SoakNode> StartAsync(Uri url, IDictionary<string, string?> environment, CancellationToken cancellationToken)
    {
        var process = Process.Start(CliRunner.StartInfo(["serve", "--urls", url.ToString().TrimEnd('/')], environment))
            ?? throw new InvalidOperationException("valet serve did not start");
        var node = new SoakNode(process, url);
        process.OutputDataReceived += (_, e) => node.Observe(e.Data);
        process.ErrorDataReceived += (_, e) => node.Observe(e.Data);
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        process.StandardInput.Close();

        using var probe = new HttpClient { BaseAddress = url, Timeout = TimeSpan.FromSeconds(2) };
        var deadline = Stopwatch.StartNew();
        while (deadline.Elapsed < TimeSpan.FromSeconds(90))
        {
            if (process.HasExited)
            {
                throw new InvalidOperationException($"valet serve on {url} exited with {process.ExitCode}:\n{node.Tail()}");
            }

            try
            {
                if ((await probe.GetAsync("/healthz", cancellationToken)).IsSuccessStatusCode)
                {
                    return node;
                }
            }
            catch (Exception ex) when (ex is HttpRequestException or TaskCanceledException && !cancellationToken.IsCancellationRequested)
            {
            }

            await Task.Delay(250, cancellationToken);
        }

        await node.DisposeAsync();
        throw new InvalidOperationException($"valet serve on {url} did not become healthy:\n{node.Tail()}");
    }

    /// <summary>RSS now (from /proc/PID/status) and the GC figures of the node's latest runtime-stats line.</summary>
    public NodeMemory Memory()
    {
        long rss = -1;
        try
        {
            foreach (var line in File.ReadLines($"/proc/{_process.Id}/status"))
            {
                if (line.StartsWith("VmRSS:", StringComparison.Ordinal))
                {
                    rss = long.Parse(line.AsSpan(6).Trim().TrimEnd("kB").Trim(), CultureInfo.InvariantCulture) * 1024;
                    break;
                }
            }
        }
        catch (IOException)
        {
        }

        lock (_tail)
        {
            var floor = _heapFloor == long.MaxValue ? _runtime?.Heap ?? -1 : _heapFloor;
            _heapFloor = long.MaxValue;
            return new NodeMemory(rss, floor, _runtime?.Gen2 ?? -1, _runtime?.Threads ?? -1);
        }
    }

    public bool HasExited => _process.HasExited;

    public string Tail()
    {
        lock (_tail)
        {
            return string.Join('\n', _tail);
        }
    }

    private void Observe(string? line)
    {
        if (line is null)
        {
            return;
        }

        if (line.StartsWith("warn:", StringComparison.Ordinal))
        {
            Interlocked.Increment(ref _warnings);
        }
        else if (line.StartsWith("fail:", StringComparison.Ordinal) || line.StartsWith("crit:", StringComparison.Ordinal))
        {
            Interlocked.Increment(ref _errors);
        }

        lock (_tail)
        {
            if (RuntimeLine().Match(line) is { Success: true } match)
            {
                _runtime = (long.Parse(match.Groups[1].ValueSpan, CultureInfo.InvariantCulture), long.Parse(match.Groups[2].ValueSpan, CultureInfo.InvariantCulture),
                    int.Parse(match.Groups[3].ValueSpan, CultureInfo.InvariantCulture));
                if (_runtime.Value.Heap > 0)
                {
                    // 0 until the node's first GC.
                    _heapFloor = Math.Min(_heapFloor, _runtime.Value.Heap);
                }
                return;
            }

            _tail.Enqueue(line);
            if (_tail.Count > 40)
            {
                _tail.Dequeue();
            }
        }
    }

    [GeneratedRegex(@"Runtime: gc_heap_bytes=(\d+) .* gen2=(\d+) threadpool_threads=(\d+)")]
    private static partial Regex RuntimeLine();

    public async ValueTask DisposeAsync()
    {
        if (!_process.HasExited)
        {
            _process.Kill(entireProcessTree: true);
            await _process.WaitForExitAsync();
        }

        _process.Dispose();
    }
}
