using Valet.Core.Domain;
using Valet.Core.Flows;
using Valet.Core.Stores;

namespace Valet.Tests.Storage;

public abstract partial class StoreSuite
{
    private static readonly DateTimeOffset T0 = new(2030, 1, 1, 12, 0, 0, TimeSpan.Zero);
    private static readonly TimeSpan Exchange = TimeSpan.FromSeconds(30);

    [Fact]
    public async Task Flows_CreateAndFind_RoundTrip()
    {
        var node = await StartWithOrgAsync();
        var flow = NewFlow(T0, TimeSpan.FromMinutes(5)) with
        {
            ReturnUrl = "https://app.example/done", Transport = CallbackTransport.Loopback,
            Parameters = new Dictionary<string, string> { ["subdomain"] = "acme" },
        };

        await node.Flows.CreateAsync(flow, None);

        var found = await node.Flows.FindAsync(flow.Id, T0.AddMinutes(1), None);
        Assert.Equal(FlowStatus.Pending, found!.Status);
        Assert.Equal(flow.CodeVerifier, found.CodeVerifier);
        Assert.Equal((flow.StateHash, flow.RedirectUri, flow.ReturnUrl, CallbackTransport.Loopback), (found.StateHash, found.RedirectUri, found.ReturnUrl, found.Transport));
        Assert.Equal(flow.Scopes, found.Scopes);
        Assert.Equal(flow.ExpiresAt, found.ExpiresAt);
        Assert.Equal(flow.Parameters, found.Parameters);
        var byState = await node.Flows.FindByStateAsync(flow.StateHash, T0.AddMinutes(1), None);
        Assert.Equal(found with { Scopes = [], Parameters = null }, byState! with { Scopes = [], Parameters = null });
        Assert.Equal(found.Parameters, byState.Parameters);
        await Assert.ThrowsAsync<StoreConflictException>(() => node.Flows.CreateAsync(flow with { Id = Ids.New("flow") }, None));
    }

    [Fact]
    public async Task DeviceFlows_CompletingAndCancelling_ExcludeEachOther_EvenUnderRace()
    {
        var node = await StartWithOrgAsync();
        var other = await StartNodeAsync();
        DeviceFlow NewDeviceFlow() => new()
        {
            Id = Ids.New("dflow"), HandleHash = Ids.Sha256Hex(Ids.New("h")), OrgId = Org, Provider = "github", DeviceCode = new Secret("dc"),
            UserCode = "ABCD-EFGH", VerificationUri = "https://github.example/login/device", IntervalSeconds = 5, NextPollAt = T0,
            ExpiresAt = T0.AddMinutes(15), Status = DeviceFlowStatus.Pending,
        };

        // Claimed for storing first: the cancel is refused, and the flow completes.
        var approved = NewDeviceFlow();
        await node.DeviceFlows.CreateAsync(approved, None);
        Assert.True(await node.DeviceFlows.TryStartCompletingAsync(approved.Id, None));
        Assert.False(await other.DeviceFlows.TryCancelAsync(approved.Id, None));
        Assert.Equal(DeviceFlowStatus.Completing, (await other.DeviceFlows.FindByHandleAsync(approved.HandleHash, None))!.Status);
        await node.DeviceFlows.FinishAsync(approved.Id, DeviceFlowStatus.Complete, "conn_x", null, None);
        Assert.Equal((DeviceFlowStatus.Complete, "conn_x"), await StatusAsync(approved));

        // Cancelled first: the claim is refused, nothing may be stored.
        var cancelled = NewDeviceFlow();
        await node.DeviceFlows.CreateAsync(cancelled, None);
        Assert.True(await other.DeviceFlows.TryCancelAsync(cancelled.Id, None));
        Assert.False(await node.DeviceFlows.TryStartCompletingAsync(cancelled.Id, None));
        Assert.False(await other.DeviceFlows.TryCancelAsync(cancelled.Id, None)); // already ended
        var ended = (await node.DeviceFlows.FindByHandleAsync(cancelled.HandleHash, None))!;
        Assert.Equal((DeviceFlowStatus.Error, "cancelled"), (ended.Status, ended.Error));

        // Both at once, from two nodes, many times: exactly one wins each flow.
        for (var i = 0; i < 20; i++)
        {
            var raced = NewDeviceFlow();
            await node.DeviceFlows.CreateAsync(raced, None);
            var both = await Task.WhenAll(
                Task.Run(() => node.DeviceFlows.TryStartCompletingAsync(raced.Id, None)),
                Task.Run(() => other.DeviceFlows.TryCancelAsync(raced.Id, None)));
            Assert.True(both[0] ^ both[1], $"round {i}: completing {both[0]}, cancelled {both[1]}");
            Assert.Equal(both[0] ? DeviceFlowStatus.Completing : DeviceFlowStatus.Error, (await node.DeviceFlows.FindByHandleAsync(raced.HandleHash, None))!.Status);
        }

        async Task<(DeviceFlowStatus, string?)> StatusAsync(DeviceFlow flow) =>
            (await node.DeviceFlows.FindByHandleAsync(flow.HandleHash, None)) is { } found ? (found.Status, found.ConnectionId) : default;
    }

