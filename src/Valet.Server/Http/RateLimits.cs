using System.Globalization;
using System.Net;
using System.Threading.RateLimiting;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Options;
using Valet.Server.Auth;
using Valet.Server.Dashboard;
using Valet.Server.Flows;

namespace Valet.Server.Http;

/// <summary>
/// The <c>RateLimits</c> section (<c>VALET_RATELIMITS__…</c>). A rate of 0 turns that limit off. Node-local: every node
/// counts on its own, so N nodes behind a balancer allow up to N times these figures.
/// </summary>
internal sealed record RateLimitOptions
{
    public const string SectionName = "RateLimits";

    /// <summary>Failed authentications (bad bearer, failed sign-in) refilled per minute, per client address.</summary>
    public int FailuresPerMinute { get; init; } = 10;

    /// <summary>Failures an address may make in a row before it is refused.</summary>
    public int FailureBurst { get; init; } = 20;

    /// <summary>
    /// Provider sign-ins ("Sign in with …", <c>POST /signin/provider</c>) an address may start per minute: each is a pending
    /// flow, and starting one needs no credentials. IPv6 addresses count by their /64.
    /// </summary>
    public int SignInStartsPerMinute { get; init; } = 10;

    /// <summary>Provider sign-ins an address may start in a row before it must wait.</summary>
    public int SignInStartBurst { get; init; } = 20;

    /// <summary>Requests per second per API key on the agent routes (tokens, bootstrap, proxy, targets).</summary>
    public int AgentRequestsPerSecond { get; init; } = 100;

    /// <summary>Requests an API key may make at once above its steady rate.</summary>
    public int AgentBurst { get; init; } = 200;
}

internal sealed class RateLimitOptionsValidator : IValidateOptions<RateLimitOptions>
{
    public ValidateOptionsResult Validate(string? name, RateLimitOptions options)
    {
        var errors = new List<string>();
        Check(errors, options.FailuresPerMinute, options.FailureBurst, "FailuresPerMinute", "FailureBurst");
        Check(errors, options.AgentRequestsPerSecond, options.AgentBurst, "AgentRequestsPerSecond", "AgentBurst");
        Check(errors, options.SignInStartsPerMinute, options.SignInStartBurst, "SignInStartsPerMinute", "SignInStartBurst");
        return errors.Count == 0 ? ValidateOptionsResult.Success : ValidateOptionsResult.Fail(errors);
    }

    private static void Check(List<string> errors, int rate, int burst, string rateName, string burstName)
    {
        if (rate < 0)
        {
            errors.Add($"{RateLimitOptions.SectionName}:{rateName} must be 0 (off) or more.");
        }

        if (rate > 0 && burst < 1)
        {
            errors.Add($"{RateLimitOptions.SectionName}:{burstName} must be at least 1 when {rateName} is set.");
        }
    }
}

/// <summary>
/// Two token buckets (System.Threading.RateLimiting):
/// <list type="bullet">
/// <item><b>Failures per client address.</b> Only a failure takes a token: a request that presented a bearer token and
/// answered 401 unauthenticated, or a <c>POST /signin</c> that answered 401. Once an address has no token left, every
/// request of it that presents credentials (an <c>Authorization</c> header, or a sign-in post) gets 429 before it is
/// authenticated — a right token too, or the limiter would tell a guesser which guess was right; only a bearer this node
/// has seen succeed, checked in memory (<see cref="BearerAuthenticator.KnownWithoutLookup"/>), still gets through.</item>
/// <item><b>Requests per API key</b> on whatever an API key reaches (the agent routes), keyed by the key id the bearer
/// check already resolved. No allocation per call beyond what the limiter does (its success lease is a singleton).</item>
/// </list>
/// A refusal is 429 <c>rate_limited</c> problem+json with <c>Retry-After</c>.
/// </summary>
internal sealed class ValetRateLimiter : IDisposable
{
    private readonly PartitionedRateLimiter<IPAddress>? _failures;
    private readonly PartitionedRateLimiter<string>? _agents;
    private readonly PartitionedRateLimiter<IPAddress>? _signInStarts;
    private readonly long _failureMemoryMs;
    private readonly TimeSpan _failurePeriod;
    private long _lastFailureAt = long.MinValue / 2;

    public ValetRateLimiter(IOptions<RateLimitOptions> options)
    {
        var settings = options.Value;
        if (settings.FailuresPerMinute > 0)
        {
            var failures = PerMinute(settings.FailuresPerMinute, settings.FailureBurst);
            _failures = PerAddress(failures);

            _failurePeriod = failures.ReplenishmentPeriod; // the longest wait for the next whole token

            // After this long without any failure every bucket is full again, and the lockout check can be skipped.
            _failureMemoryMs = (long)Math.Ceiling(failures.ReplenishmentPeriod.TotalMilliseconds * settings.FailureBurst) + 1000;
        }

        if (settings.SignInStartsPerMinute > 0)
        {
            _signInStarts = PerAddress(PerMinute(settings.SignInStartsPerMinute, settings.SignInStartBurst));
        }

        if (settings.AgentRequestsPerSecond > 0)
        {
            var agents = new TokenBucketRateLimiterOptions
            {
                TokenLimit = settings.AgentBurst,
                TokensPerPeriod = settings.AgentRequestsPerSecond,
                ReplenishmentPeriod = TimeSpan.FromSeconds(1),
                QueueLimit = 0,
                AutoReplenishment = false,
            };
            Func<string, RateLimiter> create = _ => new TokenBucketRateLimiter(agents);
            _agents = PartitionedRateLimiter.Create<string, string>(keyId => RateLimitPartition.Get(keyId, create));
        }
    }

