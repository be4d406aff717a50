using Valet.Core.Domain;
using Valet.Core.Stores;

namespace Valet.Tests.Storage;

public abstract partial class StoreSuite
{
    [Fact]
    public async Task Orgs_CreateFindListAndSetHeadless_RoundTrip()
    {
        var node = await StartNodeAsync();
        var createdAt = new DateTimeOffset(2030, 1, 2, 3, 4, 5, TimeSpan.Zero).AddTicks(6_789_123);

        await node.Orgs.CreateAsync(new Org { Id = "acme", Name = "Acme", CreatedAt = createdAt }, None);
        await node.Orgs.EnsureAsync(new Org { Id = "default", Name = "Default" }, None);
        await node.Orgs.EnsureAsync(new Org { Id = "default", Name = "Other name" }, None);
        var headless = await node.Orgs.SetHeadlessAsync("acme", true, None);

        var found = await node.Orgs.FindAsync("acme", None);
        Assert.NotNull(found);
        Assert.True(found.Headless);
        Assert.Equal(createdAt.AddTicks(-(createdAt.Ticks % TimeSpan.TicksPerMillisecond)), found.CreatedAt);
        Assert.Equal(found, headless);
        Assert.Equal(["acme", "default"], (await ToListAsync(node.Orgs.ListAsync(None))).Select(o => o.Id));
        Assert.Equal("Default", (await node.Orgs.FindAsync("default", None))!.Name);
        Assert.Null(await node.Orgs.FindAsync("nope", None));
        Assert.Null(await node.Orgs.SetHeadlessAsync("nope", true, None));
    }

    [Fact]
    public async Task Orgs_CreateDuplicate_ThrowsConflict()
    {
        var node = await StartWithOrgAsync();

        await Assert.ThrowsAsync<StoreConflictException>(() => node.Orgs.CreateAsync(new Org { Id = Org, Name = "Again" }, None));
    }

    [Fact]
    public async Task Orgs_DefaultConnection_SetsSwitchesAndRejectsUnknown()
    {
        var node = await StartWithOrgAsync();
        var (first, _) = await node.Connections.UpsertAsync(NewConnection("1"), None);
        var (second, _) = await node.Connections.UpsertAsync(NewConnection("2"), None);

        await node.Orgs.SetDefaultConnectionAsync(Org, "github", first.Id, None);
        await node.Orgs.SetDefaultConnectionAsync(Org, "github", second.Id, None);

        Assert.Equal(second.Id, await node.Orgs.FindDefaultConnectionAsync(Org, "github", None));
        Assert.NotNull(await node.Connections.FindAsync(first.Id, None));
        Assert.Null(await node.Orgs.FindDefaultConnectionAsync(Org, "gitlab", None));
        await Assert.ThrowsAsync<StoreConflictException>(() => node.Orgs.SetDefaultConnectionAsync(Org, "github", "conn_unknown", None));
    }

    [Fact]
    public async Task Credentials_CreateFindListDelete_SecretRoundTrips()
    {
        var node = await StartWithOrgAsync();
        var credential = new Credential
        {
            Id = Ids.New("cred"), OrgId = Org, Provider = "github", ClientId = "Iv1.abc", ClientSecret = new Secret("client-secret-value"),
        };
        var noSecret = new Credential { Id = Ids.New("cred"), OrgId = Org, Provider = "gitlab", ClientId = "public-client" };

        await node.Credentials.CreateAsync(credential, None);
        await node.Credentials.CreateAsync(noSecret, None);

        var found = await node.Credentials.FindAsync(credential.Id, None);
        Assert.Equal("client-secret-value", found!.ClientSecret!.Value.Reveal());
        Assert.Null((await node.Credentials.FindAsync(noSecret.Id, None))!.ClientSecret);
        Assert.Equal(2, (await ToListAsync(node.Credentials.ListAsync(Org, None))).Count);
        await Assert.ThrowsAsync<StoreConflictException>(() => node.Credentials.CreateAsync(credential, None));
        Assert.True(await node.Credentials.DeleteAsync(credential.Id, None));
        Assert.False(await node.Credentials.DeleteAsync(credential.Id, None));
        Assert.Null(await node.Credentials.FindAsync(credential.Id, None));
    }

