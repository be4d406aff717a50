using Microsoft.AspNetCore.Builder;

namespace Valet.Bench;

/// <summary>How every server the benches start itself is built.</summary>
internal static class BenchHosts
{
    /// <summary>
    /// The content root is the executable's folder, as <c>valet serve</c>'s is (ValetHost), never the working directory:
    /// a host watches its content root, recursively, for appsettings changes. Run from <c>/tmp</c>, each baseline held
    /// about 9,700 inotify watches there and woke for every write Valet's SQLite database (or PostgreSQL, whose data
    /// directory is there too) made during Valet's rounds, on the servers' core: a cost charged to Valet's side only.
    /// </summary>
    public static WebApplicationOptions Options => new() { ContentRootPath = AppContext.BaseDirectory };
}