    /// <summary>One token every 60/<paramref name="perMinute"/> seconds, so an address regains its budget steadily, not all at once.</summary>
    private static TokenBucketRateLimiterOptions PerMinute(int perMinute, int burst) => new()
    {
        TokenLimit = burst,
        TokensPerPeriod = 1,
        ReplenishmentPeriod = TimeSpan.FromMinutes(1) / perMinute,
        QueueLimit = 0,
        AutoReplenishment = false, // the partitioned limiter's own timer replenishes every partition
    };

    private static PartitionedRateLimiter<IPAddress> PerAddress(TokenBucketRateLimiterOptions options)
    {
        Func<IPAddress, RateLimiter> create = _ => new TokenBucketRateLimiter(options);
        return PartitionedRateLimiter.Create<IPAddress, IPAddress>(address => RateLimitPartition.Get(address, create));
    }

    /// <summary>For a request that presents a bearer: null when its address may try; else how long it must wait.</summary>
    public TimeSpan? LockedOut(HttpRequest request) =>
        _failures is not null && request.Headers.ContainsKey(Microsoft.Net.Http.Headers.HeaderNames.Authorization) ? LockedOut(RateLimits.ClientAddress(request.HttpContext)) : null;

    /// <summary>Null when <paramref name="address"/> may try; else how long it must wait.</summary>
    public TimeSpan? LockedOut(IPAddress address)
    {
        // Fast path for the usual case (no failure anywhere lately): no limiter lookup at all.
        if (_failures is null || Environment.TickCount64 - Volatile.Read(ref _lastFailureAt) > _failureMemoryMs)
        {
            return null;
        }

        // Not AttemptAcquire(0): the bucket refills continuously, so a fraction of a token already counts as "available" to
        // it, and an address would never stay locked. The statistics round down to whole tokens.
        // Counted per IPv6 /64, as sign-in starts are: one host usually holds a whole /64, and rotating addresses inside it
        // must not buy a fresh bucket per guess.
        return _failures.GetStatistics(Slash64(address))?.CurrentAvailablePermits > 0 ? null : _failurePeriod;
    }

    public void Failed(IPAddress address)
    {
        if (_failures is null)
        {
            return;
        }

        Volatile.Write(ref _lastFailureAt, Environment.TickCount64);
        _failures.AttemptAcquire(Slash64(address), 1).Dispose();
    }

    /// <summary>Null when <paramref name="address"/> may start a provider sign-in now (and it is counted); else how long to wait.</summary>
    public TimeSpan? SignInStartLimited(IPAddress address)
    {
        if (_signInStarts is null)
        {
            return null;
        }

        using var lease = _signInStarts.AttemptAcquire(Slash64(address), 1);
        return lease.IsAcquired ? null : RetryAfter(lease);
    }

    /// <summary>An IPv6 address's /64 (what one host or one customer usually holds whole); an IPv4 address as it is.</summary>
    private static IPAddress Slash64(IPAddress address)
    {
        if (address.AddressFamily != System.Net.Sockets.AddressFamily.InterNetworkV6)
        {
            return address;
        }

        var bytes = address.GetAddressBytes();
        bytes.AsSpan(8).Clear();
        return new IPAddress(bytes);
    }

    /// <summary>Null when the key may go on; else how long it must wait.</summary>
    public TimeSpan? AgentLimited(string keyId)
    {
        if (_agents is null)
        {
            return null;
        }

        using var lease = _agents.AttemptAcquire(keyId, 1);
        return lease.IsAcquired ? null : RetryAfter(lease);
    }

    private static TimeSpan RetryAfter(RateLimitLease lease) =>
        lease.TryGetMetadata(MetadataName.RetryAfter, out var wait) && wait > TimeSpan.Zero ? wait : TimeSpan.FromSeconds(1);

    public void Dispose()
    {
        _failures?.Dispose();
        _agents?.Dispose();
        _signInStarts?.Dispose();
    }
}

internal static class RateLimits
{
    /// <summary>Options (validated at start) and the limiter. Safe to call twice.</summary>
    public static IServiceCollection AddValetRateLimits(this IServiceCollection services)
    {
        services.AddOptions<RateLimitOptions>().BindConfiguration(RateLimitOptions.SectionName).ValidateOnStart();
        services.TryAddEnumerable(ServiceDescriptor.Singleton<IValidateOptions<RateLimitOptions>, RateLimitOptionsValidator>());
        services.TryAddSingleton<ValetRateLimiter>();
        return services;
    }

