using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Time.Testing;
using Valet.Core.Connections;
using Valet.Core.Domain;
using Valet.Core.Flows;
using Valet.Core.OAuth;
using Valet.Core.Providers;
using Valet.Tests.Tokens;

namespace Valet.Tests.Credentials;

/// <summary>
/// One node polling a device code at a time (docs/credentials.md, device flow): a pass that polls several flows claims
/// each from the time of its claim, for longer than a poll can take, and schedules the next poll from the answer, so a
/// slow first poll never leaves the second flow's claim already lapsed for another node to poll the same code.
/// </summary>
public sealed class DevicePollLeaseTests
{
    private readonly FakeTimeProvider _time = new(new DateTimeOffset(2026, 1, 1, 12, 0, 0, TimeSpan.Zero));

    [Fact]
    public async Task APassOfSlowPolls_ClaimsEachFlowFromItsOwnClaim_AndSchedulesFromTheAnswer()
    {
        var store = new RecordingDeviceFlows([Flow("dflow_a"), Flow("dflow_b")]);
        var device = new SlowPendingDevice(_time, TimeSpan.FromSeconds(40));
        var provider = new ProviderDefinition
        {
            Id = "acme", DisplayName = "Acme", ClientId = "platform-client",
            DeviceAuthorizationEndpoint = new Uri("https://acme.test/device"), TokenEndpoint = new Uri("https://acme.test/token"),
        };
        var engine = new DeviceFlowEngine(store, new FakeCatalog(provider), new ClientResolver(new FakeCredentialStore()), device, new FakeOAuthClient(),
            registry: null!, _time, NullLogger<DeviceFlowEngine>.Instance); // the pending path stores nothing

        var start = _time.GetUtcNow();
        Assert.Equal(2, await engine.PollDueAsync(default));

        // The second claim was made 40 s into the pass: its lease runs from then, past everything one poll can take.
        Assert.Equal(start + DeviceFlowEngine.PollLease, store.Leases["dflow_a"]);
        Assert.Equal(start + TimeSpan.FromSeconds(40) + DeviceFlowEngine.PollLease, store.Leases["dflow_b"]);
        Assert.True(DeviceFlowEngine.PollLease > OAuthHttp.Timeout * 2);

        // Each next poll counts from the provider's answer (5 s interval).
        Assert.Equal(start + TimeSpan.FromSeconds(45), store.NextPolls["dflow_a"]);
        Assert.Equal(start + TimeSpan.FromSeconds(85), store.NextPolls["dflow_b"]);
    }

    private DeviceFlow Flow(string id) => new()
    {
        Id = id, HandleHash = "h-" + id, OrgId = "default", Provider = "acme", DeviceCode = new Secret("dc-" + id), UserCode = "ABCD-EFGH",
        VerificationUri = "https://acme.test/activate", IntervalSeconds = 5, NextPollAt = _time.GetUtcNow(),
        ExpiresAt = _time.GetUtcNow().AddMinutes(15), Status = DeviceFlowStatus.Pending, CreatedAt = _time.GetUtcNow(), UpdatedAt = _time.GetUtcNow(),
    };

    private sealed class RecordingDeviceFlows(IReadOnlyList<DeviceFlow> due) : IDeviceFlowStore
    {
        public Dictionary<string, DateTimeOffset> Leases { get; } = [];

        public Dictionary<string, DateTimeOffset> NextPolls { get; } = [];

        public Task CreateAsync(DeviceFlow flow, CancellationToken cancellationToken) => Task.CompletedTask;

        public ValueTask<DeviceFlow?> FindByHandleAsync(string handleHash, CancellationToken cancellationToken) => ValueTask.FromResult<DeviceFlow?>(null);

        public Task<IReadOnlyList<DeviceFlow>> ListDueAsync(DateTimeOffset now, int limit, CancellationToken cancellationToken) => Task.FromResult(due);

        public Task<bool> TryClaimAsync(DeviceFlow flow, DateTimeOffset leaseUntil, CancellationToken cancellationToken)
        {
            Leases[flow.Id] = leaseUntil;
            return Task.FromResult(true);
        }

        public Task ScheduleAsync(string id, int intervalSeconds, DateTimeOffset nextPollAt, CancellationToken cancellationToken)
        {
            NextPolls[id] = nextPollAt;
            return Task.CompletedTask;
        }

        public Task<bool> TryStartCompletingAsync(string id, CancellationToken cancellationToken) =>
            throw new InvalidOperationException($"{id} should still be pending");

        public Task<bool> TryCancelAsync(string id, CancellationToken cancellationToken) => throw new NotSupportedException();

        public Task FinishAsync(string id, DeviceFlowStatus status, string? connectionId, string? error, CancellationToken cancellationToken) =>
            throw new InvalidOperationException($"{id} should still be pending, not {status} ({error})");
    }

    /// <summary>Every poll takes <paramref name="takes"/> of (fake) time and answers authorization_pending.</summary>
    private sealed class SlowPendingDevice(FakeTimeProvider time, TimeSpan takes) : IDeviceAuthorizationClient
    {
        public Task<(DeviceAuthorization? Authorization, TokenError? Error)> StartDeviceAuthorizationAsync(ProviderDefinition provider,
            ClientCredentials client, IReadOnlyList<string> scopes, CancellationToken cancellationToken) => throw new NotSupportedException();

        public Task<TokenResult> PollDeviceTokenAsync(ProviderDefinition provider, ClientCredentials client, string deviceCode, CancellationToken cancellationToken)
        {
            time.Advance(takes);
            return Task.FromResult(TokenResult.Failure(new TokenError(TokenErrorKind.Transient, "authorization_pending")));
        }
    }
}