    [Fact]
    public async Task Flows_TryConsume_IsSingleUseEvenUnderRace()
    {
        var node = await StartWithOrgAsync();
        var other = await StartNodeAsync();
        var flow = NewFlow(T0, TimeSpan.FromMinutes(5));
        await node.Flows.CreateAsync(flow, None);

        var attempts = await Task.WhenAll(Enumerable.Range(0, 8).Select(i =>
            (i % 2 == 0 ? node : other).Flows.TryConsumeAsync(flow.StateHash, T0.AddMinutes(1), T0.AddMinutes(1).Add(Exchange), None)));

        var winner = Assert.Single(attempts, a => a is not null);
        Assert.Equal(FlowStatus.Exchanging, winner!.Status);
        Assert.Null(await node.Flows.TryConsumeAsync(flow.StateHash, T0.AddMinutes(1), T0.AddMinutes(1).Add(Exchange), None));
        Assert.Null(await node.Flows.TryConsumeAsync(Ids.Sha256Hex("unknown"), T0.AddMinutes(1), T0.AddMinutes(1).Add(Exchange), None));
    }

    [Fact]
    public async Task Flows_Expired_CannotBeConsumedAndReadsAsExpired()
    {
        var node = await StartWithOrgAsync();
        var flow = NewFlow(T0, TimeSpan.FromMinutes(5));
        await node.Flows.CreateAsync(flow, None);
        var late = T0.AddMinutes(5);

        Assert.Null(await node.Flows.TryConsumeAsync(flow.StateHash, late, late.Add(Exchange), None));
        Assert.Equal(FlowStatus.Expired, (await node.Flows.FindAsync(flow.Id, late, None))!.Status);
        // Stored as expired: even a reader whose clock says it is early again sees it so.
        Assert.Equal(FlowStatus.Expired, (await node.Flows.FindByStateAsync(flow.StateHash, T0, None))!.Status);
        Assert.Null(await node.Flows.TryConsumeAsync(flow.StateHash, T0, T0.Add(Exchange), None));
    }

    [Fact]
    public async Task Flows_CompleteAndFail_RecordOutcome()
    {
        var node = await StartWithOrgAsync();
        var ok = NewFlow(T0, TimeSpan.FromMinutes(5));
        var bad = NewFlow(T0, TimeSpan.FromMinutes(5));
        await node.Flows.CreateAsync(ok, None);
        await node.Flows.CreateAsync(bad, None);
        await node.Flows.TryConsumeAsync(ok.StateHash, T0.AddSeconds(10), T0.AddSeconds(10).Add(Exchange), None);

        await node.Flows.CompleteAsync(ok.Id, "conn_1", ["repo"], T0.AddSeconds(11), None);
        await node.Flows.FailAsync(bad.Id, "access_denied", T0.AddSeconds(12), None);
        await node.Flows.FailAsync(ok.Id, "too_late", T0.AddSeconds(13), None); // a finished flow stays finished

        var completed = await node.Flows.FindAsync(ok.Id, T0.AddMinutes(10), None);
        Assert.Equal((FlowStatus.Complete, "conn_1", T0.AddSeconds(11)), (completed!.Status, completed.ConnectionId, completed.CompletedAt));
        Assert.Equal(["repo"], completed.GrantedScopes!);
        var failed = await node.Flows.FindAsync(bad.Id, T0.AddMinutes(10), None);
        Assert.Equal((FlowStatus.Error, "access_denied"), (failed!.Status, failed.Error));
    }