    [Fact]
    public async Task Credentials_DeleteWhilePinnedByConnection_ThrowsConflict()
    {
        var node = await StartWithOrgAsync();
        var credential = new Credential { Id = Ids.New("cred"), OrgId = Org, Provider = "github", ClientId = "Iv1.abc" };
        await node.Credentials.CreateAsync(credential, None);
        await node.Connections.UpsertAsync(NewConnection("1") with { CredentialId = credential.Id }, None);

        await Assert.ThrowsAsync<StoreConflictException>(() => node.Credentials.DeleteAsync(credential.Id, None));
    }

    [Fact]
    public async Task Connections_Upsert_RoundTripsEveryFieldToTheMillisecond()
    {
        var node = await StartWithOrgAsync();
        var at = new DateTimeOffset(2031, 5, 6, 7, 8, 9, TimeSpan.FromHours(2)).AddTicks(1_234_567);
        var connection = NewConnection("42") with
        {
            AccountEmail = "a@example.com", TokenType = "bearer", ExpiresAt = at, LastRefreshedAt = at, NextRefreshAt = at,
            Status = ConnectionStatus.ReauthRequired, StatusReason = "invalid_grant", ApiBaseUrl = "https://acme.my.salesforce.com",
            RefreshFailures = 3, Scopes = null, Parameters = new Dictionary<string, string> { ["subdomain"] = "acme", ["tenant"] = "t-1" },
        };

        var (stored, created) = await node.Connections.UpsertAsync(connection, None);
        var found = await node.Connections.FindAsync(connection.Id, None);

        Assert.True(created);
        AssertSame(stored, found!);
        Assert.Equal(connection.Id, found!.Id);
        Assert.Equal(connection.AccessToken, found.AccessToken);
        Assert.Equal(connection.RefreshToken, found.RefreshToken);
        Assert.Null(found.Scopes);
        Assert.Equal(1, found.Version);
        var ms = at.AddTicks(-(at.Ticks % TimeSpan.TicksPerMillisecond));
        Assert.Equal(ms, found.ExpiresAt);
        Assert.Equal(ms, found.LastRefreshedAt);
        Assert.Equal(ms, found.NextRefreshAt);
        Assert.Equal((ConnectionStatus.ReauthRequired, "invalid_grant", 3), (found.Status, found.StatusReason, found.RefreshFailures));
        Assert.Equal(("a@example.com", "bearer", "https://acme.my.salesforce.com"), (found.AccountEmail, found.TokenType, found.ApiBaseUrl));
        Assert.Equal(connection.Parameters, found.Parameters);
        AssertSame(found, (await node.Connections.FindByAccountAsync(Org, "github", "42", None))!);
    }

    [Fact]
    public async Task Connections_UpsertSameAccount_UpdatesAndKeepsIdAndCreatedAt()
    {
        var node = await StartWithOrgAsync();
        var (first, _) = await node.Connections.UpsertAsync(NewConnection("7"), None);

        var again = NewConnection("7") with { Scopes = ["repo", "gist"], RefreshToken = null };
        var (second, created) = await node.Connections.UpsertAsync(again, None);

        Assert.False(created);
        Assert.Equal(first.Id, second.Id);
        Assert.Equal(first.CreatedAt, second.CreatedAt);
        Assert.Equal(first.Version + 1, second.Version);
        Assert.Equal(again.AccessToken, second.AccessToken);
        Assert.Equal(first.RefreshToken, second.RefreshToken); // a grant without a refresh token keeps the stored one
        Assert.Equal(["repo", "gist"], second.Scopes!);
        Assert.Single(await ToListAsync(node.Connections.ListAsync(Org, None)));
        Assert.Null(await node.Connections.FindAsync(again.Id, None));
    }

