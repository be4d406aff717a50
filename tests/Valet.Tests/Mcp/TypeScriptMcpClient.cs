using System.Collections.Concurrent;
using System.Diagnostics;
using System.Text;
using System.Text.Json;

namespace Valet.Tests.Mcp;

/// <summary>
/// The official TypeScript MCP client (<c>@modelcontextprotocol/sdk</c>, pinned by tests/mcp/package-lock.json) in a node
/// child process (<c>tests/mcp/client.mjs</c>): it connects at start, then runs the tools/list and tools/call commands it is
/// sent, one JSON line each way, and reports every notification the server sends.
/// </summary>
internal sealed class TypeScriptMcpClient : IAsyncDisposable
{
    private static readonly SemaphoreSlim InstallLock = new(1, 1);
    private static readonly TimeSpan AnswerTimeout = TimeSpan.FromSeconds(120);

    private readonly Process _process;
    private readonly ConcurrentDictionary<int, TaskCompletionSource<JsonElement>> _pending = new();
    private readonly StringBuilder _stderr = new();
    private readonly Task _reader;
    private int _nextId;

    private TypeScriptMcpClient(Process process)
    {
        _process = process;
        _process.ErrorDataReceived += (_, e) =>
        {
            lock (_stderr)
            {
                _stderr.AppendLine(e.Data);
            }
        };
        _process.BeginErrorReadLine();
        _reader = Task.Run(ReadAsync);
    }

    /// <summary>The ready line: protocolVersion and the sessionId the server gave at initialize (null when none).</summary>
    public JsonElement Ready { get; private set; }

    public string? SessionId => Ready.GetProperty("sessionId").GetString();

    /// <summary>Every notification from the server, in arrival order: <c>{method, params}</c>.</summary>
    public ConcurrentQueue<JsonElement> Notifications { get; } = new();

    public static string Directory
    {
        get
        {
            var dir = new DirectoryInfo(AppContext.BaseDirectory);
            while (dir is not null && !File.Exists(Path.Combine(dir.FullName, "tests", "mcp", "client.mjs")))
            {
                dir = dir.Parent;
            }

            return dir is null ? throw new InvalidOperationException("tests/mcp/client.mjs not found above " + AppContext.BaseDirectory)
                : Path.Combine(dir.FullName, "tests", "mcp");
        }
    }

    /// <summary>Starts the client against <paramref name="endpoint"/> with the agent key; <paramref name="urlElicitation"/> declares URL mode at initialize.</summary>
    public static async Task<TypeScriptMcpClient> StartAsync(Uri endpoint, string key, bool urlElicitation)
    {
        await EnsureInstalledAsync();
        var info = new ProcessStartInfo("node", "client.mjs")
        {
            WorkingDirectory = Directory,
            RedirectStandardInput = true,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
            StandardOutputEncoding = Encoding.UTF8,
        };
        info.Environment["MCP_URL"] = endpoint.ToString();
        info.Environment["MCP_KEY"] = key;
        info.Environment["MCP_ELICITATION"] = urlElicitation ? "url" : "none";

        var process = Process.Start(info) ?? throw new InvalidOperationException("node did not start");
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(30));
        var line = await process.StandardOutput.ReadLineAsync(timeout.Token);
        var ready = line is null ? default : JsonDocument.Parse(line).RootElement.Clone();
        if (ready.ValueKind != JsonValueKind.Object || !ready.GetProperty("ready").GetBoolean())
        {
            var stderr = await process.StandardError.ReadToEndAsync(timeout.Token);
            process.Kill(entireProcessTree: true);
            process.Dispose();
            throw new InvalidOperationException($"The TypeScript MCP client did not connect: {line} {stderr}");
        }

