using System.Collections.Concurrent;
using Valet.Core.Domain;
using Valet.Core.Stores;

namespace Valet.Tests.Storage;

public abstract partial class StoreSuite
{
    [Fact]
    public async Task Migrations_AreSafeOnEveryBootAndFromSeveralNodesAtOnce()
    {
        var nodes = await Task.WhenAll(Enumerable.Range(0, 3).Select(_ => StartNodeAsync()));
        var again = await StartNodeAsync();

        await again.Orgs.EnsureAsync(new Org { Id = "default", Name = "Default" }, None);
        Assert.NotNull(await nodes[0].Orgs.FindAsync("default", None));
    }

    [Fact]
    public async Task ClaimDue_TwoConcurrentClaimers_NeverGetTheSameConnection()
    {
        var node = await StartWithOrgAsync();
        var other = await StartNodeAsync();
        var now = DateTimeOffset.UtcNow;
        var due = new Dictionary<string, DateTimeOffset>();
        for (var i = 0; i < 120; i++)
        {
            var (stored, _) = await node.Connections.UpsertAsync(NewConnection($"due-{i}") with { NextRefreshAt = now.AddMinutes(-i % 7) }, None);
            due.Add(stored.Id, stored.NextRefreshAt!.Value);
        }

        await node.Connections.UpsertAsync(NewConnection("later") with { NextRefreshAt = now.AddHours(1) }, None);
        await node.Connections.UpsertAsync(NewConnection("never") with { NextRefreshAt = null }, None);
        await node.Connections.UpsertAsync(NewConnection("dead") with { NextRefreshAt = now.AddHours(-1), Status = ConnectionStatus.ReauthRequired }, None);

        var claims = new ConcurrentBag<(int Claimer, string Id)>();
        await Task.WhenAll(new[] { node, other, node, other }.Select((n, claimer) => Task.Run(async () =>
        {
            while (true)
            {
                var batch = await n.Connections.ClaimDueAsync(now, now.AddMinutes(5), 7, None);
                if (batch.Count == 0)
                {
                    return;
                }

                foreach (var c in batch)
                {
                    // Returned with the time it was due (the refresher's lag is measured from it), not the lease.
                    Assert.Equal(due[c.Id], c.NextRefreshAt);
                    claims.Add((claimer, c.Id));
                }
            }
        })));

        var ids = claims.Select(c => c.Id).ToList();
        Assert.Equal(ids.Count, ids.Distinct().Count());
        Assert.True(due.Keys.ToHashSet().SetEquals(ids));
        // The lease is what was stored: nothing is due again before it ends.
        Assert.Empty(await node.Connections.ClaimDueAsync(now.AddMinutes(4), now.AddMinutes(10), 50, None));
    }

    [Fact]
    public async Task Leases_FromTwoNodes_SerializeAndTheSecondSeesTheFirstsCommit()
    {
        var nodeA = await StartWithOrgAsync();
        var nodeB = await StartNodeAsync();
        var (stored, _) = await nodeA.Connections.UpsertAsync(NewConnection("1"), None);

        await using var leaseA = await nodeA.Locks.AcquireAsync(stored.Id, None);
        var waitingB = nodeB.Locks.AcquireAsync(stored.Id, None);
        await Task.Delay(400);
        Assert.False(waitingB.IsCompleted, "the second node must wait for the first lease");

        var committed = await leaseA!.CommitAsync(
            leaseA.Connection with { AccessToken = new Secret("rotated-access"), RefreshToken = new Secret("rotated-refresh") }, None);
        await using var leaseB = await waitingB.WaitAsync(TimeSpan.FromSeconds(10));

        Assert.Equal(stored.Version + 1, committed.Version);
        Assert.Equal(committed.Version, leaseB!.Connection.Version);
        Assert.Equal("rotated-refresh", leaseB.Connection.RefreshToken!.Value.Reveal());
        var second = await leaseB.CommitAsync(leaseB.Connection with { RefreshFailures = 0 }, None);
        Assert.Equal(stored.Version + 2, second.Version);
    }