    [Fact]
    public async Task Connections_UpsertUnderAnotherClientWithoutARefreshToken_KeepsNoneOfTheOtherClients()
    {
        // A refresh token is bound to the client it was issued to (RFC 6749 §6): kept across a change of client, the
        // next refresh would present client A's token with client B's credentials and get invalid_grant.
        var node = await StartWithOrgAsync();
        var other = new Credential { Id = Ids.New("cred"), OrgId = Org, Provider = "github", ClientId = "Iv1.other" };
        await node.Credentials.CreateAsync(other, None);
        var (first, _) = await node.Connections.UpsertAsync(NewConnection("8"), None);
        Assert.NotNull(first.RefreshToken);

        var (moved, _) = await node.Connections.UpsertAsync(NewConnection("8") with { CredentialId = other.Id, RefreshToken = null }, None);
        Assert.Equal((first.Id, other.Id), (moved.Id, moved.CredentialId));
        Assert.Null(moved.RefreshToken);
        Assert.Null((await node.Connections.FindAsync(first.Id, None))!.RefreshToken);

        // Under the same (new) client, a grant without one keeps the one that client was given.
        await node.Connections.UpsertAsync(NewConnection("8") with { CredentialId = other.Id, RefreshToken = new Secret("rt-of-other") }, None);
        var (again, _) = await node.Connections.UpsertAsync(NewConnection("8") with { CredentialId = other.Id, RefreshToken = null }, None);
        Assert.Equal("rt-of-other", again.RefreshToken!.Value.Reveal());
    }

    [Fact]
    public async Task Connections_UpsertOtherAccountOrProvider_AddsRows()
    {
        var node = await StartWithOrgAsync();

        await node.Connections.UpsertAsync(NewConnection("1"), None);
        var (_, createdOther) = await node.Connections.UpsertAsync(NewConnection("2"), None);
        var (_, createdProvider) = await node.Connections.UpsertAsync(NewConnection("1", provider: "gitlab"), None);

        Assert.True(createdOther);
        Assert.True(createdProvider);
        Assert.Equal(3, (await ToListAsync(node.Connections.ListAsync(Org, None))).Count);
    }

    [Fact]
    public async Task Connections_Update_IsOptimisticOnVersion()
    {
        var node = await StartWithOrgAsync();
        var (stored, _) = await node.Connections.UpsertAsync(NewConnection("1"), None);

        var updated = await node.Connections.UpdateAsync(stored with { AccessToken = new Secret("new-access"), RefreshFailures = 1 }, None);
        var stale = await node.Connections.UpdateAsync(stored with { AccessToken = new Secret("lost-update") }, None);
        var gone = await node.Connections.UpdateAsync(stored with { Id = "conn_missing" }, None);

        Assert.NotNull(updated);
        Assert.Equal(stored.Version + 1, updated.Version);
        Assert.Null(stale);
        Assert.Null(gone);
        var found = await node.Connections.FindAsync(stored.Id, None);
        Assert.Equal("new-access", found!.AccessToken.Reveal());
        Assert.Equal(1, found.RefreshFailures);
    }