    [Fact]
    public async Task Flows_CreateSweepsExpiredAndOldFinishedFlows()
    {
        var node = await StartWithOrgAsync();
        var stale = NewFlow(T0, TimeSpan.FromMinutes(5));
        var ancient = NewFlow(T0.AddDays(-3), TimeSpan.FromMinutes(5));
        await node.Flows.CreateAsync(ancient, None);
        await node.Flows.CompleteAsync(ancient.Id, "conn_1", [], T0.AddDays(-3), None);
        await node.Flows.CreateAsync(stale, None);

        await node.Flows.CreateAsync(NewFlow(T0.AddMinutes(10), TimeSpan.FromMinutes(5)), None);

        Assert.Null(await node.Flows.FindAsync(ancient.Id, T0.AddMinutes(10), None));
        // Swept on write: stored as expired even for a reader with an early clock.
        Assert.Equal(FlowStatus.Expired, (await node.Flows.FindAsync(stale.Id, T0, None))!.Status);
        Assert.Equal(0, await node.Flows.SweepAsync(T0.AddMinutes(10), None));
        // The fresh one expires (1); it and the stale one are then more than a day past expiry and are deleted (2).
        Assert.Equal(3, await node.Flows.SweepAsync(T0.AddDays(2), None));
    }

    [Fact]
    public async Task Flows_LeftExchangingByACrash_AreSweptToExpired()
    {
        var node = await StartWithOrgAsync();
        var flow = NewFlow(T0, TimeSpan.FromMinutes(5));
        await node.Flows.CreateAsync(flow, None);
        // The state is consumed, then the process dies: nobody will complete or fail this flow.
        Assert.NotNull(await node.Flows.TryConsumeAsync(flow.StateHash, T0.AddMinutes(1), T0.AddMinutes(1).Add(Exchange), None));

        Assert.Equal(0, await node.Flows.SweepAsync(T0.AddMinutes(4), None));
        Assert.Equal(1, await node.Flows.SweepAsync(T0.AddMinutes(10), None));

        var swept = await node.Flows.FindAsync(flow.Id, T0, None);
        Assert.Equal((FlowStatus.Expired, T0.AddMinutes(5)), (swept!.Status, swept.CompletedAt));
    }

    [Fact]
    public async Task Flows_ExchangingPastExpiry_ReadsAsExpired_BeforeAnySweep()
    {
        var node = await StartWithOrgAsync();
        var flow = NewFlow(T0, TimeSpan.FromMinutes(5));
        await node.Flows.CreateAsync(flow, None);
        await node.Flows.TryConsumeAsync(flow.StateHash, T0.AddMinutes(1), T0.AddMinutes(1).Add(Exchange), None);

        Assert.Equal(FlowStatus.Exchanging, (await node.Flows.FindAsync(flow.Id, T0.AddMinutes(4), None))!.Status);
        Assert.Equal(FlowStatus.Expired, (await node.Flows.FindAsync(flow.Id, T0.AddMinutes(5), None))!.Status);
        // Stored so: a late completion does not resurrect it, and an early clock reads it expired too.
        await node.Flows.CompleteAsync(flow.Id, "conn_1", ["repo"], T0.AddMinutes(6), None);
        Assert.Equal(FlowStatus.Expired, (await node.Flows.FindByStateAsync(flow.StateHash, T0, None))!.Status);
    }

    [Fact]
    public async Task Flows_ConsumedJustBeforeExpiry_KeepTheirWholeExchangeWindow()
    {
        var node = await StartWithOrgAsync();
        var flow = NewFlow(T0, TimeSpan.FromMinutes(5));
        await node.Flows.CreateAsync(flow, None);
        var late = T0.AddMinutes(5).AddSeconds(-1);

        var consumed = await node.Flows.TryConsumeAsync(flow.StateHash, late, late.Add(Exchange), None);

        Assert.Equal(late.Add(Exchange), consumed!.ExpiresAt);
        Assert.Equal(0, await node.Flows.SweepAsync(T0.AddMinutes(5).AddSeconds(10), None));
        Assert.Equal(FlowStatus.Exchanging, (await node.Flows.FindAsync(flow.Id, T0.AddMinutes(5).AddSeconds(10), None))!.Status);
        await node.Flows.CompleteAsync(flow.Id, "conn_1", ["repo"], T0.AddMinutes(5).AddSeconds(20), None);
        Assert.Equal(FlowStatus.Complete, (await node.Flows.FindAsync(flow.Id, T0.AddMinutes(6), None))!.Status);
    }

    private static Flow EnvelopeFlow(DateTimeOffset now, string key = "envelope-key-1") =>
        NewFlow(now, TimeSpan.FromMinutes(5), state: Ids.RandomToken(16)) with { EnvelopeKey = key };

