using Valet.Core.Domain;
using Valet.Core.OAuth;
using Valet.Core.Tokens;

namespace Valet.Tests.Tokens;

public sealed class RefreshOutcomeTests
{
    private static readonly TimeSpan Expired = TimeSpan.FromSeconds(-1);

    [Fact]
    public async Task RotatedRefreshToken_AndResponseScopes_AreStored()
    {
        using var rig = new RefreshRig();
        rig.Add(Expired);
        rig.OAuth.Handler = (n, _, _) => Task.FromResult(FakeOAuthClient.Ok(n, refreshToken: "rt-1", scopes: ["read", "write"]));

        OutcomeAssert.Success(await rig.NewService().GetAccessTokenAsync(RefreshRig.Id, false, default));

        Assert.Equal(new Secret("rt-1"), rig.Stored().RefreshToken);
        Assert.Equal(["read", "write"], rig.Stored().Scopes!);
    }

    [Fact]
    public async Task ResponseWithoutRefreshTokenOrScopes_KeepsTheOldOnes()
    {
        using var rig = new RefreshRig();
        rig.Add(Expired);

        OutcomeAssert.Success(await rig.NewService().GetAccessTokenAsync(RefreshRig.Id, false, default));

        Assert.Equal(new Secret("rt-0"), rig.Stored().RefreshToken);
        Assert.Equal(["read"], rig.Stored().Scopes!);
    }

    [Fact]
    public async Task ResponseWithoutExpiresIn_IsNonExpiring_ByDefault_OrAssumedLifetime_WhenConfigured()
    {
        using var rig = new RefreshRig();
        rig.Add(Expired);
        rig.OAuth.Handler = (n, _, _) => Task.FromResult(FakeOAuthClient.Ok(n, expiresIn: null));

        OutcomeAssert.Success(await rig.NewService().GetAccessTokenAsync(RefreshRig.Id, false, default));
        Assert.Null(rig.Stored().ExpiresAt);
        Assert.Null(rig.Stored().NextRefreshAt);

        rig.Options = rig.Options with { NoExpiryPolicy = NoExpiryPolicy.AssumedLifetime, NoExpiryAssumedLifetime = TimeSpan.FromHours(2) };
        OutcomeAssert.Success(await rig.NewService().GetAccessTokenAsync(RefreshRig.Id, true, default));
        Assert.Equal(rig.Now.AddHours(2), rig.Stored().ExpiresAt);
    }

    [Fact]
    public async Task TheNewTokensExpiry_CountsFromWhenTheProviderWasAsked_NotWhenItAnswered()
    {
        // A 20 s token from a provider that took 8 s to answer has at most 20 s from the request, not from the answer.
        using var rig = new RefreshRig();
        rig.Add(Expired);
        var asked = rig.Now;
        rig.OAuth.Handler = (n, _, _) =>
        {
            rig.Time.Advance(TimeSpan.FromSeconds(8));
            return Task.FromResult(FakeOAuthClient.Ok(n, expiresIn: 20));
        };

        OutcomeAssert.Success(await rig.NewService().GetAccessTokenAsync(RefreshRig.Id, false, default));

        Assert.Equal(asked.AddSeconds(20), rig.Stored().ExpiresAt);
    }

    [Fact]
    public async Task Failure_ReachesEveryWaiter()
    {
        using var rig = new RefreshRig();
        rig.Add(Expired);
        rig.OAuth.Gate = FakeOAuthClient.NewSignal();
        rig.OAuth.Handler = (_, _, _) => Task.FromResult(FakeOAuthClient.Fail(TokenErrorKind.Transient));
        var service = rig.NewService();

        var waiters = Enumerable.Range(0, 20).Select(_ => service.GetAccessTokenAsync(RefreshRig.Id, false, default)).ToList();
        rig.OAuth.Gate.SetResult();
        var outcomes = await Task.WhenAll(waiters);

        Assert.Equal(1, rig.OAuth.Calls);
        Assert.All(outcomes, o => Assert.IsType<TokenOutcome.ProviderUnavailable>(o));
    }