    /// <summary>
    /// The failure limit, for every route but the agent lane's (which applies the same rule itself, AgentLane): goes after
    /// the lane, before authentication, and
    /// after forwarded-header handling, so the address is the client's.
    /// </summary>
    public static IApplicationBuilder UseValetRateLimits(this IApplicationBuilder app)
    {
        var limiter = app.ApplicationServices.GetRequiredService<ValetRateLimiter>();
        var bearer = app.ApplicationServices.GetRequiredService<BearerAuthenticator>();
        return app.Use(async (context, next) =>
        {
            var request = context.Request;
            var signIn = HttpMethods.IsPost(request.Method) && request.Path.Equals("/signin", StringComparison.OrdinalIgnoreCase);
            var signInLink = HttpMethods.IsGet(request.Method) && request.Path.StartsWithSegments("/signin/link", StringComparison.OrdinalIgnoreCase);

            // "Sign in with a provider" needs no credentials to start, and each start is a pending flow: an address (an IPv6
            // /64) may start only so many (a bucket of their own, so an office's sign-ins lock nobody out of anything else).
            if (HttpMethods.IsPost(request.Method) && request.Path.Equals("/signin/provider", StringComparison.OrdinalIgnoreCase))
            {
                if (limiter.SignInStartLimited(ClientAddress(context)) is { } startWait)
                {
                    const string TooMany = "Too many sign-ins started from this address.";
                    await (PlainPage.WantsHtml(request) ? RefusePageAsync(context, startWait, TooMany) : RefuseAsync(context, startWait, TooMany));
                    return;
                }

                await next(context);
                return;
            }

            if (!signIn && !signInLink && !request.Headers.ContainsKey(Microsoft.Net.Http.Headers.HeaderNames.Authorization))
            {
                await next(context);
                return;
            }

            var address = ClientAddress(context);
            if (limiter.LockedOut(address) is { } wait && (signIn || signInLink || !bearer.KnownWithoutLookup(request)))
            {
                // A person at the sign-in form (or following a link) is told on a page; every other caller gets problem+json.
                await ((signIn || signInLink) && PlainPage.WantsHtml(request)
                    ? RefusePageAsync(context, wait)
                    : RefuseAsync(context, wait, LockedOutDetail));
                return;
            }

            await next(context);

            // A bearer that was presented and not accepted, or a sign-in that failed. An upstream 401 through the proxy
            // comes with an authenticated caller and is not a failure of Valet's authentication.
            // A sign-in link that is unknown, used or expired (410) counts too.
            if ((context.Response.StatusCode == StatusCodes.Status401Unauthorized && (signIn || context.User.Identity?.IsAuthenticated != true)) ||
                (signInLink && context.Response.StatusCode == StatusCodes.Status410Gone))
            {
                limiter.Failed(address);
            }
        });
    }

    /// <summary>The per-key limit for routed requests: after authentication (the agent lane checks it itself).</summary>
    public static IApplicationBuilder UseAgentRateLimits(this IApplicationBuilder app)
    {
        var limiter = app.ApplicationServices.GetRequiredService<ValetRateLimiter>();
        return app.Use((context, next) =>
            context.User is ApiKeyPrincipal agent && limiter.AgentLimited(agent.Key.Id) is { } wait
                ? RefuseAsync(context, wait, "This API key is over its request rate.")
                : next(context));
    }

    /// <summary>429 <c>rate_limited</c> with <c>Retry-After</c> in whole seconds, rounded up.</summary>
    public static Task RefuseAsync(HttpContext context, TimeSpan wait, string detail)
    {
        var seconds = Math.Max(1, (long)Math.Ceiling(wait.TotalSeconds));
        context.Response.Headers.RetryAfter = seconds.ToString(CultureInfo.InvariantCulture);
        return Problems.Create(StatusCodes.Status429TooManyRequests, "rate_limited", "Too many requests",
            $"{detail} Try again in {seconds} s.").ExecuteAsync(context);
    }

    private static async Task RefusePageAsync(HttpContext context, TimeSpan wait, string what = "Too many failed sign-ins from this address.")
    {
        var seconds = Math.Max(1, (long)Math.Ceiling(wait.TotalSeconds));
        context.Response.StatusCode = StatusCodes.Status429TooManyRequests;
        context.Response.Headers.RetryAfter = seconds.ToString(CultureInfo.InvariantCulture);
        PlainPage.ApplySecurityHeaders(context.Response);
        await CallbackPage.WriteHtmlAsync(context.Response, "Too many attempts",
            $"{what} Try again in {seconds} s.", false, "rate_limited", "<p><a href=\"/signin\">Back to sign-in</a></p>");
    }

    public const string LockedOutDetail = "Too many failed authentications from this address.";

    internal static IPAddress ClientAddress(HttpContext context) => context.Connection.RemoteIpAddress switch
    {
        null => IPAddress.None,
        { IsIPv4MappedToIPv6: true } mapped => mapped.MapToIPv4(),
        var address => address,
    };
}