    [Fact]
    public async Task Lease_AReconnectDuringTheRefresh_Wins_AndADeleteStaysDeleted_OnEitherBackend()
    {
        var node = await StartWithOrgAsync();
        var (stored, _) = await node.Connections.UpsertAsync(NewConnection("1"), None);

        // A reconnect lands while a refresh holds the lease. PostgreSQL makes it wait for the row lock, so the refresh
        // commits first and the reconnect then overwrites it; SQLite's lease is in-process and the reconnect does not
        // wait, so the refresh's commit must yield to the newer grant. Either way the newer grant is what stays.
        var lease = await node.Locks.AcquireAsync(stored.Id, None);
        var reconnect = node.Connections.UpsertAsync(NewConnection("1") with
        {
            AccessToken = new Secret("new-grant-access"), RefreshToken = new Secret("new-grant-refresh"), Scopes = ["repo", "read:user", "admin:org"],
        }, None);
        await CommitsAfterAsync(reconnect, lease!, lease!.Connection with { AccessToken = new Secret("old-grant-access-2"), RefreshToken = new Secret("old-grant-refresh-2") },
            replaced => Assert.Equal("new-grant-refresh", replaced!.RefreshToken!.Value.Reveal()));
        var final = await node.Connections.FindAsync(stored.Id, None);
        Assert.Equal("new-grant-refresh", final!.RefreshToken!.Value.Reveal());
        Assert.Contains("admin:org", final.Scopes!);

        // A bookkeeping write meanwhile (the refresher's schedule: same grant) does not stop the refresh from storing:
        // SQLite lands it at once and the commit still stores; PostgreSQL's waits, then finds the version moved and
        // writes nothing.
        var second = await node.Locks.AcquireAsync(stored.Id, None);
        var schedule = node.Connections.UpdateAsync(final with { NextRefreshAt = DateTimeOffset.UtcNow.AddMinutes(3) }, None);
        await CommitsAfterAsync(schedule, second!, second!.Connection with { RefreshToken = new Secret("rotated-after-reconnect") }, replaced: null);
        Assert.Equal("rotated-after-reconnect", (await node.Connections.FindAsync(stored.Id, None))!.RefreshToken!.Value.Reveal());

        // A new grant that keeps the refresh token (a client-credentials re-post, a provider that returns the same one):
        // a new access token is a new grant too.
        var fourth = await node.Locks.AcquireAsync(stored.Id, None);
        var repost = node.Connections.UpsertAsync(NewConnection("1") with
        {
            AccessToken = new Secret("reposted-access"), RefreshToken = new Secret("rotated-after-reconnect"), Scopes = ["repo", "workflow"],
        }, None);
        await CommitsAfterAsync(repost, fourth!, fourth!.Connection with { AccessToken = new Secret("stale-refresh-result"), Scopes = ["repo"] },
            replaced => Assert.Equal("reposted-access", replaced!.AccessToken.Reveal()));
        Assert.Contains("workflow", (await node.Connections.FindAsync(stored.Id, None))!.Scopes!);

        // A delete during the refresh: the row stays deleted (SQLite: the commit says so instead of failing).
        var third = await node.Locks.AcquireAsync(stored.Id, None);
        var delete = node.Connections.DeleteAsync(stored.Id, None);
        await CommitsAfterAsync(delete, third!, third!.Connection with { RefreshToken = new Secret("too-late") }, replaced => Assert.Null(replaced));
        Assert.True(await delete);
        Assert.Null(await node.Connections.FindAsync(stored.Id, None));
    }

    /// <summary>
    /// <paramref name="write"/> was started while <paramref name="lease"/> is held; the lease then commits
    /// <paramref name="refreshed"/>. PostgreSQL: the write must be waiting on the row lock (seen in
    /// <c>pg_stat_activity</c>, not guessed from a delay), the commit succeeds, then the write completes. SQLite: the write
    /// has landed already; the commit yields with <see cref="ConnectionReplacedException"/> when <paramref name="replaced"/>
    /// is given (its check gets the row that won), and stores when it is null (same grant).
    /// </summary>
    private async Task CommitsAfterAsync(Task write, IConnectionLease lease, Connection refreshed, Action<Connection?>? replaced)
    {
        if (Target.IsPostgres)
        {
            await WaitingOnALockAsync();
            Assert.False(write.IsCompleted, "the write must wait for the lease's row lock");
            await lease.CommitAsync(refreshed, None);
            await write.WaitAsync(TimeSpan.FromSeconds(10));
            return;
        }

        await write.WaitAsync(TimeSpan.FromSeconds(10));
        if (replaced is null)
        {
            await lease.CommitAsync(refreshed, None);
            return;
        }

        var thrown = await Assert.ThrowsAsync<ConnectionReplacedException>(() => lease.CommitAsync(refreshed, None));
        replaced(thrown.Current);
    }

    /// <summary>PostgreSQL: until some session of this test's database waits on a lock (10 s at most).</summary>
    private async Task WaitingOnALockAsync()
    {
        await using var db = new Npgsql.NpgsqlConnection(Target.ConnectionString);
        await db.OpenAsync();
        await using var query = new Npgsql.NpgsqlCommand(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock'", db);
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(10);
        while ((long)(await query.ExecuteScalarAsync())! == 0)
        {
            Assert.True(DateTime.UtcNow < deadline, "no session waited on the lease's row lock within 10 s");
            await Task.Delay(10);
        }
    }

    [Fact]
    public async Task Lease_DisposedWithoutCommit_ReleasesAndChangesNothing()
    {
        var node = await StartWithOrgAsync();
        var (stored, _) = await node.Connections.UpsertAsync(NewConnection("1"), None);

        await using (var lease = await node.Locks.AcquireAsync(stored.Id, None))
        {
            AssertSame(stored, lease!.Connection);
        }

        await using var next = await node.Locks.AcquireAsync(stored.Id, None).WaitAsync(TimeSpan.FromSeconds(10));
        AssertSame(stored, next!.Connection);
        Assert.Null(await node.Locks.AcquireAsync("conn_unknown", None));
    }

    [Fact]
    public async Task Lease_WhileHeld_PlainReadsAndOtherRowsAreNotBlocked()
    {
        var node = await StartWithOrgAsync();
        var (locked, _) = await node.Connections.UpsertAsync(NewConnection("1"), None);
        var (free, _) = await node.Connections.UpsertAsync(NewConnection("2"), None);

        await using var lease = await node.Locks.AcquireAsync(locked.Id, None);

        Assert.NotNull(await node.Connections.FindAsync(locked.Id, None).AsTask().WaitAsync(TimeSpan.FromSeconds(5)));
        await using var other = await node.Locks.AcquireAsync(free.Id, None).WaitAsync(TimeSpan.FromSeconds(5));
        Assert.Equal(free.Id, other!.Connection.Id);
    }

    private static DateTimeOffset Db(DateTimeOffset value) => Valet.Storage.Data.Db.Truncate(value);
}
