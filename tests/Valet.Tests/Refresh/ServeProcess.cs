using System.Diagnostics;
using System.Text;
using Valet.Tests.Infrastructure;

namespace Valet.Tests.Refresh;

/// <summary>A real <c>valet serve</c> process on its own port: one node of a hosted deployment.</summary>
internal sealed class ServeProcess : IAsyncDisposable
{
    private readonly Process _process;
    private readonly StringBuilder _output = new();

    private ServeProcess(Process process, Uri baseUrl, string dataDirectory)
    {
        _process = process;
        BaseUrl = baseUrl;
        DataDirectory = dataDirectory;
    }

    public Uri BaseUrl { get; }

    public string DataDirectory { get; }

    /// <summary>
    /// A graceful stop, as a rolling deploy or <c>systemctl stop</c> sends it (SIGTERM), and the wait for the process to
    /// exit; returns how long that took.
    /// </summary>
    public async Task<TimeSpan> TerminateAsync(TimeSpan timeout)
    {
        var clock = Stopwatch.StartNew();
        using (var kill = Process.Start("kill", ["-TERM", _process.Id.ToString(System.Globalization.CultureInfo.InvariantCulture)])!)
        {
            await kill.WaitForExitAsync();
        }

        using var wait = new CancellationTokenSource(timeout);
        await _process.WaitForExitAsync(wait.Token);
        return clock.Elapsed;
    }

    public string Output
    {
        get
        {
            lock (_output)
            {
                return _output.ToString();
            }
        }
    }

    /// <summary>
    /// Starts a node with <paramref name="settings"/> given as configuration keys (<c>Providers:idp:Issuer</c>), passed
    /// the way an operator would: as <c>VALET_PROVIDERS__idp__Issuer</c> environment variables. Waits for /healthz.
    /// </summary>
    public static async Task<ServeProcess> StartAsync(IReadOnlyDictionary<string, string?> settings)
    {
        var port = RefreshKit.FreePort();
        var url = new Uri($"http://127.0.0.1:{port}");
        var dataDirectory = Path.Combine(Path.GetTempPath(), "valet-node-" + Guid.NewGuid().ToString("N")[..12]);
        var environment = settings.ToDictionary(p => "VALET_" + p.Key.Replace(":", "__", StringComparison.Ordinal), p => p.Value);
        environment["VALET_DATA_DIR"] = dataDirectory;

        // Hosted mode requires a public URL; a node in these tests is reached at its own address.
        environment.TryAdd("VALET_PUBLIC_URL", url.ToString().TrimEnd('/'));

        var process = Process.Start(CliRunner.StartInfo(["serve", "--urls", url.ToString().TrimEnd('/')], environment))
            ?? throw new InvalidOperationException("valet serve did not start");
        var node = new ServeProcess(process, url, dataDirectory);
        process.OutputDataReceived += (_, e) => node.Append(e.Data);
        process.ErrorDataReceived += (_, e) => node.Append(e.Data);
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        process.StandardInput.Close();

        using var probe = new HttpClient { BaseAddress = url, Timeout = TimeSpan.FromSeconds(2) };
        var healthy = await RefreshKit.EventuallyAsync(async () =>
        {
            if (process.HasExited)
            {
                throw new InvalidOperationException($"valet serve exited with {process.ExitCode}: {node.Output}");
            }

            try
            {
                return (await probe.GetAsync("/healthz")).IsSuccessStatusCode;
            }
            catch (HttpRequestException)
            {
                return false;
            }
            catch (TaskCanceledException)
            {
                return false;
            }
        }, TimeSpan.FromSeconds(60), TimeSpan.FromMilliseconds(250));
        if (!healthy)
        {
            await node.DisposeAsync();
            throw new InvalidOperationException("valet serve did not become healthy: " + node.Output);
        }

        return node;
    }

    private void Append(string? line)
    {
        if (line is null)
        {
            return;
        }

        lock (_output)
        {
            _output.AppendLine(line);
        }
    }

    public async ValueTask DisposeAsync()
    {
        if (!_process.HasExited)
        {
            _process.Kill(entireProcessTree: true);
            await _process.WaitForExitAsync();
        }

        _process.Dispose();
        try
        {
            Directory.Delete(DataDirectory, recursive: true);
        }
        catch (IOException)
        {
            // A temp dir (or none at all: hosted mode may write nothing there).
        }
    }
}
