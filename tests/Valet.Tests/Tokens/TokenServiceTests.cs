using Valet.Core.Domain;
using Valet.Core.OAuth;
using Valet.Core.Tokens;

namespace Valet.Tests.Tokens;

public sealed class TokenServiceTests
{
    [Fact]
    public async Task FreshToken_IsServed_WithOneStoreRead_NoLock_NoProviderCall()
    {
        using var rig = new RefreshRig();
        rig.Add(TimeSpan.FromMinutes(10));
        var service = rig.NewService();

        var outcome = OutcomeAssert.Success(await service.GetAccessTokenAsync(RefreshRig.Id, forceRefresh: false, default));

        Assert.Equal(new Secret("at-0"), outcome.AccessToken);
        Assert.Equal(1, rig.Store.Reads);
        Assert.Equal(0, rig.Locks.Acquisitions);
        Assert.Equal(0, rig.OAuth.Calls);
    }

    [Fact]
    public async Task UnknownConnection_IsNotFound()
    {
        using var rig = new RefreshRig();

        var outcome = await rig.NewService().GetAccessTokenAsync("conn_nope", false, default);

        Assert.IsType<TokenOutcome.NotFound>(outcome);
    }

    [Fact]
    public async Task TokenWithinSkew_IsRefreshedOnce_AndTheNewRowIsStored()
    {
        using var rig = new RefreshRig();
        rig.Add(TimeSpan.FromMinutes(1), tweak: c => c with { RefreshFailures = 2, NextRefreshAt = rig.Now.AddMinutes(-1) });
        var service = rig.NewService();

        var outcome = OutcomeAssert.Success(await service.GetAccessTokenAsync(RefreshRig.Id, false, default));
        var again = OutcomeAssert.Success(await service.GetAccessTokenAsync(RefreshRig.Id, false, default));

        Assert.Equal(1, rig.OAuth.Calls);
        Assert.Equal(new Secret("at-1"), outcome.AccessToken);
        Assert.Equal(outcome.AccessToken, again.AccessToken);
        var stored = rig.Stored();
        Assert.Equal(new Secret("at-1"), stored.AccessToken);
        Assert.Equal(rig.Now.AddHours(1), stored.ExpiresAt);
        Assert.Equal(rig.Now.AddHours(1) - rig.Options.ProactiveLead, stored.NextRefreshAt);
        Assert.Equal(rig.Now, stored.LastRefreshedAt);
        Assert.Equal(0, stored.RefreshFailures);
        Assert.Equal(ConnectionStatus.Active, stored.Status);
        Assert.Equal(2, stored.Version);
        Assert.Equal("rt-0", Assert.Single(rig.OAuth.RefreshTokensSeen));
        Assert.Equal("platform-client", Assert.Single(rig.OAuth.ClientsSeen).ClientId);
    }

    [Fact]
    public async Task NonExpiringToken_IsNotRefreshed_UnlessForced()
    {
        using var rig = new RefreshRig();
        rig.Add(tweak: c => c with { ExpiresAt = null });
        var service = rig.NewService();

        OutcomeAssert.Success(await service.GetAccessTokenAsync(RefreshRig.Id, false, default));
        rig.Time.Advance(TimeSpan.FromDays(400));
        OutcomeAssert.Success(await service.GetAccessTokenAsync(RefreshRig.Id, false, default));
        Assert.Equal(0, rig.OAuth.Calls);

        var forced = OutcomeAssert.Success(await service.GetAccessTokenAsync(RefreshRig.Id, true, default));
        Assert.Equal(1, rig.OAuth.Calls);
        Assert.Equal(new Secret("at-1"), forced.AccessToken);
    }

