using Microsoft.Extensions.Diagnostics.Metrics.Testing;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Testing;
using Microsoft.Extensions.DependencyInjection;
using System.Diagnostics.Metrics;
using Valet.Core.Domain;
using Valet.Core.OAuth;
using Valet.Core.Tokens;

namespace Valet.Tests.Tokens;

public sealed class ProactiveRefresherTests
{
    [Fact]
    public async Task RunOnce_RefreshesDueConnections_AndSkipsTheOthers()
    {
        using var rig = new RefreshRig();
        rig.Add(TimeSpan.FromMinutes(4), id: "conn_due", tweak: c => c with { NextRefreshAt = rig.Now.AddMinutes(-1) });
        rig.Add(TimeSpan.FromHours(1), id: "conn_later", tweak: c => c with { NextRefreshAt = rig.Now.AddMinutes(55) });
        rig.Add(TimeSpan.FromMinutes(4), id: "conn_dead", tweak: c => c with
        {
            NextRefreshAt = rig.Now.AddMinutes(-1), Status = ConnectionStatus.ReauthRequired, StatusReason = "invalid_grant",
        });

        var claimed = await rig.NewRefresher().RunOnceAsync(default);

        Assert.Equal(1, claimed);
        Assert.Equal(1, rig.OAuth.Calls);
        Assert.Equal(new Secret("at-1"), rig.Stored("conn_due").AccessToken);
        Assert.Equal(rig.Now.AddHours(1) - rig.Options.ProactiveLead, rig.Stored("conn_due").NextRefreshAt);
        Assert.Equal(new Secret("at-0"), rig.Stored("conn_later").AccessToken);
        Assert.Equal(new Secret("at-0"), rig.Stored("conn_dead").AccessToken);
        Assert.Equal(0, await rig.NewRefresher().RunOnceAsync(default));
    }

    [Fact]
    public async Task RunOnce_RespectsMaxConcurrency_AndBatchSize()
    {
        using var rig = new RefreshRig { Options = new RefreshOptions { MaxConcurrency = 3, BatchSize = 10 } };
        for (var i = 0; i < 12; i++)
        {
            rig.Add(TimeSpan.FromMinutes(3), id: $"conn_{i:00}", tweak: c => c with { NextRefreshAt = rig.Now.AddSeconds(-i) });
        }

        rig.OAuth.Gate = FakeOAuthClient.NewSignal();
        var pass = rig.NewRefresher().RunOnceAsync(default);
        await RefreshRig.Eventually(() => rig.OAuth.Current == 3, "three refreshes in flight");
        rig.OAuth.Gate.SetResult();

        Assert.Equal(10, await pass);
        Assert.Equal(10, rig.OAuth.Calls);
        Assert.Equal(3, rig.OAuth.MaxConcurrent);
    }

    [Fact]
    public async Task RunOnce_ReleasesAConnectionThatIsNotDueAfterAll()
    {
        using var rig = new RefreshRig();
        rig.Add(tweak: c => c with { ExpiresAt = null, NextRefreshAt = rig.Now.AddMinutes(-1) });

        Assert.Equal(1, await rig.NewRefresher().RunOnceAsync(default));

        Assert.Equal(0, rig.OAuth.Calls);
        Assert.Null(rig.Stored().NextRefreshAt); // not re-claimed every lease
    }

    [Fact]
    public async Task RunOnce_SurvivesAFailingRefresh_AndStillRefreshesTheRest()
    {
        using var rig = new RefreshRig();
        rig.Add(TimeSpan.FromMinutes(3), id: "conn_a", tweak: c => c with { NextRefreshAt = rig.Now, RefreshToken = new Secret("rt-bad") });
        rig.Add(TimeSpan.FromMinutes(3), id: "conn_b", tweak: c => c with { NextRefreshAt = rig.Now });
        rig.OAuth.Handler = (n, refreshToken, _) => refreshToken == "rt-bad"
            ? throw new InvalidOperationException("bug")
            : Task.FromResult(FakeOAuthClient.Ok(n));

        Assert.Equal(2, await rig.NewRefresher().RunOnceAsync(default));

        Assert.Equal(new Secret("at-0"), rig.Stored("conn_a").AccessToken);
        Assert.NotEqual(new Secret("at-0"), rig.Stored("conn_b").AccessToken);
    }

