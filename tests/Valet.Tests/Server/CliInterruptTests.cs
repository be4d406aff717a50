using System.Diagnostics;
using Valet.Tests.Infrastructure;

namespace Valet.Tests.Server;

/// <summary>Ctrl+C or SIGTERM while a verb waits: one line on stderr, exit 130 — not an "unexpected" exception.</summary>
public sealed class CliInterruptTests
{
    [Theory]
    [InlineData("INT")]
    [InlineData("TERM")]
    public async Task Connect_InterruptedWhileWaitingForThePerson_PrintsOneLine_AndExits130(string signal)
    {
        await using var server = await ValetTestServer.StartAsync(new Dictionary<string, string?>
        {
            ["Providers:slow:AuthorizationEndpoint"] = "http://127.0.0.1:9/authorize",
            ["Providers:slow:TokenEndpoint"] = "http://127.0.0.1:9/token",
            ["Providers:slow:AllowPrivateNetwork"] = "true",
            ["Providers:slow:ClientId"] = "slow-client",
            ["Providers:slow:ClientSecret"] = "slow-secret",
        });
        var env = new Dictionary<string, string?> { ["VALET_URL"] = server.BaseUrl.ToString(), ["VALET_DATA_DIR"] = server.DataDirectory };
        using var process = Process.Start(WithDefaultSignals(CliRunner.StartInfo(["connect", "slow", "--no-browser", "--callback-transport", "gateway"], env)))!;
        process.StandardInput.Close();
        var stdout = process.StandardOutput.ReadToEndAsync();

        var first = await process.StandardError.ReadLineAsync().WaitAsync(TimeSpan.FromSeconds(120)); // a cold CLI on a loaded machine
        Assert.StartsWith("Open this URL to continue: ", first, StringComparison.Ordinal);
        // A real signal, as a terminal's Ctrl+C or a service manager sends it (Process.Kill would be SIGKILL).
        using (var kill = Process.Start("/bin/kill", ["-" + signal, process.Id.ToString(System.Globalization.CultureInfo.InvariantCulture)]))
        {
            await kill.WaitForExitAsync();
            Assert.Equal(0, kill.ExitCode);
        }

        var rest = await process.StandardError.ReadToEndAsync().WaitAsync(TimeSpan.FromSeconds(30));
        await process.WaitForExitAsync(new CancellationTokenSource(TimeSpan.FromSeconds(30)).Token);

        Assert.Equal(130, process.ExitCode);
        var line = Assert.Single(rest.Split('\n', StringSplitOptions.RemoveEmptyEntries));
        Assert.Equal("valet: interrupted.", line);
        Assert.Equal(string.Empty, await stdout);
        }

    /// <summary>
    /// Runs the CLI with SIGINT and SIGQUIT at their default disposition. A process started as a background job (a CI
    /// step, `cmd &amp;`) inherits them ignored, and .NET then never sees Ctrl+C: the test must measure Valet, not the runner.
    /// python3 resets them and execs the CLI (an exec keeps default dispositions, unlike ignored ones).
    /// </summary>
    private static ProcessStartInfo WithDefaultSignals(ProcessStartInfo start)
    {
        var wrapped = new ProcessStartInfo("python3")
        {
            RedirectStandardInput = start.RedirectStandardInput,
            RedirectStandardOutput = start.RedirectStandardOutput,
            RedirectStandardError = start.RedirectStandardError,
            UseShellExecute = false,
            WorkingDirectory = start.WorkingDirectory,
        };
        foreach (var argument in new[]
        {
            "-c", "import os, signal, sys; signal.signal(signal.SIGINT, signal.SIG_DFL); signal.signal(signal.SIGQUIT, signal.SIG_DFL); os.execvp(sys.argv[1], sys.argv[1:])",
            start.FileName,
        })
        {
            wrapped.ArgumentList.Add(argument);
        }

        foreach (var argument in start.ArgumentList)
        {
            wrapped.ArgumentList.Add(argument);
        }

        foreach (var (key, value) in start.Environment)
        {
            wrapped.Environment[key] = value;
        }

        return wrapped;
    }
}