    [Fact]
    public async Task EveryProviderCall_LeavesOneHistoryEvent_AndAStormLeavesOne()
    {
        using var rig = new RefreshRig();
        rig.Add(Expired);
        rig.OAuth.Gate = FakeOAuthClient.NewSignal();
        rig.OAuth.Handler = (_, _, _) => Task.FromResult(FakeOAuthClient.Fail(TokenErrorKind.Timeout));
        var service = rig.NewService();

        var storm = Enumerable.Range(0, 20).Select(_ => service.GetAccessTokenAsync(RefreshRig.Id, false, default)).ToList();
        rig.OAuth.Gate.SetResult();
        await Task.WhenAll(storm);

        var failed = Assert.Single(rig.Audit.Events);
        Assert.Equal(("connection.refresh_failed", RefreshRig.Id, "timeout", "default"), (failed.Kind, failed.ConnectionId, failed.Detail, failed.OrgId));

        rig.OAuth.Gate = null;
        rig.OAuth.Handler = (n, _, _) => Task.FromResult(FakeOAuthClient.Ok(n));
        OutcomeAssert.Success(await service.GetAccessTokenAsync(RefreshRig.Id, true, default));

        Assert.Equal(2, rig.OAuth.Calls);
        Assert.Equal(2, rig.Audit.Events.Count);
        var refreshed = rig.Audit.Events.Last();
        Assert.Equal(("connection.refreshed", RefreshRig.Id, "forced"), (refreshed.Kind, refreshed.ConnectionId, refreshed.Detail));
        Assert.Null(refreshed.Path); // history says what happened, never a token or a header
    }

    [Fact]
    public async Task UnexpectedException_ReachesEveryWaiter_AndTheNextCallTriesAgain()
    {
        using var rig = new RefreshRig();
        rig.Add(Expired);
        rig.OAuth.Gate = FakeOAuthClient.NewSignal();
        rig.OAuth.Handler = (_, _, _) => throw new InvalidOperationException("bug");
        var service = rig.NewService();

        var waiters = Enumerable.Range(0, 5).Select(_ => service.GetAccessTokenAsync(RefreshRig.Id, false, default)).ToList();
        rig.OAuth.Gate.SetResult();
        foreach (var waiter in waiters)
        {
            await Assert.ThrowsAsync<InvalidOperationException>(() => waiter);
        }

        rig.OAuth.Gate = null;
        rig.OAuth.Handler = (n, _, _) => Task.FromResult(FakeOAuthClient.Ok(n));
        OutcomeAssert.Success(await service.GetAccessTokenAsync(RefreshRig.Id, false, default));
        Assert.Equal(2, rig.OAuth.Calls);
        Assert.Equal(ConnectionStatus.Active, rig.Stored().Status);
    }

    [Theory]
    [InlineData(TokenErrorKind.InvalidGrant, "invalid_grant")]
    [InlineData(TokenErrorKind.InvalidClient, "invalid_client")]
    public async Task TerminalError_MarksReauthRequired_Audits_AndStopsCallingTheProvider(TokenErrorKind kind, string reason)
    {
        using var rig = new RefreshRig();
        rig.Add(Expired, tweak: c => c with { NextRefreshAt = rig.Now });
        rig.OAuth.Handler = (_, _, _) => Task.FromResult(FakeOAuthClient.Fail(kind));
        var service = rig.NewService();

        var outcome = Assert.IsType<TokenOutcome.ReauthRequired>(await service.GetAccessTokenAsync(RefreshRig.Id, false, default));
        var again = Assert.IsType<TokenOutcome.ReauthRequired>(await service.GetAccessTokenAsync(RefreshRig.Id, true, default));

        Assert.Equal(reason, outcome.Reason);
        Assert.Equal(reason, again.Reason);
        Assert.Equal(1, rig.OAuth.Calls);
        var stored = rig.Stored();
        Assert.Equal(ConnectionStatus.ReauthRequired, stored.Status);
        Assert.Equal(reason, stored.StatusReason);
        Assert.Null(stored.NextRefreshAt);
        Assert.Equal(new Secret("rt-0"), stored.RefreshToken);
        var audit = Assert.Single(rig.Audit.Events);
        Assert.Equal(("connection.reauth_required", RefreshRig.Id, reason, "default"), (audit.Kind, audit.ConnectionId, audit.Detail, audit.OrgId));
    }

