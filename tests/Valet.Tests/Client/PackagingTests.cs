using System.Diagnostics;
using System.Text;
using Valet.Tests.Refresh;

namespace Valet.Tests.ClientSdk;

/// <summary>
/// SLOW (a few minutes: a full `dotnet pack` and a tool install): `dotnet pack` at the root makes exactly the two packages,
/// and the Valet.Cli tool installs from that folder and runs `valet --help` and `valet serve` until /healthz answers.
/// Kept to one test on purpose, in a collection of its own that runs alone, after the others: a pack on a loaded
/// 2-core machine would slow the timing-sensitive tests around it.
/// </summary>
[Collection(PackagingCollection.Name)]
public sealed class PackagingTests : IDisposable
{
    private const string Version = "0.1.0";
    private readonly string _root = Path.Combine(Path.GetTempPath(), "valet-pack-" + Guid.NewGuid().ToString("N")[..12]);

    [Fact]
    public async Task Pack_MakesBothPackages_AndTheToolInstallsFromTheFolder_AndServes()
    {
        var artifacts = Path.Combine(_root, "artifacts");
        var tools = Path.Combine(_root, "tools");
        // A private package cache: the global one may hold an older Valet.Cli of the same version.
        var environment = new Dictionary<string, string?> { ["NUGET_PACKAGES"] = Path.Combine(_root, "packages") };

        var pack = await RunAsync("dotnet", ["pack", Path.Combine(RepositoryRoot, "Valet.slnx"), "-c", "Release", "-o", artifacts], null,
            TimeSpan.FromMinutes(12));
        Assert.True(pack.ExitCode == 0, pack.Output);
        Assert.Equal(["Valet.Cli." + Version + ".nupkg", "Valet.Client." + Version + ".nupkg"],
            Directory.GetFiles(artifacts, "*.nupkg").Select(Path.GetFileName).Order(StringComparer.Ordinal));

        var install = await RunAsync("dotnet", ["tool", "install", "--tool-path", tools, "--add-source", artifacts, "Valet.Cli", "--version", Version],
            environment, TimeSpan.FromMinutes(5));
        Assert.True(install.ExitCode == 0, install.Output);

        var valet = Path.Combine(tools, OperatingSystem.IsWindows() ? "valet.exe" : "valet");
        var help = await RunAsync(valet, ["--help"], null, TimeSpan.FromMinutes(1));
        Assert.True(help.ExitCode == 0, help.Output);
        foreach (var verb in new[] { "serve", "connect", "connections", "token", "keys" })
        {
            Assert.Contains(verb, help.Output, StringComparison.Ordinal);
        }

        await ServesAsync(valet);
    }

    public void Dispose()
    {
        try
        {
            Directory.Delete(_root, recursive: true);
        }
        catch (IOException)
        {
        }
    }

    /// <summary>`valet serve` from the installed tool on a free port and a fresh data directory, until /healthz answers.</summary>
    private async Task ServesAsync(string valet)
    {
        var url = new Uri($"http://127.0.0.1:{RefreshKit.FreePort()}");
        var info = new ProcessStartInfo(valet, ["serve", "--urls", url.ToString().TrimEnd('/')])
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        info.Environment["VALET_DATA_DIR"] = Path.Combine(_root, "data");
        var output = new StringBuilder();
        using var process = Process.Start(info)!;
        process.OutputDataReceived += (_, e) => Append(output, e.Data);
        process.ErrorDataReceived += (_, e) => Append(output, e.Data);
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        try
        {
            using var probe = new HttpClient { BaseAddress = url, Timeout = TimeSpan.FromSeconds(2) };
            var healthy = await RefreshKit.EventuallyAsync(async () =>
            {
                try
                {
                    using var response = await probe.GetAsync("/healthz");
                    return response.IsSuccessStatusCode;
                }
                catch (HttpRequestException)
                {
                    return process.HasExited;
                }
                catch (TaskCanceledException)
                {
                    return false;
                }
            }, TimeSpan.FromSeconds(90), TimeSpan.FromMilliseconds(300));
            Assert.True(healthy && !process.HasExited, "valet serve from the tool never answered /healthz:\n" + Text(output));
        }
        finally
        {
            if (!process.HasExited)
            {
                process.Kill(entireProcessTree: true);
                await process.WaitForExitAsync();
            }
        }
    }

    private static async Task<(int ExitCode, string Output)> RunAsync(string file, string[] args, Dictionary<string, string?>? environment, TimeSpan timeout)
    {
        var info = new ProcessStartInfo(file, args)
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
            WorkingDirectory = RepositoryRoot,
        };
        foreach (var (key, value) in environment ?? [])
        {
            info.Environment[key] = value;
        }

        var output = new StringBuilder();
        using var process = Process.Start(info)!;
        process.OutputDataReceived += (_, e) => Append(output, e.Data);
        process.ErrorDataReceived += (_, e) => Append(output, e.Data);
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        using var cancel = new CancellationTokenSource(timeout);
        try
        {
            await process.WaitForExitAsync(cancel.Token);
        }
        catch (OperationCanceledException)
        {
            process.Kill(entireProcessTree: true);
            return (-1, $"{file} {string.Join(' ', args)} timed out after {timeout}:\n{Text(output)}");
        }

        process.WaitForExit(); // drains the redirected output
        return (process.ExitCode, Text(output));
    }

    private static void Append(StringBuilder output, string? line)
    {
        if (line is null)
        {
            return;
        }

        lock (output)
        {
            output.AppendLine(line);
        }
    }

    private static string Text(StringBuilder output)
    {
        lock (output)
        {
            return output.ToString();
        }
    }

    private static string RepositoryRoot
    {
        get
        {
            var dir = new DirectoryInfo(AppContext.BaseDirectory);
            while (dir is not null && !File.Exists(Path.Combine(dir.FullName, "Valet.slnx")))
            {
                dir = dir.Parent;
            }

            return dir?.FullName ?? throw new InvalidOperationException("Valet.slnx not found above " + AppContext.BaseDirectory);
        }
    }
}

[CollectionDefinition(Name, DisableParallelization = true)]
public sealed class PackagingCollection
{
    public const string Name = "packaging";
}