    [Fact]
    public async Task BackgroundLoop_KeepsRunning_AfterAPassThrows()
    {
        using var rig = new RefreshRig { Options = new RefreshOptions { Jitter = TimeSpan.Zero } };
        rig.Store.ClaimFailures.Enqueue(new InvalidOperationException("database down"));
        rig.Add(TimeSpan.FromMinutes(3), tweak: c => c with { NextRefreshAt = rig.Now });
        using var refresher = rig.NewRefresher();

        await refresher.StartAsync(default);
        await RefreshRig.Eventually(() => Volatile.Read(ref rig.Store.Claims) == 1, "first pass");
        while (Volatile.Read(ref rig.Store.Claims) < 2)
        {
            // The delay is on the fake clock: move it until the loop's timer fires.
            rig.Time.Advance(rig.Options.ProactiveInterval);
            await Task.Delay(1);
        }

        await RefreshRig.Eventually(() => rig.OAuth.Calls == 1, "second pass refreshed");
        await refresher.StopAsync(default);
        Assert.Equal(new Secret("at-1"), rig.Stored().AccessToken);
    }

    [Fact]
    public async Task APassThatCannotReachTheDatabase_LogsOneWarningLine_NotAnErrorWithItsStackTrace()
    {
        // A database restart or failover: every pass fails while it lasts, so each must be one line, as the device poller's.
        var collector = new FakeLogCollector();
        using var loggerFactory = LoggerFactory.Create(b => b.AddProvider(new FakeLoggerProvider(collector)));
        using var rig = new RefreshRig { LoggerFactory = loggerFactory, Options = new RefreshOptions { Jitter = TimeSpan.Zero } };
        rig.Store.ClaimFailures.Enqueue(new TransientDbException("57P01"));
        rig.Store.ClaimFailures.Enqueue(new InvalidOperationException("a bug"));
        using var refresher = rig.NewRefresher();

        await refresher.StartAsync(default);
        while (Volatile.Read(ref rig.Store.Claims) < 2)
        {
            rig.Time.Advance(rig.Options.ProactiveInterval);
            await Task.Delay(1);
        }

        await refresher.StopAsync(default);
        var logs = collector.GetSnapshot();
        var outage = Assert.Single(logs, l => l.Id.Id == 3117);
        Assert.Equal((LogLevel.Warning, null), (outage.Level, outage.Exception));
        Assert.Contains("TransientDbException 57P01", outage.Message, StringComparison.Ordinal);
        var bug = Assert.Single(logs, l => l.Id.Id == 3110); // anything else is still an error, with its exception
        Assert.Equal("a bug", bug.Exception?.Message);
    }

    private sealed class TransientDbException(string sqlState) : System.Data.Common.DbException("the database system is shutting down")
    {
        public override bool IsTransient => true;

        public override string SqlState => sqlState;
    }

    [Fact]
    public async Task Metrics_CountProviderCallsFailuresByClass_AndLag()
    {
        using var services = new ServiceCollection().AddMetrics().BuildServiceProvider();
        var meterFactory = services.GetRequiredService<IMeterFactory>();
        using var calls = new MetricCollector<long>(meterFactory, ValetMetrics.MeterName, "valet.refresh.provider_calls");
        using var failures = new MetricCollector<long>(meterFactory, ValetMetrics.MeterName, "valet.refresh.failures");
        using var attempts = new MetricCollector<long>(meterFactory, ValetMetrics.MeterName, "valet.refresh.attempts");
        using var lag = new MetricCollector<double>(meterFactory, ValetMetrics.MeterName, "valet.refresh.lag");
        using var rig = new RefreshRig(meterFactory);
        rig.Add(TimeSpan.FromMinutes(3), id: "conn_a", tweak: c => c with { NextRefreshAt = rig.Now.AddSeconds(-7) });
        rig.Add(TimeSpan.FromMinutes(3), id: "conn_b", tweak: c => c with { NextRefreshAt = rig.Now.AddSeconds(-7), RefreshToken = new Secret("rt-429") });
        rig.OAuth.Handler = (n, refreshToken, _) => Task.FromResult(refreshToken == "rt-429"
            ? FakeOAuthClient.Fail(TokenErrorKind.RateLimited, TimeSpan.FromMinutes(1))
            : FakeOAuthClient.Ok(n));

        await rig.NewRefresher().RunOnceAsync(default);

        Assert.Equal(2, calls.GetMeasurementSnapshot().EvaluateAsCounter());
        Assert.Equal(2, attempts.GetMeasurementSnapshot().EvaluateAsCounter());
        var failure = Assert.Single(failures.GetMeasurementSnapshot());
        Assert.Equal("rate_limited", failure.Tags["class"]);
        Assert.All(lag.GetMeasurementSnapshot(), m => Assert.Equal(7, m.Value));
        Assert.Equal(2, lag.GetMeasurementSnapshot().Count);
    }
}
