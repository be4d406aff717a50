using Valet.Core.Domain;
using Valet.Core.Tokens;

namespace Valet.Tests.Tokens;

/// <summary>
/// The provider answered a refresh (possibly rotating its refresh token) but storing the answer failed: the write is tried
/// again under a new lease, the waiters keep waiting for it, a newer grant still wins, and past the window the error
/// reaches the callers (docs/refresh.md, "Storing the answer"). The same against real SQLite and PostgreSQL failures:
/// Refresh/RefreshCommitFailureTests.
/// </summary>
public sealed class RefreshCommitRetryTests
{
    private static readonly TimeSpan Expired = TimeSpan.FromSeconds(-1);

    [Fact]
    public async Task CommitFails_TheRotatedRefreshTokenIsStoredOnALaterAttempt_AndEveryWaiterGetsTheNewToken()
    {
        using var rig = new RefreshRig();
        rig.Add(Expired);
        rig.OAuth.Handler = (n, _, _) => Task.FromResult(FakeOAuthClient.Ok(n, refreshToken: "rt-1"));
        rig.Locks.FailingCommits = 2;
        var service = rig.NewService();

        var callers = Task.WhenAll(Enumerable.Range(0, 5).Select(_ => service.GetAccessTokenAsync(RefreshRig.Id, false, default)));
        await AdvanceUntil(rig, callers, TimeSpan.FromSeconds(10));

        foreach (var outcome in await callers)
        {
            Assert.Equal(new Secret("at-1"), OutcomeAssert.Success(outcome).AccessToken);
        }

        Assert.Equal(1, rig.OAuth.Calls);
        Assert.Equal(3, rig.Locks.CommitAttempts);
        Assert.Equal(new Secret("rt-1"), rig.Stored().RefreshToken);
        Assert.Equal(new Secret("at-1"), rig.Stored().AccessToken);
        Assert.Equal(0, rig.Locks.Held);
    }

    [Fact]
    public async Task GrantReplacedBeforeTheRetry_TheNewGrantWins_AndTheRefreshResultIsDropped()
    {
        using var rig = new RefreshRig();
        var (original, refresh) = await FirstCommitFailedAsync(rig);
        rig.Store.Put(original with
        {
            AccessToken = new Secret("at-reconnected"),
            RefreshToken = new Secret("rt-reconnected"),
            ExpiresAt = rig.Now.AddHours(1),
            Version = original.Version + 1,
        });
        await AdvanceUntil(rig, refresh, TimeSpan.FromSeconds(10));

        Assert.Equal(new Secret("at-reconnected"), OutcomeAssert.Success(await refresh).AccessToken);
        Assert.Equal(new Secret("rt-reconnected"), rig.Stored().RefreshToken);
        Assert.Equal(1, rig.Locks.CommitAttempts); // the retry saw the new grant and did not write
        Assert.Equal(0, rig.Locks.Held);
    }

    [Fact]
    public async Task MarkedDeadBeforeTheRetry_ByANodeThatPresentedTheSpentToken_TheVerdictStands()
    {
        using var rig = new RefreshRig();
        var (original, refresh) = await FirstCommitFailedAsync(rig);
        rig.Store.Put(original with { Status = ConnectionStatus.ReauthRequired, StatusReason = "invalid_grant", Version = original.Version + 1 });
        await AdvanceUntil(rig, refresh, TimeSpan.FromSeconds(10));

        Assert.IsType<TokenOutcome.ReauthRequired>(await refresh);
        Assert.Equal(ConnectionStatus.ReauthRequired, rig.Stored().Status);
        Assert.Equal(new Secret("rt-0"), rig.Stored().RefreshToken);
        Assert.Equal(1, rig.Locks.CommitAttempts);
    }

    [Fact]
    public async Task AnotherNodesTransientFailureMeanwhile_DoesNotDropTheAnswer()
    {
        using var rig = new RefreshRig();
        var (original, refresh) = await FirstCommitFailedAsync(rig);
        rig.Store.Put(original with { RefreshFailures = 1, Version = original.Version + 1 });
        await AdvanceUntil(rig, refresh, TimeSpan.FromSeconds(10));

        Assert.Equal(new Secret("at-1"), OutcomeAssert.Success(await refresh).AccessToken);
        Assert.Equal(new Secret("rt-1"), rig.Stored().RefreshToken);
    }

    [Fact]
    public async Task StoreDownForTheWholeWindow_TheErrorReachesTheCallers_OnceTheWindowHasPassed()
    {
        using var rig = new RefreshRig();
        rig.Options = rig.Options with { CommitRetryWindow = TimeSpan.FromSeconds(3) };
        rig.Add(Expired);
        rig.OAuth.Handler = (n, _, _) => Task.FromResult(FakeOAuthClient.Ok(n, refreshToken: "rt-1"));
        rig.Locks.FailingCommits = -1;
        var started = rig.Now;

        var refresh = rig.NewService().GetAccessTokenAsync(RefreshRig.Id, false, default);
        await AdvanceUntil(rig, refresh, TimeSpan.FromSeconds(30));

        await Assert.ThrowsAsync<IOException>(() => refresh);
        // Not before the window has passed; soon after it. The fake clock moves on every 2 ms of real time whether or not the
        // refresh has reached its next wait, so on a loaded machine it runs ahead of the code: a second of slack (a run under
        // load read 4.05 s), still far below the 30 s a retry without the window would take.
        Assert.InRange(rig.Now - started, TimeSpan.FromSeconds(3), TimeSpan.FromSeconds(5));
        Assert.InRange(rig.Locks.CommitAttempts, 4, 10); // 200 ms, doubling, capped by the window
        Assert.Equal(new Secret("rt-0"), rig.Stored().RefreshToken);
        Assert.Equal(1, rig.OAuth.Calls);
        Assert.Equal(0, rig.Locks.Held);
    }

    [Fact]
    public void CommitRetryWindow_MustBePositive()
    {
        var result = new RefreshOptionsValidator().Validate(null, new RefreshOptions { CommitRetryWindow = TimeSpan.Zero });

        Assert.True(result.Failed);
        Assert.Contains("Refresh:CommitRetryWindow", result.FailureMessage, StringComparison.Ordinal);
    }

    /// <summary>Moves the fake clock in 50 ms steps until <paramref name="task"/> ends; at most <paramref name="limit"/> of fake time.</summary>
    /// <summary>An expired connection, a refresh whose answer rotates the refresh token to rt-1, and its first commit failed.</summary>
    private static async Task<(Connection Original, Task<TokenOutcome> Refresh)> FirstCommitFailedAsync(RefreshRig rig)
    {
        var original = rig.Add(Expired);
        rig.OAuth.Handler = (n, _, _) => Task.FromResult(FakeOAuthClient.Ok(n, refreshToken: "rt-1"));
        rig.Locks.FailingCommits = 1;

        var refresh = rig.NewService().GetAccessTokenAsync(RefreshRig.Id, false, default);
        await RefreshRig.Eventually(() => rig.Locks.CommitAttempts == 1, "the first commit failed");
        return (original, refresh);
    }

    private static async Task AdvanceUntil(RefreshRig rig, Task task, TimeSpan limit)
    {
        var until = rig.Now + limit;
        while (!task.IsCompleted)
        {
            Assert.True(rig.Now < until, "the refresh did not finish within " + limit);
            await Task.Delay(2);
            rig.Time.Advance(TimeSpan.FromMilliseconds(50));
        }
    }
}
