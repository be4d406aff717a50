using System.Collections.Concurrent;
using System.Diagnostics.Tracing;

namespace Valet.Bench;

/// <summary>
/// Which types a run allocates, from the runtime's own allocation sampling (one GCAllocationTick event about every
/// 100 KB allocated, naming the type that crossed the mark). For <c>proxy --profile SIDE</c>: cheap, in-process, no tools.
/// </summary>
internal sealed class AllocationSampler : EventListener
{
    private const EventKeywords GcKeyword = (EventKeywords)0x1;

    private readonly ConcurrentDictionary<string, long> _bytesByType = new(StringComparer.Ordinal);

    public bool Recording { get; set; }

    protected override void OnEventSourceCreated(EventSource eventSource)
    {
        if (eventSource.Name == "Microsoft-Windows-DotNETRuntime")
        {
            EnableEvents(eventSource, EventLevel.Verbose, GcKeyword);
        }
    }

    protected override void OnEventWritten(EventWrittenEventArgs eventData)
    {
        if (!Recording || !eventData.EventName!.StartsWith("GCAllocationTick", StringComparison.Ordinal) || eventData.Payload is null)
        {
            return;
        }

        var names = eventData.PayloadNames!;
        var type = names.IndexOf("TypeName") is var t and >= 0 ? eventData.Payload[t] as string ?? "?" : "?";
        var amount = names.IndexOf("AllocationAmount64") is var a and >= 0 ? Convert.ToInt64(eventData.Payload[a], System.Globalization.CultureInfo.InvariantCulture) : 100_000;
        _bytesByType.AddOrUpdate(type, amount, (_, total) => total + amount);
    }

    public IEnumerable<(string Type, long Bytes)> Top(int count) =>
        _bytesByType.OrderByDescending(p => p.Value).Take(count).Select(p => (p.Key, p.Value));
}