        return new TypeScriptMcpClient(process) { Ready = ready };
    }

    public Task<JsonElement> ListToolsAsync() => SendAsync(new Dictionary<string, object?> { ["op"] = "listTools" });

    /// <summary>Calls a tool; the answer is <c>{id, result}</c> (a CallToolResult, isError or not) or <c>{id, error}</c> (a JSON-RPC error).</summary>
    public Task<JsonElement> CallAsync(string name, object? arguments = null) =>
        SendAsync(new Dictionary<string, object?> { ["op"] = "callTool", ["name"] = name, ["arguments"] = arguments ?? new { } });

    /// <summary>The result of an answer that must not be an error.</summary>
    public static JsonElement Result(JsonElement answer)
    {
        Assert.False(answer.TryGetProperty("error", out var error), "expected a result, got the error " + error);
        return answer.GetProperty("result");
    }

    /// <summary>The JSON-RPC error of an answer that must be one.</summary>
    public static JsonElement Error(JsonElement answer)
    {
        Assert.True(answer.TryGetProperty("error", out var error), "expected a JSON-RPC error, got " + answer);
        return error;
    }

    /// <summary>Waits until a notification with this method has arrived, and returns it.</summary>
    public async Task<JsonElement> NotificationAsync(string method, TimeSpan timeout)
    {
        var deadline = DateTime.UtcNow + timeout;
        while (true)
        {
            var found = Notifications.FirstOrDefault(n => n.GetProperty("method").GetString() == method);
            if (found.ValueKind == JsonValueKind.Object)
            {
                return found;
            }

            if (DateTime.UtcNow > deadline)
            {
                throw new TimeoutException($"No {method} notification in {timeout}; got: {string.Join(", ", Notifications)}");
            }

            await Task.Delay(50);
        }
    }

    public string StdErr
    {
        get
        {
            lock (_stderr)
            {
                return _stderr.ToString();
            }
        }
    }

    private async Task<JsonElement> SendAsync(Dictionary<string, object?> command)
    {
        var id = Interlocked.Increment(ref _nextId);
        command["id"] = id;
        var answer = new TaskCompletionSource<JsonElement>(TaskCreationOptions.RunContinuationsAsynchronously);
        _pending[id] = answer;
        await _process.StandardInput.WriteLineAsync(JsonSerializer.Serialize(command));
        await _process.StandardInput.FlushAsync();
        try
        {
            return await answer.Task.WaitAsync(AnswerTimeout);
        }
        catch (TimeoutException)
        {
            throw new TimeoutException($"The TypeScript MCP client did not answer {command["op"]} in {AnswerTimeout}: {StdErr}");
        }
    }

    private async Task ReadAsync()
    {
        while (await _process.StandardOutput.ReadLineAsync() is { } line)
        {
            var message = JsonDocument.Parse(line).RootElement.Clone();
            if (message.TryGetProperty("notification", out var notification))
            {
                Notifications.Enqueue(notification);
            }
            else if (message.TryGetProperty("id", out var id) && _pending.TryRemove(id.GetInt32(), out var answer))
            {
                answer.TrySetResult(message);
            }
        }

        foreach (var answer in _pending.Values)
        {
            answer.TrySetException(new InvalidOperationException("The TypeScript MCP client exited: " + StdErr));
        }
    }

    public async ValueTask DisposeAsync()
    {
        try
        {
            await _process.StandardInput.WriteLineAsync("{\"op\":\"close\"}");
            await _process.StandardInput.FlushAsync();
            await _process.WaitForExitAsync(new CancellationTokenSource(TimeSpan.FromSeconds(10)).Token);
        }
        catch (Exception e) when (e is IOException or OperationCanceledException)
        {
            // Gone or stuck: killed below.
        }

        if (!_process.HasExited)
        {
            _process.Kill(entireProcessTree: true);
        }

        await _reader;
        _process.Dispose();
    }

    /// <summary><c>npm ci</c> once when node_modules is missing (scripts/install-test-deps.sh does it too; this covers a bare dotnet test).</summary>
    private static async Task EnsureInstalledAsync()
    {
        await InstallLock.WaitAsync();
        try
        {
            if (System.IO.Directory.Exists(Path.Combine(Directory, "node_modules", "@modelcontextprotocol", "sdk")))
            {
                return;
            }

            var info = new ProcessStartInfo("npm", "ci --no-audit --no-fund") { WorkingDirectory = Directory, RedirectStandardError = true, RedirectStandardOutput = true };
            using var npm = Process.Start(info)!;
            var error = npm.StandardError.ReadToEndAsync();
            await npm.StandardOutput.ReadToEndAsync();
            await npm.WaitForExitAsync();
            if (npm.ExitCode != 0)
            {
                throw new InvalidOperationException("npm ci in tests/mcp failed: " + await error);
            }
        }
        finally
        {
            InstallLock.Release();
        }
    }
}