    [Fact]
    public async Task Connections_Delete_RemovesManagedTargetsAndDefaultPointers()
    {
        var node = await StartWithOrgAsync();
        var (doomed, _) = await node.Connections.UpsertAsync(NewConnection("1", provider: "microsoft"), None);
        var (kept, _) = await node.Connections.UpsertAsync(NewConnection("2", provider: "microsoft"), None);
        foreach (var (connection, name) in new[] { (doomed, "mail"), (doomed, "calendar"), (kept, "mail") })
        {
            await node.Targets.CreateAsync(new Target
            {
                Id = Ids.New("tgt"), OrgId = Org, ConnectionId = connection.Id, Name = name, Provider = "microsoft", Managed = true,
                BaseUrl = "https://graph.microsoft.com/v1.0",
            }, None);
        }

        await node.Orgs.SetDefaultConnectionAsync(Org, "microsoft", doomed.Id, None);

        Assert.True(await node.Connections.DeleteAsync(doomed.Id, None));

        Assert.False(await node.Connections.DeleteAsync(doomed.Id, None));
        Assert.Null(await node.Connections.FindAsync(doomed.Id, None));
        Assert.Empty(await ToListAsync(node.Targets.ListByConnectionAsync(doomed.Id, None)));
        Assert.Single(await ToListAsync(node.Targets.ListAsync(Org, None)));
        Assert.Null(await node.Orgs.FindDefaultConnectionAsync(Org, "microsoft", None));
    }

    [Fact]
    public async Task Targets_CreateFindListDelete_AndNameIsUniquePerConnection()
    {
        var node = await StartWithOrgAsync();
        var (connection, _) = await node.Connections.UpsertAsync(NewConnection("1", provider: "microsoft"), None);
        var target = new Target
        {
            Id = Ids.New("tgt"), OrgId = Org, ConnectionId = connection.Id, Name = "mail", Provider = "microsoft", Managed = true,
            BaseUrl = "https://graph.microsoft.com/v1.0", RequiredScopes = ["Mail.Read"],
        };

        await node.Targets.CreateAsync(target, None);

        var found = await node.Targets.FindAsync(target.Id, None);
        Assert.Equal(target.RequiredScopes, found!.RequiredScopes);
        Assert.Equal((target.Name, target.Managed, target.BaseUrl), (found.Name, found.Managed, found.BaseUrl));
        await Assert.ThrowsAsync<StoreConflictException>(() => node.Targets.CreateAsync(target with { Id = Ids.New("tgt") }, None));
        await Assert.ThrowsAsync<StoreConflictException>(() => node.Targets.CreateAsync(target with { Id = Ids.New("tgt"), ConnectionId = "conn_unknown" }, None));
        Assert.Single(await ToListAsync(node.Targets.ListAsync(Org, None)));
        Assert.True(await node.Targets.DeleteAsync(target.Id, None));
        Assert.Null(await node.Targets.FindAsync(target.Id, None));
    }

    [Fact]
    public async Task ApiKeys_CreateFindSetPermissionsDelete_AndPrefixIsUnique()
    {
        var node = await StartWithOrgAsync();
        var key = new ApiKey
        {
            Id = Ids.New("key"), OrgId = Org, Name = "agent", Prefix = "vk_" + Ids.RandomString(8), Hash = [1, 2, 3, 4],
            Permissions = [new Permission(PermissionKind.Connection, "conn_1"), new Permission(PermissionKind.Provider, "github")],
        };

        await node.Keys.CreateAsync(key, None);

        var byPrefix = await node.Keys.FindByPrefixAsync(key.Prefix, None);
        Assert.Equal(key.Permissions, byPrefix!.Permissions);
        Assert.Equal(key.Hash, byPrefix.Hash);
        Assert.Equal(byPrefix.Id, (await node.Keys.FindAsync(key.Id, None))!.Id);
        await Assert.ThrowsAsync<StoreConflictException>(() => node.Keys.CreateAsync(key with { Id = Ids.New("key") }, None));
        var changed = await node.Keys.SetPermissionsAsync(key.Id, [new Permission(PermissionKind.Target, "tgt_1")], None);
        Assert.Equal([new Permission(PermissionKind.Target, "tgt_1")], changed!.Permissions);
        Assert.Null(await node.Keys.SetPermissionsAsync("key_unknown", [], None));
        Assert.Single(await ToListAsync(node.Keys.ListAsync(Org, None)));
        Assert.True(await node.Keys.DeleteAsync(key.Id, None));
        Assert.Null(await node.Keys.FindByPrefixAsync(key.Prefix, None));
    }