    [Fact]
    public async Task InteractionRequired_IsTerminal_WithItsReason_EvenAfterAnUnknownOutcome()
    {
        using var rig = new RefreshRig();
        rig.Add(Expired, tweak: c => c with { StatusReason = "refresh_outcome_unknown" });
        rig.OAuth.Handler = (_, _, _) => Task.FromResult(TokenResult.Failure(new TokenError(TokenErrorKind.InteractionRequired, "mfa_required", HttpStatus: 400)));
        var service = rig.NewService();

        var outcome = Assert.IsType<TokenOutcome.ReauthRequired>(await service.GetAccessTokenAsync(RefreshRig.Id, false, default));
        var again = Assert.IsType<TokenOutcome.ReauthRequired>(await service.GetAccessTokenAsync(RefreshRig.Id, true, default));

        // What the person must do explains the failure better than an earlier lost answer.
        Assert.Equal("mfa_required", outcome.Reason);
        Assert.Equal("mfa_required", again.Reason);
        Assert.Equal(1, rig.OAuth.Calls);
        Assert.Equal((ConnectionStatus.ReauthRequired, "mfa_required"), (rig.Stored().Status, rig.Stored().StatusReason));
        Assert.Equal("mfa_required", Assert.Single(rig.Audit.Events).Detail);
    }

    [Fact]
    public async Task ProviderOutage_InsideTheSkewWindow_ServesTheStillValidToken()
    {
        using var rig = new RefreshRig();
        var before = rig.Add(TimeSpan.FromSeconds(30));
        rig.OAuth.Handler = (_, _, _) => Task.FromResult(FakeOAuthClient.Fail(TokenErrorKind.Transient));
        var service = rig.NewService();

        var outcome = Assert.IsType<TokenOutcome.Success>(await service.GetAccessTokenAsync(RefreshRig.Id, false, default));

        Assert.Equal(before.AccessToken, outcome.AccessToken);
        Assert.Equal(1, rig.OAuth.Calls);
        Assert.Equal(1, rig.Stored().RefreshFailures);
    }

    [Fact]
    public async Task TransientError_LeavesTokensAndStatus_CountsTheFailure_AndBacksOff()
    {
        using var rig = new RefreshRig();
        var before = rig.Add(Expired);
        rig.OAuth.Handler = (_, _, _) => Task.FromResult(FakeOAuthClient.Fail(TokenErrorKind.Transient));
        var service = rig.NewService();
        var o = rig.Options;

        var outcome = Assert.IsType<TokenOutcome.ProviderUnavailable>(await service.GetAccessTokenAsync(RefreshRig.Id, false, default));

        Assert.False(outcome.TimedOut);
        var stored = rig.Stored();
        Assert.Equal(stored.NextRefreshAt - rig.Now, outcome.RetryAfter); // Retry-After: when the backoff lets the provider be called again
        Assert.Equal((before.AccessToken, before.RefreshToken, before.ExpiresAt), (stored.AccessToken, stored.RefreshToken, stored.ExpiresAt));
        Assert.Equal(ConnectionStatus.Active, stored.Status);
        Assert.Null(stored.StatusReason);
        Assert.Equal(1, stored.RefreshFailures);
        Assert.InRange(stored.NextRefreshAt!.Value, rig.Now + o.BackoffBase, rig.Now + o.BackoffBase + o.Jitter);

        Assert.IsType<TokenOutcome.ProviderUnavailable>(await service.GetAccessTokenAsync(RefreshRig.Id, false, default));
        Assert.Equal(2, rig.Stored().RefreshFailures);
        Assert.InRange(rig.Stored().NextRefreshAt!.Value, rig.Now + 2 * o.BackoffBase, rig.Now + 2 * o.BackoffBase + o.Jitter);
        Assert.Equal(["transient", "transient"], rig.Audit.Events.Where(e => e.Kind == "connection.refresh_failed").Select(e => e.Detail));
        Assert.Equal(2, rig.Audit.Events.Count); // the history, nothing else
    }

