using Microsoft.Extensions.Options;
using Yarp.ReverseProxy.Forwarder;

namespace Valet.Server.Proxy;

/// <summary>Proxy limits, bound from the configuration section <c>Proxy</c> (TimeSpans as <c>hh:mm:ss</c>).</summary>
internal sealed record ProxyOptions
{
    public const string SectionName = "Proxy";

    /// <summary>Largest request body the proxy forwards (413 beyond it). Bodies are streamed, never held whole.</summary>
    public long MaxRequestBytes { get; init; } = 100L * 1024 * 1024;

    /// <summary>
    /// Bodies up to this size (by Content-Length) are kept in memory so the request can be replayed once after an upstream 401;
    /// larger or chunked bodies are streamed and a 401 goes back to the caller.
    /// </summary>
    public int ReplayableBodyBytes { get; init; } = 64 * 1024;

    public TimeSpan ConnectTimeout { get; init; } = TimeSpan.FromSeconds(10);

    /// <summary>Idle time allowed between reads or writes in either direction before the call is cut (504 before headers).</summary>
    public TimeSpan ActivityTimeout { get; init; } = TimeSpan.FromSeconds(100);

    /// <summary>Pooled upstream connections are recycled after this, so DNS changes are picked up (and re-checked).</summary>
    public TimeSpan PooledConnectionLifetime { get; init; } = TimeSpan.FromMinutes(2);

    /// <summary>YARP's per-call settings derived from these options, made once per options instance (not bound).</summary>
    public ForwarderRequestConfig ForwarderConfig => _forwarderConfig ??= new ForwarderRequestConfig { ActivityTimeout = ActivityTimeout };

    private ForwarderRequestConfig? _forwarderConfig;
}

internal sealed class ProxyOptionsValidator : IValidateOptions<ProxyOptions>
{
    public ValidateOptionsResult Validate(string? name, ProxyOptions options)
    {
        var problems = new List<string>();
        if (options.MaxRequestBytes <= 0)
        {
            problems.Add("Proxy:MaxRequestBytes must be positive.");
        }

        if (options.ReplayableBodyBytes is < 0 or > 16 * 1024 * 1024)
        {
            problems.Add("Proxy:ReplayableBodyBytes must be between 0 and 16 MB.");
        }

        foreach (var (key, value) in new[]
                 {
                     ("ConnectTimeout", options.ConnectTimeout), ("ActivityTimeout", options.ActivityTimeout),
                     ("PooledConnectionLifetime", options.PooledConnectionLifetime),
                 })
        {
            if (value <= TimeSpan.Zero)
            {
                problems.Add($"Proxy:{key} must be positive.");
            }
        }

        return problems.Count == 0 ? ValidateOptionsResult.Success : ValidateOptionsResult.Fail(problems);
    }
}
