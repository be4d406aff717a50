using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Testing;
using Microsoft.Extensions.Options;
using Valet.Core.Domain;
using Valet.Core.OAuth;
using Valet.Core.Tokens;

namespace Valet.Tests.Tokens;

public sealed class RefreshPureTests
{
    private static readonly TimeSpan Base = TimeSpan.FromSeconds(30);
    private static readonly TimeSpan Max = TimeSpan.FromMinutes(15);
    private static readonly TimeSpan Jitter = TimeSpan.FromSeconds(30);

    [Theory]
    [InlineData(-5, 30)]
    [InlineData(0, 30)]
    [InlineData(1, 30)]
    [InlineData(2, 60)]
    [InlineData(3, 120)]
    [InlineData(5, 480)]
    [InlineData(6, 900)]
    [InlineData(64, 900)]
    [InlineData(int.MaxValue, 900)]
    public void Backoff_DoublesFromBase_IsCapped_AndJitterOnlyAdds(int failures, int expectedSeconds)
    {
        var low = Backoff.Compute(failures, Base, Max, Jitter, 0);
        var high = Backoff.Compute(failures, Base, Max, Jitter, 0.999999);

        Assert.Equal(TimeSpan.FromSeconds(expectedSeconds), low);
        Assert.InRange(high, low, low + Jitter);
        Assert.True(high > low);
    }

    [Fact]
    public void Backoff_StaysWithinBounds_ForAnyInput()
    {
        var random = new Random(42);
        for (var i = 0; i < 10_000; i++)
        {
            var value = Backoff.Compute(random.Next(int.MinValue, int.MaxValue), Base, Max, Jitter, random.NextDouble() * 3 - 1);
            Assert.InRange(value, Base, Max + Jitter);
        }
    }

    [Fact]
    public void Backoff_RetryAfter_WinsOnlyWhenLonger()
    {
        Assert.Equal(TimeSpan.FromHours(1), Backoff.WithRetryAfter(Base, TimeSpan.FromHours(1)));
        Assert.Equal(Base, Backoff.WithRetryAfter(Base, TimeSpan.FromSeconds(1)));
        Assert.Equal(Base, Backoff.WithRetryAfter(Base, null));
    }

    [Fact]
    public void NextRefresh_IsLeadBeforeExpiry_ButNeverBeforeHalfTheLifetime()
    {
        var now = DateTimeOffset.UnixEpoch;
        var lead = TimeSpan.FromMinutes(5);

        Assert.Equal(now.AddMinutes(55), RefreshPolicy.NextRefresh(now.AddHours(1), now, lead));
        Assert.Equal(now.AddSeconds(30), RefreshPolicy.NextRefresh(now.AddSeconds(60), now, lead));
        Assert.Equal(now.AddSeconds(-5), RefreshPolicy.NextRefresh(now.AddSeconds(-5), now, lead));
        Assert.Null(RefreshPolicy.NextRefresh(null, now, lead));
    }

    [Theory]
    [InlineData(null, "repo", "")]
    [InlineData("repo user", "repo", "")]
    [InlineData("repo user", "repo user", "")]
    [InlineData("repo", "repo user", "user")]
    [InlineData("Repo", "repo", "repo")]
    [InlineData("", "a b a", "a b")]
    [InlineData("read:org", "read:org read:user", "read:user")]
    [InlineData("a", "", "")]
    public void ScopeCheck_ReportsExactlyTheMissingScopes(string? granted, string required, string expected)
    {
        var grantedList = granted?.Split(' ', StringSplitOptions.RemoveEmptyEntries);

        var missing = ScopeCheck.Missing(grantedList, required.Split(' ', StringSplitOptions.RemoveEmptyEntries));

        Assert.Equal(expected.Split(' ', StringSplitOptions.RemoveEmptyEntries), missing);
    }