    [Fact]
    public async Task RateLimited_HonoursRetryAfter_ForTheScheduleAndForLaterCallers()
    {
        using var rig = new RefreshRig();
        rig.Add(Expired);
        rig.OAuth.Handler = (_, _, _) => Task.FromResult(FakeOAuthClient.Fail(TokenErrorKind.RateLimited, TimeSpan.FromHours(1)));
        var service = rig.NewService();

        var outcome = Assert.IsType<TokenOutcome.ProviderUnavailable>(await service.GetAccessTokenAsync(RefreshRig.Id, false, default));

        Assert.Equal(TimeSpan.FromHours(1), outcome.RetryAfter);
        Assert.Equal(rig.Now.AddHours(1), rig.Stored().NextRefreshAt);

        rig.Time.Advance(TimeSpan.FromMinutes(10));
        var later = Assert.IsType<TokenOutcome.ProviderUnavailable>(await service.GetAccessTokenAsync(RefreshRig.Id, false, default));
        Assert.Equal(TimeSpan.FromMinutes(50), later.RetryAfter);
        Assert.Equal(1, rig.OAuth.Calls);

        rig.Time.Advance(TimeSpan.FromMinutes(50));
        rig.OAuth.Handler = (n, _, _) => Task.FromResult(FakeOAuthClient.Ok(n));
        OutcomeAssert.Success(await service.GetAccessTokenAsync(RefreshRig.Id, false, default));
        Assert.Null(rig.Stored().StatusReason);
    }

    [Fact]
    public async Task RetryAfterShorterThanBackoff_DoesNotShortenIt()
    {
        using var rig = new RefreshRig();
        rig.Add(Expired);
        rig.OAuth.Handler = (_, _, _) => Task.FromResult(FakeOAuthClient.Fail(TokenErrorKind.RateLimited, TimeSpan.FromSeconds(1)));

        await rig.NewService().GetAccessTokenAsync(RefreshRig.Id, false, default);

        Assert.True(rig.Stored().NextRefreshAt >= rig.Now + rig.Options.BackoffBase);
    }

    [Fact]
    public async Task Timeout_IsAnUnknownOutcome_KeepsTheOldRefreshToken_ThenInvalidGrantSaysSo()
    {
        using var rig = new RefreshRig();
        rig.Add(Expired);
        rig.OAuth.Handler = async (_, _, ct) =>
        {
            await Task.Delay(Timeout.InfiniteTimeSpan, ct);
            throw new InvalidOperationException("unreachable");
        };
        var service = rig.NewService();

        var pending = service.GetAccessTokenAsync(RefreshRig.Id, false, default);
        await rig.OAuth.Started.Task;
        rig.Time.Advance(rig.Options.ProviderTimeout);
        var outcome = Assert.IsType<TokenOutcome.ProviderUnavailable>(await pending);

        Assert.True(outcome.TimedOut);
        var stored = rig.Stored();
        Assert.Equal(ConnectionStatus.Active, stored.Status);
        Assert.Equal("refresh_outcome_unknown", stored.StatusReason);
        Assert.Equal(new Secret("rt-0"), stored.RefreshToken);
        Assert.Equal(1, stored.RefreshFailures);

        // The provider had rotated the token during the lost call: the old one is now refused.
        rig.Time.Advance(rig.Options.BackoffMax + rig.Options.Jitter);
        rig.OAuth.Handler = (_, _, _) => Task.FromResult(FakeOAuthClient.Fail(TokenErrorKind.InvalidGrant));
        var dead = Assert.IsType<TokenOutcome.ReauthRequired>(await service.GetAccessTokenAsync(RefreshRig.Id, false, default));

        Assert.Equal("refresh_outcome_unknown", dead.Reason);
        Assert.Equal("refresh_outcome_unknown", rig.Stored().StatusReason);
        Assert.Equal(["rt-0", "rt-0"], rig.OAuth.RefreshTokensSeen.ToArray());
    }