    [Fact]
    public async Task Refresh_IsSingleFlight_ForAThousandConcurrentCallers()
    {
        using var rig = new RefreshRig();
        rig.Add(TimeSpan.FromSeconds(-30));
        rig.OAuth.Gate = FakeOAuthClient.NewSignal();
        var service = rig.NewService();
        var issued = 0;

        var callers = Enumerable.Range(0, 1000).Select(_ => Task.Run(() =>
        {
            var pending = service.GetAccessTokenAsync(RefreshRig.Id, false, default);
            Interlocked.Increment(ref issued);
            return pending;
        })).ToList();
        await RefreshRig.Eventually(() => Volatile.Read(ref issued) == 1000, "all callers waiting");
        rig.OAuth.Gate.SetResult();
        var outcomes = await Task.WhenAll(callers);

        Assert.Equal(1, rig.OAuth.Calls);
        Assert.Equal(1, rig.Locks.Acquisitions);
        Assert.All(outcomes, o => Assert.Equal(new Secret("at-1"), OutcomeAssert.Success(o).AccessToken));
    }

    [Fact]
    public async Task Refresh_IsSingleFlight_AcrossTwoNodes_TheSecondReReadsAndReuses()
    {
        using var rig = new RefreshRig();
        rig.Add(TimeSpan.FromSeconds(30));
        rig.OAuth.Gate = FakeOAuthClient.NewSignal();
        var nodeA = rig.NewService(rig.NewCoordinator());
        var nodeB = rig.NewService(rig.NewCoordinator());

        var a = nodeA.GetAccessTokenAsync(RefreshRig.Id, false, default);
        await rig.OAuth.Started.Task;
        var b = nodeB.GetAccessTokenAsync(RefreshRig.Id, false, default);
        await RefreshRig.Eventually(() => rig.Locks.Waiting == 1, "node B waiting on the lock");
        rig.OAuth.Gate.SetResult();

        Assert.Equal(new Secret("at-1"), OutcomeAssert.Success(await a).AccessToken);
        Assert.Equal(new Secret("at-1"), OutcomeAssert.Success(await b).AccessToken);
        Assert.Equal(1, rig.OAuth.Calls);
        Assert.Equal(2, rig.Locks.Acquisitions);
    }

    [Fact]
    public async Task OneCallerCancelling_DoesNotCancelTheSharedRefresh()
    {
        using var rig = new RefreshRig();
        rig.Add(TimeSpan.FromSeconds(30));
        rig.OAuth.Gate = FakeOAuthClient.NewSignal();
        var service = rig.NewService();
        using var impatient = new CancellationTokenSource();

        var first = service.GetAccessTokenAsync(RefreshRig.Id, false, impatient.Token);
        var second = service.GetAccessTokenAsync(RefreshRig.Id, false, default);
        await rig.OAuth.Started.Task;
        await impatient.CancelAsync();
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => first);
        rig.OAuth.Gate.SetResult();