    [Fact]
    public async Task EnvelopeFlows_AreReused_UntilAPersonStartsOnThem()
    {
        var node = await StartWithOrgAsync();

        var (first, created) = await node.Flows.FindOrCreateEnvelopeFlowAsync(EnvelopeFlow(T0), 100, T0, None);
        var (again, createdAgain) = await node.Flows.FindOrCreateEnvelopeFlowAsync(EnvelopeFlow(T0.AddSeconds(10)), 100, T0.AddSeconds(10), None);
        var (otherKey, _) = await node.Flows.FindOrCreateEnvelopeFlowAsync(EnvelopeFlow(T0, "envelope-key-2"), 100, T0, None);

        Assert.True(created);
        Assert.False(createdAgain);
        Assert.Equal(first!.Id, again!.Id);
        Assert.NotEqual(first.Id, otherKey!.Id);

        // A person's callback consumes it: the key is released and the next envelope gets a new flow.
        Assert.NotNull(await node.Flows.TryConsumeAsync(first.StateHash, T0.AddSeconds(20), T0.AddSeconds(50), None));
        var (next, createdNext) = await node.Flows.FindOrCreateEnvelopeFlowAsync(EnvelopeFlow(T0.AddSeconds(30)), 100, T0.AddSeconds(30), None);
        Assert.True(createdNext);
        Assert.NotEqual(first.Id, next!.Id);
    }

    [Fact]
    public async Task EnvelopeFlows_PastTheirExpiry_AreRevived_WithAFreshStateAndExpiry()
    {
        var node = await StartWithOrgAsync();
        var (first, _) = await node.Flows.FindOrCreateEnvelopeFlowAsync(EnvelopeFlow(T0), 100, T0, None);
        Assert.Equal(1, await node.Flows.SweepAsync(T0.AddMinutes(6), None)); // stored as expired

        var later = EnvelopeFlow(T0.AddMinutes(7));
        var (revived, created) = await node.Flows.FindOrCreateEnvelopeFlowAsync(later, 100, T0.AddMinutes(7), None);

        Assert.False(created);
        Assert.Equal(first!.Id, revived!.Id);
        Assert.Equal(FlowStatus.Pending, revived.Status);
        Assert.Equal(later.ExpiresAt, revived.ExpiresAt);
        Assert.Equal(later.StateHash, revived.StateHash);
        Assert.Null(await node.Flows.TryConsumeAsync(first.StateHash, T0.AddMinutes(7), T0.AddMinutes(8), None));
    }

    [Fact]
    public async Task EnvelopeFlows_RacingOnTwoNodes_EndWithOneRow()
    {
        var node = await StartWithOrgAsync();
        var other = await StartNodeAsync();

        var results = await Task.WhenAll(Enumerable.Range(0, 40).Select(i =>
            (i % 2 == 0 ? node : other).Flows.FindOrCreateEnvelopeFlowAsync(EnvelopeFlow(T0), 100, T0, None)));

        Assert.Single(results.Select(r => r.Flow!.Id).Distinct());
        Assert.Equal(1, results.Count(r => r.Created));
        Assert.Equal(1, await node.Flows.CountPendingAsync(Org, signIn: false, T0, None));
    }

    [Fact]
    public async Task PendingFlows_AreCounted_AndTheCapStopsNewEnvelopeRows()
    {
        var node = await StartWithOrgAsync();
        await node.Flows.CreateAsync(NewFlow(T0, TimeSpan.FromMinutes(5)), None);
        await node.Flows.CreateAsync(NewFlow(T0, TimeSpan.FromMinutes(1)), None);

        Assert.Equal(2, await node.Flows.CountPendingAsync(Org, signIn: false, T0, None));
        Assert.Equal(1, await node.Flows.CountPendingAsync(Org, signIn: false, T0.AddMinutes(2), None));

        // Dashboard sign-ins are counted apart: they neither fill nor use the connect flows' cap.
        await node.Flows.CreateAsync(NewFlow(T0, TimeSpan.FromMinutes(5)) with { SignIn = true }, None);
        Assert.Equal(1, await node.Flows.CountPendingAsync(Org, signIn: true, T0, None));
        Assert.Equal(2, await node.Flows.CountPendingAsync(Org, signIn: false, T0, None));
        var (refused, created) = await node.Flows.FindOrCreateEnvelopeFlowAsync(EnvelopeFlow(T0), 2, T0, None);
        Assert.Null(refused);
        Assert.False(created);
    }
}