    [Fact]
    public async Task TimeoutReportedByTheClient_ThenSuccess_ClearsTheUnknownMark()
    {
        using var rig = new RefreshRig();
        rig.Add(Expired);
        rig.OAuth.Handler = (_, _, _) => Task.FromResult(FakeOAuthClient.Fail(TokenErrorKind.Timeout));
        var service = rig.NewService();

        Assert.True(Assert.IsType<TokenOutcome.ProviderUnavailable>(await service.GetAccessTokenAsync(RefreshRig.Id, false, default)).TimedOut);
        rig.OAuth.Handler = (_, _, _) => Task.FromResult(FakeOAuthClient.Fail(TokenErrorKind.Transient));
        await service.GetAccessTokenAsync(RefreshRig.Id, false, default);
        Assert.Equal("refresh_outcome_unknown", rig.Stored().StatusReason);

        rig.OAuth.Handler = (n, _, _) => Task.FromResult(FakeOAuthClient.Ok(n, refreshToken: "rt-new"));
        OutcomeAssert.Success(await service.GetAccessTokenAsync(RefreshRig.Id, false, default));
        Assert.Null(rig.Stored().StatusReason);
        Assert.Equal(0, rig.Stored().RefreshFailures);
        Assert.Equal(new Secret("rt-new"), rig.Stored().RefreshToken);
    }

    [Fact]
    public async Task AnotherNodesFailureMeanwhile_IsNotRetriedImmediately()
    {
        using var rig = new RefreshRig();
        var observed = rig.Add(Expired);
        rig.Store.TryWrite(observed with { RefreshFailures = 1, NextRefreshAt = rig.Now.AddSeconds(40) });

        var outcome = Assert.IsType<TokenOutcome.ProviderUnavailable>(
            await rig.NewCoordinator().RefreshAsync(RefreshRig.Id, RefreshReason.Expiring, observed, default));

        Assert.Equal(TimeSpan.FromSeconds(40), outcome.RetryAfter);
        Assert.Equal(0, rig.OAuth.Calls);
    }

    [Fact]
    public async Task ByocCredential_IsUsed_AndAMissingOne_IsNoClient_WithoutAProviderCall()
    {
        using var rig = new RefreshRig();
        await rig.Credentials.CreateAsync(new Credential { Id = "cred_1", OrgId = "default", Provider = "acme", ClientId = "byoc-client" }, default);
        rig.Add(Expired, tweak: c => c with { CredentialId = "cred_1" });
        rig.Add(Expired, id: "conn_2", tweak: c => c with { CredentialId = "cred_gone" });
        var service = rig.NewService();

        OutcomeAssert.Success(await service.GetAccessTokenAsync(RefreshRig.Id, false, default));
        var missing = Assert.IsType<TokenOutcome.ReauthRequired>(await service.GetAccessTokenAsync("conn_2", false, default));

        Assert.Equal("byoc-client", Assert.Single(rig.OAuth.ClientsSeen).ClientId);
        Assert.Equal("no_client", missing.Reason);
        Assert.Equal(ConnectionStatus.Active, rig.Stored("conn_2").Status); // configuration can be fixed; not persisted
    }