    [Fact]
    public async Task ApiKeys_RecordUse_ShowsInFindAndList_NeverMovesBack_AndIgnoresADeletedKey()
    {
        var node = await StartWithOrgAsync();
        var key = new ApiKey { Id = Ids.New("key"), OrgId = Org, Name = "agent", Prefix = "vk_" + Ids.RandomString(8), Hash = [1], Permissions = [] };
        await node.Keys.CreateAsync(key, None);
        Assert.Null((await node.Keys.FindAsync(key.Id, None))!.LastUsedAt);

        var at = DateTimeOffset.FromUnixTimeMilliseconds(1_790_000_000_123);
        await node.Keys.RecordUseAsync(key.Id, at, None);
        await node.Keys.RecordUseAsync(key.Id, at.AddMinutes(-5), None); // another node's older stamp, arriving late

        Assert.Equal(at, (await node.Keys.FindAsync(key.Id, None))!.LastUsedAt);
        Assert.Equal(at, Assert.Single(await ToListAsync(node.Keys.ListAsync(Org, None))).LastUsedAt);
        Assert.Equal(at, (await node.Keys.SetPermissionsAsync(key.Id, [], None))!.LastUsedAt);
        await node.Keys.RecordUseAsync(key.Id, at.AddMinutes(1), None);
        Assert.Equal(at.AddMinutes(1), (await node.Keys.FindAsync(key.Id, None))!.LastUsedAt);

        // Revoked: its stamp goes with it, and a use recorded afterwards (a request that was in flight) is no error and
        // writes nothing. (An UPDATE that touches nothing counts the stamp rows without changing them.)
        const string countStamps = "UPDATE api_key_usage SET last_used_at = last_used_at WHERE key_id = @id";
        Assert.Equal(1, await node.ExecuteRawAsync(countStamps, new { id = key.Id }));
        Assert.True(await node.Keys.DeleteAsync(key.Id, None));
        Assert.Equal(0, await node.ExecuteRawAsync(countStamps, new { id = key.Id }));
        await node.Keys.RecordUseAsync(key.Id, at.AddMinutes(2), None);
        Assert.Equal(0, await node.ExecuteRawAsync(countStamps, new { id = key.Id }));
        Assert.Null(await node.Keys.FindAsync(key.Id, None));
        Assert.Empty(await ToListAsync(node.Keys.ListAsync(Org, None)));
    }

    [Fact]
    public async Task Audit_AppendMany_StoresEveryEventInOrder_WithNullsAndEveryField_AsyncAndSync()
    {
        var node = await StartWithOrgAsync();
        var at = DateTimeOffset.FromUnixTimeMilliseconds(1_790_000_000_123);
        var events = Enumerable.Range(0, 300).Select(i => i % 3 == 0
            ? new AuditEvent { OrgId = Org, Kind = "proxy.request", At = at.AddMilliseconds(i) }
            : new AuditEvent
            {
                OrgId = Org, Kind = "proxy.request", KeyId = "key_" + i, ConnectionId = "conn_" + i, TargetId = "tgt_é_" + i, Method = "POST",
                Path = "/repos/ü?page&q", Status = 200 + (i % 300), DurationMs = i, BytesIn = 1L << 40, BytesOut = i * 10L, Detail = "retried_after_401",
                At = at.AddMilliseconds(i),
            }).ToList();

        // The async path (a batch: COPY on PostgreSQL), then the writer's synchronous one: a single event (one INSERT on
        // PostgreSQL) and a batch (COPY) again.
        await node.Audit.AppendManyAsync(events[..150], None);
        node.Audit.AppendMany(events[150..151]);
        node.Audit.AppendMany(events[151..]);

        var stored = (await node.Audit.ListAsync(Org, null, 500, None)).Reverse().ToList();
        Assert.Equal(events.Count, stored.Count);
        for (var i = 0; i < events.Count; i++)
        {
            Assert.Equal(events[i], stored[i] with { Id = 0 });
        }
    }