        Assert.Equal(new Secret("at-1"), OutcomeAssert.Success(await second).AccessToken);
        Assert.Equal(new Secret("at-1"), rig.Stored().AccessToken);
        Assert.Equal(1, rig.OAuth.Calls);
    }

    [Fact]
    public async Task RejectedToken_IsRefreshedOnce_ThenLaterRejectionsReuseTheNewToken()
    {
        using var rig = new RefreshRig();
        rig.Add(TimeSpan.FromMinutes(30));
        var service = rig.NewService();
        var served = OutcomeAssert.Success(await service.GetAccessTokenAsync(RefreshRig.Id, false, default));

        var first = OutcomeAssert.Success(await service.RefreshRejectedAsync(served.Connection, default));
        var second = OutcomeAssert.Success(await service.RefreshRejectedAsync(served.Connection, default));

        Assert.Equal(new Secret("at-1"), first.AccessToken);
        Assert.Equal(new Secret("at-1"), second.AccessToken);
        Assert.Equal(1, rig.OAuth.Calls);

        // The new token rejected in turn: that is a new refresh.
        var third = OutcomeAssert.Success(await service.RefreshRejectedAsync(first.Connection, default));
        Assert.Equal(new Secret("at-2"), third.AccessToken);
        Assert.Equal(2, rig.OAuth.Calls);
    }

    [Fact]
    public async Task ForcedRefresh_UnderTheLock_ReusesATokenAnotherNodeRefreshedMeanwhile()
    {
        using var rig = new RefreshRig();
        var observed = rig.Add(TimeSpan.FromMinutes(30));
        rig.Store.TryWrite(observed with { AccessToken = new Secret("at-other-node"), ExpiresAt = rig.Now.AddHours(1) });

        var outcome = OutcomeAssert.Success(await rig.NewCoordinator().RefreshAsync(RefreshRig.Id, RefreshReason.Forced, observed, default));

        Assert.Equal(new Secret("at-other-node"), outcome.AccessToken);
        Assert.Equal(0, rig.OAuth.Calls);
    }

    [Fact]
    public async Task ForcedRefresh_AfterABookkeepingWrite_StillCallsTheProvider()
    {
        using var rig = new RefreshRig();
        var observed = rig.Add(TimeSpan.FromMinutes(30));
        rig.Store.TryWrite(observed with { NextRefreshAt = rig.Now.AddMinutes(10) }); // version moves, token does not

        var outcome = OutcomeAssert.Success(await rig.NewCoordinator().RefreshAsync(RefreshRig.Id, RefreshReason.Forced, observed, default));

        Assert.Equal(new Secret("at-1"), outcome.AccessToken);
        Assert.Equal(1, rig.OAuth.Calls);
    }

    [Fact]
    public async Task ForcedCaller_JoiningARefreshThatFoundTheRejectedTokenFresh_GetsANewToken()
    {
        using var rig = new RefreshRig();
        var observed = rig.Add(TimeSpan.FromMinutes(30));
        var coordinator = rig.NewCoordinator();
        rig.OAuth.Gate = FakeOAuthClient.NewSignal();

        // Hold the lock from "another node" so an Expiring flight is in progress here when the forced caller arrives.
        var blocker = await rig.Locks.AcquireAsync(RefreshRig.Id, default);
        var expiring = coordinator.RefreshAsync(RefreshRig.Id, RefreshReason.Expiring, observed, default);
        var forced = coordinator.RefreshAsync(RefreshRig.Id, RefreshReason.Forced, observed, default);
        await blocker!.DisposeAsync();
        rig.OAuth.Gate.SetResult();

        Assert.Equal(new Secret("at-0"), OutcomeAssert.Success(await expiring).AccessToken);
        Assert.Equal(new Secret("at-1"), OutcomeAssert.Success(await forced).AccessToken);
        Assert.Equal(1, rig.OAuth.Calls);
    }

    [Fact]
    public async Task ReauthRequiredConnection_IsAnsweredFromTheRow_WithoutAProviderCall()
    {
        using var rig = new RefreshRig();
        rig.Add(TimeSpan.FromSeconds(10), tweak: c => c with { Status = ConnectionStatus.ReauthRequired, StatusReason = "invalid_grant" });
        var service = rig.NewService();

        var plain = Assert.IsType<TokenOutcome.ReauthRequired>(await service.GetAccessTokenAsync(RefreshRig.Id, false, default));
        var forced = Assert.IsType<TokenOutcome.ReauthRequired>(await service.GetAccessTokenAsync(RefreshRig.Id, true, default));
        var viaCoordinator = Assert.IsType<TokenOutcome.ReauthRequired>(
            await rig.NewCoordinator().RefreshAsync(RefreshRig.Id, RefreshReason.Forced, null, default));

        Assert.Equal("invalid_grant", plain.Reason);
        Assert.Equal("invalid_grant", forced.Reason);
        Assert.Equal("invalid_grant", viaCoordinator.Reason);
        Assert.Equal(0, rig.OAuth.Calls);
    }

    [Fact]
    public async Task ConnectionDeletedBeforeTheLock_IsNotFound()
    {
        using var rig = new RefreshRig();

        var outcome = await rig.NewCoordinator().RefreshAsync("conn_gone", RefreshReason.Expiring, null, default);

        Assert.IsType<TokenOutcome.NotFound>(outcome);
        Assert.Equal(0, rig.OAuth.Calls);
    }
}
