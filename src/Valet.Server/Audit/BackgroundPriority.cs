using System.Runtime.InteropServices;

namespace Valet.Server.Audit;

/// <summary>
/// Lowers the calling thread's CPU priority where the runtime cannot: .NET ignores <see cref="Thread.Priority"/> on
/// Linux, but Linux keeps a nice value per thread, and raising one's own nice needs no privilege.
/// </summary>
internal static partial class BackgroundPriority
{
    private const int PriorityProcess = 0; // PRIO_PROCESS with a thread id addresses that one thread on Linux
    private const int Nice = 10;

    public static void Lower()
    {
        if (!OperatingSystem.IsLinux())
        {
            return;
        }

        try
        {
            _ = SetPriority(PriorityProcess, GetThreadId(), Nice); // best effort: a failure leaves the default priority
        }
        catch (Exception error) when (error is DllNotFoundException or EntryPointNotFoundException)
        {
        }
    }

    [LibraryImport("libc.so.6", EntryPoint = "setpriority")]
    private static partial int SetPriority(int which, int who, int priority);

    [LibraryImport("libc.so.6", EntryPoint = "gettid")]
    private static partial int GetThreadId();
}