    [Fact]
    public async Task Audit_AppendMany_KeepsEdgeValues_LongMultibyteText_ExtremeNumbers_Pre2000Times_LoneSurrogatesAndNul()
    {
        // PostgreSQL's batch is encoded by Valet in the binary COPY format (PgBinaryRows): lengths, byte order, NULLs,
        // the 2000-01-01 epoch and the buffer growing past its first guess must all come back as they went in.
        var node = await StartWithOrgAsync();
        var longPath = "/" + string.Concat(Enumerable.Repeat("ü€𝄞/", 700));
        var events = new List<AuditEvent>
        {
            new()
            {
                OrgId = Org, Kind = "proxy.request", Path = longPath, Status = int.MinValue, DurationMs = long.MinValue, BytesIn = long.MaxValue,
                BytesOut = 0, At = new DateTimeOffset(1999, 12, 31, 23, 59, 59, 999, TimeSpan.Zero),
            },
            new() { OrgId = Org, Kind = "proxy.request", Status = int.MaxValue, Detail = "", Method = "", At = DateTimeOffset.FromUnixTimeMilliseconds(0) },
            new() { OrgId = Org, Kind = "proxy.request", Detail = "half \ud800 a pair", At = new DateTimeOffset(2999, 1, 2, 3, 4, 5, 6, TimeSpan.Zero) },
            new() { OrgId = Org, Kind = "proxy.request", Detail = "nul \0 inside", At = DateTimeOffset.FromUnixTimeMilliseconds(1) },
        };

        node.Audit.AppendMany(events);
        var single = new AuditEvent { OrgId = Org, Kind = "proxy.request", Path = "/x\udc00\0", At = events[0].At }; // one event: an INSERT on PostgreSQL
        node.Audit.AppendMany([single]);

        var stored = (await node.Audit.ListAsync(Org, null, 10, None)).Reverse().ToList();
        Assert.Equal(5, stored.Count);
        Assert.Equal(single with { Path = Target.IsPostgres ? "/x\ufffd\ufffd" : "/x\ufffd\0" }, stored[4] with { Id = 0 });
        Assert.Equal(events[0], stored[0] with { Id = 0 });
        Assert.Equal(events[1], stored[1] with { Id = 0 });
        Assert.Equal(events[2] with { Detail = "half \ufffd a pair" }, stored[2] with { Id = 0 }); // as UTF-8 can carry it, not a lost batch

        // U+0000: SQLite keeps it; PostgreSQL's text cannot hold it, so it is replaced there rather than the batch refused.
        Assert.Equal(events[3] with { Detail = Target.IsPostgres ? "nul \ufffd inside" : "nul \0 inside" }, stored[3] with { Id = 0 });
    }

    [Fact]
    public async Task Audit_ListsNewestFirstAndPagesByIdPerOrg()
    {
        var node = await StartWithOrgAsync();
        for (var i = 0; i < 25; i++)
        {
            await node.Audit.AppendAsync(new AuditEvent { OrgId = Org, Kind = "proxy.request", Status = 200 + i, Method = "GET", Path = "/user" }, None);
        }

        await node.Audit.AppendAsync(new AuditEvent { OrgId = "other", Kind = "connection.created" }, None);

        var first = await node.Audit.ListAsync(Org, null, 10, None);
        var second = await node.Audit.ListAsync(Org, first[^1].Id, 10, None);
        var third = await node.Audit.ListAsync(Org, second[^1].Id, 10, None);

        Assert.Equal(224, first[0].Status);
        Assert.Equal(10, second.Count);
        Assert.Equal(5, third.Count);
        Assert.Equal(200, third[^1].Status);
        var all = first.Concat(second).Concat(third).Select(e => e.Id).ToList();
        Assert.Equal(all.OrderByDescending(id => id), all);
        Assert.Equal(25, all.Distinct().Count());
    }
}