    [Fact]
    public void Validator_AcceptsDefaults_AndReportsEveryProblemAtOnce()
    {
        var validator = new RefreshOptionsValidator();
        Assert.True(validator.Validate(null, new RefreshOptions()).Succeeded);

        var result = validator.Validate(null, new RefreshOptions
        {
            ProviderTimeout = TimeSpan.Zero,
            BatchSize = 0,
            MaxConcurrency = 0,
            BackoffBase = TimeSpan.FromMinutes(20),
            ProactiveLead = TimeSpan.FromSeconds(10),
            Jitter = TimeSpan.FromSeconds(-1),
        });

        Assert.True(result.Failed);
        var failures = result.Failures!.ToList();
        Assert.Equal(6, failures.Count);
        Assert.Contains(failures, f => f.Contains("ProviderTimeout", StringComparison.Ordinal));
        Assert.Contains(failures, f => f.Contains("BatchSize", StringComparison.Ordinal));
        Assert.Contains(failures, f => f.Contains("MaxConcurrency", StringComparison.Ordinal));
        Assert.Contains(failures, f => f.Contains("BackoffMax", StringComparison.Ordinal));
        Assert.Contains(failures, f => f.Contains("ProactiveLead", StringComparison.Ordinal));
        Assert.Contains(failures, f => f.Contains("Jitter", StringComparison.Ordinal));
    }

    [Fact]
    public void AddValetTokens_BindsTheRefreshSection_ValidatesIt_AndIsSafeToCallTwice()
    {
        var configuration = new ConfigurationBuilder().AddInMemoryCollection(new Dictionary<string, string?>
        {
            ["Refresh:Skew"] = "00:01:00",
            ["Refresh:BatchSize"] = "0",
            ["Refresh:MaxConcurrency"] = "0",
        }).Build();
        var services = new ServiceCollection().AddSingleton<IConfiguration>(configuration);

        services.AddValetTokens().AddValetTokens();

        Assert.Single(services, d => d.ServiceType == typeof(IHostedService) && d.ImplementationType == typeof(ProactiveRefresher));
        Assert.Single(services, d => d.ServiceType == typeof(IValidateOptions<RefreshOptions>));
        Assert.Single(services, d => d.ServiceType == typeof(ITokenService));
        using var provider = services.BuildServiceProvider();
        var error = Assert.Throws<OptionsValidationException>(() => provider.GetRequiredService<IOptions<RefreshOptions>>().Value);
        Assert.Equal(2, error.Failures.Count());
    }

    [Fact]
    public async Task Logs_NeverContainTokensOrSecrets()
    {
        var collector = new FakeLogCollector();
        using var loggerFactory = LoggerFactory.Create(b => b.SetMinimumLevel(LogLevel.Trace).AddProvider(new FakeLoggerProvider(collector)));
        using var rig = new RefreshRig { LoggerFactory = loggerFactory };
        rig.Add(TimeSpan.FromSeconds(-1), id: "conn_ok");
        rig.Add(TimeSpan.FromSeconds(-1), id: "conn_dead", tweak: c => c with { RefreshToken = new Secret("rt-dead") });
        rig.Add(TimeSpan.FromSeconds(-1), id: "conn_down", tweak: c => c with { RefreshToken = new Secret("rt-down") });
        rig.OAuth.Handler = (n, refreshToken, _) => Task.FromResult(refreshToken switch
        {
            "rt-dead" => FakeOAuthClient.Fail(TokenErrorKind.InvalidGrant),
            "rt-down" => FakeOAuthClient.Fail(TokenErrorKind.Transient),
            _ => FakeOAuthClient.Ok(n, refreshToken: "rt-rotated"),
        });
        var service = rig.NewService();

        foreach (var id in new[] { "conn_ok", "conn_dead", "conn_down" })
        {
            await service.GetAccessTokenAsync(id, false, default);
        }

        var logs = collector.GetSnapshot();
        Assert.True(logs.Count >= 3);
        var text = string.Join("\n", logs.Select(l => l.Message + " " + string.Join(",", l.StructuredState?.Select(kv => kv.Value) ?? [])));
        foreach (var secret in new[] { "at-0", "at-1", "rt-0", "rt-rotated", "rt-dead", "rt-down", "platform-secret" })
        {
            Assert.DoesNotContain(secret, text, StringComparison.Ordinal);
        }
    }
}
