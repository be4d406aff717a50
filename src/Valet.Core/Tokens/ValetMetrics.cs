using System.Diagnostics.Metrics;

namespace Valet.Core.Tokens;

/// <summary>
/// Refresh instruments on the <c>Valet</c> meter. Tags are low-cardinality only (reason, class); never a connection id.
/// </summary>
public sealed class ValetMetrics : IDisposable
{
    public const string MeterName = "Valet";

    private readonly Meter _meter;
    private readonly Counter<long> _attempts;
    private readonly Counter<long> _failures;
    private readonly Counter<long> _providerCalls;
    private readonly Histogram<double> _lag;

    /// <param name="meterFactory">The host's factory; without one (a bare container, a test) a standalone meter is made.</param>
    public ValetMetrics(IMeterFactory? meterFactory = null)
    {
        _meter = meterFactory?.Create(MeterName) ?? new Meter(MeterName);
        _attempts = _meter.CreateCounter<long>("valet.refresh.attempts", "{attempt}", "Refreshes that took the connection lock.");
        _failures = _meter.CreateCounter<long>("valet.refresh.failures", "{failure}", "Failed refreshes by class.");
        _providerCalls = _meter.CreateCounter<long>("valet.refresh.provider_calls", "{call}", "Calls to a provider's token endpoint for a refresh.");
        _lag = _meter.CreateHistogram<double>("valet.refresh.lag", "s", "How far behind its NextRefreshAt a connection was when the background refresher claimed it.");
    }

    internal void Attempt(RefreshReason reason) =>
        _attempts.Add(1, new KeyValuePair<string, object?>("reason", ReasonTag(reason)));

    /// <param name="failureClass">invalid_grant | invalid_client | oauth_error | transient | rate_limited | timeout.</param>
    internal void Failure(string failureClass) =>
        _failures.Add(1, new KeyValuePair<string, object?>("class", failureClass));

    internal void ProviderCall() => _providerCalls.Add(1);

    internal void Lag(TimeSpan lag) => _lag.Record(Math.Max(0, lag.TotalSeconds));

    internal static string ReasonTag(RefreshReason reason) => reason switch
    {
        RefreshReason.Expiring => "expiring",
        RefreshReason.Forced => "forced",
        _ => "proactive",
    };

    public void Dispose() => _meter.Dispose();
}
