using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Time.Testing;
using Valet.Core.Domain;
using Valet.Core.Providers;
using Valet.Core.Tokens;

namespace Valet.Tests.Tokens;

/// <summary>One in-memory "cluster": a store, a lock table, a provider, and as many coordinators ("nodes") as a test wants.</summary>
internal sealed class RefreshRig : IDisposable
{
    public const string Id = "conn_1";

    public FakeTimeProvider Time { get; } = new(new DateTimeOffset(2026, 1, 1, 12, 0, 0, TimeSpan.Zero));
    public InMemoryConnectionStore Store { get; } = new();
    public FakeConnectionLocks Locks { get; }
    public FakeOAuthClient OAuth { get; } = new();
    public FakeAuditStore Audit { get; } = new();
    public FakeCredentialStore Credentials { get; } = new();
    public FakeOrgStore Orgs { get; } = new();
    public ValetMetrics Metrics { get; }
    public RefreshOptions Options { get; set; } = new();
    public ILoggerFactory LoggerFactory { get; set; } = NullLoggerFactory.Instance;

    public FakeCatalog Catalog { get; set; } = new(new ProviderDefinition
    {
        Id = "acme",
        DisplayName = "Acme",
        TokenEndpoint = new Uri("https://acme.test/token"),
        ClientId = "platform-client",
        ClientSecret = new Secret("platform-secret"),
    });

    public RefreshRig(System.Diagnostics.Metrics.IMeterFactory? meterFactory = null)
    {
        Locks = new FakeConnectionLocks(Store);
        Metrics = new ValetMetrics(meterFactory);
    }

    public DateTimeOffset Now => Time.GetUtcNow();

    public RefreshCoordinator NewCoordinator() =>
        new(Locks, new Valet.Core.Connections.ClientResolver(Credentials), Catalog, OAuth, Audit, Orgs, new StaticOptionsMonitor<RefreshOptions>(Options), Time,
            Metrics, LoggerFactory.CreateLogger<RefreshCoordinator>());

    public TokenService NewService(RefreshCoordinator? coordinator = null) =>
        new(Store, coordinator ?? NewCoordinator(), new StaticOptionsMonitor<RefreshOptions>(Options), Time);

    public ProactiveRefresher NewRefresher(RefreshCoordinator? coordinator = null) =>
        new(Store, coordinator ?? NewCoordinator(), new StaticOptionsMonitor<RefreshOptions>(Options), Time, Metrics,
            LoggerFactory.CreateLogger<ProactiveRefresher>());

    /// <summary>An active connection: access token <c>at-0</c>, refresh token <c>rt-0</c>, expiring in <paramref name="expiresIn"/> (default 1 h).</summary>
    public Connection Add(TimeSpan? expiresIn = null, string id = Id, Func<Connection, Connection>? tweak = null)
    {
        var connection = new Connection
        {
            Id = id,
            OrgId = "default",
            Provider = "acme",
            AccountId = "acct-" + id,
            AccessToken = new Secret("at-0"),
            RefreshToken = new Secret("rt-0"),
            ExpiresAt = Now + (expiresIn ?? TimeSpan.FromHours(1)),
            Scopes = ["read"],
            Version = 1,
            CreatedAt = Now,
            UpdatedAt = Now,
        };
        return Store.Put(tweak is null ? connection : tweak(connection));
    }

    public Connection Stored(string id = Id) => Store.Get(id);

    /// <summary>Polls a condition another thread will make true (bounded; not a timing assumption).</summary>
    public static async Task Eventually(Func<bool> condition, string what)
    {
        var deadline = DateTime.UtcNow.AddSeconds(10);
        while (!condition())
        {
            if (DateTime.UtcNow > deadline)
            {
                throw new TimeoutException("Never happened: " + what);
            }

            await Task.Delay(1);
        }
    }

    public void Dispose() => Metrics.Dispose();
}

internal static class OutcomeAssert
{
    public static TokenOutcome.Success Success(TokenOutcome outcome) =>
        Assert.IsType<TokenOutcome.Success>(outcome);
}