    [Fact]
    public async Task ByocCredential_IsReadBeforeTheLease_NotWhileItHoldsAPooledConnection()
    {
        using var rig = new RefreshRig();
        await rig.Credentials.CreateAsync(new Credential { Id = "cred_1", OrgId = "default", Provider = "acme", ClientId = "byoc-client" }, default);
        rig.Credentials.LeaseHeld = () => rig.Locks.Held > 0;
        var observed = rig.Add(Expired, tweak: c => c with { CredentialId = "cred_1" });

        OutcomeAssert.Success(await rig.NewCoordinator().RefreshAsync(RefreshRig.Id, RefreshReason.Expiring, observed, default));

        Assert.Equal("byoc-client", Assert.Single(rig.OAuth.ClientsSeen).ClientId);
        Assert.Equal(0, rig.Credentials.ReadsUnderLease);
    }

    [Fact]
    public async Task ClientCredentials_ThisNodesMissingClientOrProvider_IsAnswered_NeverPersisted()
    {
        using var rig = new RefreshRig();
        rig.Catalog = new FakeCatalog(new Valet.Core.Providers.ProviderDefinition
        {
            Id = "acme", DisplayName = "Acme", AuthMode = Valet.Core.Providers.AuthMode.OAuth2ClientCredentials, TokenEndpoint = new Uri("https://acme.test/token"),
        });
        rig.Add(Expired, tweak: c => c with { RefreshToken = null });
        rig.Add(Expired, id: "conn_2", tweak: c => c with { RefreshToken = null, Provider = "not-on-this-node" });
        var service = rig.NewService();

        var noClient = Assert.IsType<TokenOutcome.ReauthRequired>(await service.GetAccessTokenAsync(RefreshRig.Id, false, default));
        var unknown = Assert.IsType<TokenOutcome.ReauthRequired>(await service.GetAccessTokenAsync("conn_2", false, default));

        Assert.Equal("no_client", noClient.Reason);
        Assert.Equal("unknown_provider", unknown.Reason);
        Assert.Equal(0, rig.OAuth.Calls);
        Assert.Equal(ConnectionStatus.Active, rig.Stored(RefreshRig.Id).Status); // another node, or this one fixed, can still renew it
        Assert.Equal(ConnectionStatus.Active, rig.Stored("conn_2").Status);
    }

    [Fact]
    public async Task ProviderWithoutPlatformClient_IsNoClient()
    {
        using var rig = new RefreshRig();
        rig.Catalog = new FakeCatalog(new Valet.Core.Providers.ProviderDefinition { Id = "acme", DisplayName = "Acme" });
        rig.Add(Expired);

        var outcome = Assert.IsType<TokenOutcome.ReauthRequired>(await rig.NewService().GetAccessTokenAsync(RefreshRig.Id, false, default));

        Assert.Equal("no_client", outcome.Reason);
        Assert.Equal(0, rig.OAuth.Calls);
    }

    [Fact]
    public async Task NoRefreshToken_ExpiredIsPersistedDead_ForcedIsToldButNotPersisted()
    {
        using var rig = new RefreshRig();
        rig.Add(TimeSpan.FromHours(1), tweak: c => c with { RefreshToken = null });
        rig.Add(Expired, id: "conn_2", tweak: c => c with { RefreshToken = null });
        var service = rig.NewService();

        var forced = Assert.IsType<TokenOutcome.ReauthRequired>(await service.GetAccessTokenAsync(RefreshRig.Id, true, default));
        var expired = Assert.IsType<TokenOutcome.ReauthRequired>(await service.GetAccessTokenAsync("conn_2", false, default));

        Assert.Equal("no_refresh_token", forced.Reason);
        Assert.Equal(ConnectionStatus.Active, rig.Stored().Status);
        Assert.Equal("no_refresh_token", expired.Reason);
        Assert.Equal(ConnectionStatus.ReauthRequired, rig.Stored("conn_2").Status);
        Assert.Equal(0, rig.OAuth.Calls);
    }
}
