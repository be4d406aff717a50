using System.Diagnostics;

namespace Valet.Tests.Infrastructure;

public sealed record CliResult(int ExitCode, string StdOut, string StdErr);

/// <summary>Runs the real <c>valet</c> executable (built beside the tests) as a subprocess.</summary>
public static class CliRunner
{
    /// <summary>
    /// The CLI from its own build output (<c>src/Valet.Cli/bin/CONFIG/TFM/valet.dll</c>), whose folder holds exactly the
    /// assemblies its deps.json names. The copy beside the tests runs with the test project's folder, where a package the
    /// shared framework also ships may be missing (seen with Microsoft.Extensions.* pinned above the installed runtime).
    /// </summary>
    public static string ValetDll { get; } = FindValetDll();

    private static string FindValetDll()
    {
        var baseDirectory = new DirectoryInfo(AppContext.BaseDirectory.TrimEnd(Path.DirectorySeparatorChar));
        var framework = baseDirectory.Name;              // net10.0
        var configuration = baseDirectory.Parent?.Name;  // Release or Debug
        for (var dir = baseDirectory; dir is not null; dir = dir.Parent)
        {
            var candidate = Path.Combine(dir.FullName, "src", "Valet.Cli", "bin", configuration ?? "Release", framework, "valet.dll");
            if (File.Exists(candidate))
            {
                return candidate;
            }
        }

        return Path.Combine(AppContext.BaseDirectory, "valet.dll");
    }

    public static ProcessStartInfo StartInfo(IEnumerable<string> args, IDictionary<string, string?>? environment = null)
    {
        var info = new ProcessStartInfo("dotnet")
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            RedirectStandardInput = true,
            UseShellExecute = false,
        };
        info.ArgumentList.Add(ValetDll);
        foreach (var arg in args)
        {
            info.ArgumentList.Add(arg);
        }

        // A clean slate: nothing from the developer's own VALET_* environment leaks into a test.
        foreach (var key in info.Environment.Keys.Where(k => k.StartsWith("VALET_", StringComparison.Ordinal)).ToList())
        {
            info.Environment.Remove(key);
        }

        info.Environment["DOTNET_NOLOGO"] = "1";
        foreach (var (key, value) in environment ?? new Dictionary<string, string?>())
        {
            info.Environment[key] = value;
        }

        return info;
    }

    public static async Task<CliResult> RunAsync(IEnumerable<string> args, IDictionary<string, string?>? environment = null, string? stdin = null,
        TimeSpan? timeout = null)
    {
        using var process = Process.Start(StartInfo(args, environment))!;
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        if (stdin is not null)
        {
            await process.StandardInput.WriteAsync(stdin);
        }

        process.StandardInput.Close();
        using var cts = new CancellationTokenSource(timeout ?? TimeSpan.FromSeconds(60));
        try
        {
            await process.WaitForExitAsync(cts.Token);
        }
        catch (OperationCanceledException)
        {
            process.Kill(entireProcessTree: true);
            throw new TimeoutException($"valet {string.Join(' ', args)} did not exit in time. stderr: {await stderr}");
        }

        return new CliResult(process.ExitCode, await stdout, await stderr);
    }
}
