using Microsoft.Extensions.Options;

namespace Valet.Core.Flows;

/// <summary>Configuration section <c>Flows</c>.</summary>
public sealed record FlowOptions
{
    /// <summary>How long a person has to finish an authorization (SPEC: 5 minutes by default).</summary>
    public TimeSpan Lifetime { get; init; } = TimeSpan.FromMinutes(5);

    /// <summary>
    /// Upper bound on finishing a flow once its state is consumed (code exchange, identity, save). It runs on its own
    /// clock, not the browser request's, so a closed tab does not strand the flow; the flow's expiry is pushed to at
    /// least the end of this window when the state is consumed.
    /// </summary>
    public TimeSpan ExchangeTimeout { get; init; } = TimeSpan.FromSeconds(30);

    /// <summary>
    /// Pending (unfinished, unexpired) flows an org may have at once; one more answers 429 <c>too_many_pending_flows</c>.
    /// Envelopes reuse their flow, so this bounds operators and scripts that start flows nobody finishes.
    /// </summary>
    public int MaxPendingPerOrg { get; init; } = 1000;

    /// <summary>
    /// Pending dashboard sign-ins ("Sign in with a provider") an org may have at once, counted apart from
    /// <see cref="MaxPendingPerOrg"/>: anyone may start a sign-in without credentials, and a flood of them must not stop
    /// the org's connect flows and envelopes' connect links.
    /// </summary>
    public int MaxPendingSignInsPerOrg { get; init; } = 100;

    /// <summary>Origins (<c>https://app.example.com</c>) a flow may send the person back to with <c>return_url</c>.</summary>
    public IReadOnlyList<string> ReturnUrlOrigins { get; init; } = [];
}

internal sealed class FlowOptionsValidator : IValidateOptions<FlowOptions>
{
    public ValidateOptionsResult Validate(string? name, FlowOptions options)
    {
        var problems = new List<string>();
        if (options.Lifetime < TimeSpan.FromSeconds(2) || options.Lifetime > TimeSpan.FromHours(1))
        {
            problems.Add($"Flows:Lifetime must be between 2 seconds and 1 hour (was {options.Lifetime}).");
        }

        if (options.ExchangeTimeout < TimeSpan.FromSeconds(1) || options.ExchangeTimeout > TimeSpan.FromMinutes(5))
        {
            problems.Add($"Flows:ExchangeTimeout must be between 1 second and 5 minutes (was {options.ExchangeTimeout}).");
        }

        if (options.MaxPendingPerOrg < 1)
        {
            problems.Add($"Flows:MaxPendingPerOrg must be at least 1 (was {options.MaxPendingPerOrg}).");
        }

        if (options.MaxPendingSignInsPerOrg < 1)
        {
            problems.Add($"Flows:MaxPendingSignInsPerOrg must be at least 1 (was {options.MaxPendingSignInsPerOrg}).");
        }

        foreach (var origin in options.ReturnUrlOrigins)
        {
            if (!Uri.TryCreate(origin, UriKind.Absolute, out var uri) || uri.AbsolutePath != "/" || !string.IsNullOrEmpty(uri.Query) ||
                (uri.Scheme != Uri.UriSchemeHttps && uri.Scheme != Uri.UriSchemeHttp))
            {
                problems.Add($"Flows:ReturnUrlOrigins entry '{origin}' must be an origin such as https://app.example.com.");
            }
        }

        return problems.Count == 0 ? ValidateOptionsResult.Success : ValidateOptionsResult.Fail(problems);
    }
}
