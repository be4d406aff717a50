using System.Net;
using System.Net.Http.Json;
using Microsoft.AspNetCore.Http;
using Valet.Core.Domain;
using Valet.Core.Keys;
using Valet.Core.Stores;
using Valet.Server.Auth;
using Valet.Tests.Infrastructure;

namespace Valet.Tests.Server;

/// <summary>
/// The verified-key rule (docs/decisions.md, "Verified API keys in memory"): a key that matched its row's hash once is
/// then compared with the remembered secret instead of hashed; anything else is still hashed against the row; a changed
/// or revoked row drops what was remembered.
/// </summary>
public sealed class ApiKeyVerificationTests
{
    [Fact]
    public async Task TheSameSecret_IsAcceptedWithoutHashingAgain_AnotherWithTheSamePrefixIsNot()
    {
        var minted = ApiKeySecrets.Mint();
        var row = Row(minted);
        var store = new OneKeyStore { Key = row };
        var authenticator = new BearerAuthenticator(new OperatorTokens(null, null), store, Usage(store));

        var first = await authenticator.AuthenticateAsync(Request(minted.Key.Reveal()), CancellationToken.None);
        Assert.IsType<ApiKeyPrincipal>(first.Principal);

        // Spoil the stored hash of this very row: only the remembered secret can still let the same key in.
        Array.Clear(row.Hash);
        var again = await authenticator.AuthenticateAsync(Request(minted.Key.Reveal()), CancellationToken.None);
        Assert.Same(first.Principal, again.Principal);

        // A different secret behind the same prefix is hashed (against the spoilt hash) and refused.
        var forged = minted.Prefix + "_" + new string('A', minted.Key.Reveal().Length - minted.Prefix.Length - 1);
        var refused = await authenticator.AuthenticateAsync(Request(forged), CancellationToken.None);
        Assert.Null(refused.Principal);
        Assert.Equal("Unknown bearer token.", refused.Failure);
    }

    [Fact]
    public async Task AChangedRow_ForgetsTheRememberedSecret()
    {
        var minted = ApiKeySecrets.Mint();
        var store = new OneKeyStore { Key = Row(minted) };
        var authenticator = new BearerAuthenticator(new OperatorTokens(null, null), store, Usage(store));
        Assert.NotNull((await authenticator.AuthenticateAsync(Request(minted.Key.Reveal()), CancellationToken.None)).Principal);

        // The cache now hands out a new row for this prefix (the key was re-created with another secret): the old
        // secret is checked against the new row's hash, and fails.
        store.Key = Row(minted) with { Hash = ApiKeySecrets.Hash("vk_other") };
        Assert.Null((await authenticator.AuthenticateAsync(Request(minted.Key.Reveal()), CancellationToken.None)).Principal);

        store.Key = null; // revoked
        Assert.Null((await authenticator.AuthenticateAsync(Request(minted.Key.Reveal()), CancellationToken.None)).Principal);
    }

    [Fact]
    public async Task ARevokedKey_IsRefusedAtOnce_RightAfterItWasAccepted()
    {
        await using var server = await ValetTestServer.StartAsync();
        var (id, key) = await server.CreateKeyAsync("default", new { provider = "github" });
        using var agent = server.Client(key);
        Assert.Equal(HttpStatusCode.OK, (await agent.GetAsync("/v1/bootstrap")).StatusCode);
        Assert.Equal(HttpStatusCode.OK, (await agent.GetAsync("/v1/bootstrap")).StatusCode);

        using var admin = server.Client();
        Assert.True((await admin.DeleteAsync($"/v1/keys/{id}")).IsSuccessStatusCode);
        var after = await agent.GetAsync("/v1/bootstrap");
        Assert.Equal(HttpStatusCode.Unauthorized, after.StatusCode);
        Assert.Equal("unauthorized", (await after.Content.ReadFromJsonAsync<System.Text.Json.JsonElement>()).GetProperty("code").GetString());
    }

    [Fact]
    public async Task AKeyUsedByAnAgent_ShowsItsLastUse_InTheKeyList()
    {
        await using var server = await ValetTestServer.StartAsync();
        var (id, key) = await server.CreateKeyAsync("default", new { provider = "github" });
        using var admin = server.Client();
        async Task<DateTimeOffset?> LastUsed() =>
            (await admin.GetFromJsonAsync<System.Text.Json.JsonElement>("/v1/orgs/default/keys")).EnumerateArray().Single(k => k.GetProperty("id").GetString() == id)
            .TryGetProperty("last_used_at", out var value) ? value.GetDateTimeOffset() : null;
        Assert.Null(await LastUsed()); // never used: absent, as every null member is

        var before = DateTimeOffset.UtcNow.AddSeconds(-1);
        using var agent = server.Client(key);
        Assert.Equal(HttpStatusCode.OK, (await agent.GetAsync("/v1/bootstrap")).StatusCode);

        // Recorded off the request: within moments, not necessarily by the time the answer arrived.
        var deadline = DateTime.UtcNow.AddSeconds(10);
        DateTimeOffset? used;
        while ((used = await LastUsed()) is null && DateTime.UtcNow < deadline)
        {
            await Task.Delay(50);
        }

        Assert.NotNull(used);
        Assert.InRange(used.Value, before, DateTimeOffset.UtcNow.AddSeconds(1));
        Assert.Equal(used.Value, (await admin.GetFromJsonAsync<System.Text.Json.JsonElement>($"/v1/keys/{id}")).GetProperty("last_used_at").GetDateTimeOffset());
    }

    [Fact]
    public async Task AKeysUse_IsRecorded_OncePerMinute_AndNotForAFailedAttempt()
    {
        var minted = ApiKeySecrets.Mint();
        var store = new OneKeyStore { Key = Row(minted) };
        var start = DateTimeOffset.Parse("2026-12-01T10:00:00Z", System.Globalization.CultureInfo.InvariantCulture);
        var clock = new Microsoft.Extensions.Time.Testing.FakeTimeProvider(start);
        var usage = Usage(store, clock);
        await usage.StartAsync(CancellationToken.None);
        var authenticator = new BearerAuthenticator(new OperatorTokens(null, null), store, usage);
        var forged = minted.Prefix + "_" + new string('A', 40);

        for (var i = 0; i < 5; i++)
        {
            Assert.NotNull((await authenticator.AuthenticateAsync(Request(minted.Key.Reveal()), CancellationToken.None)).Principal);
            clock.Advance(TimeSpan.FromSeconds(10));
        }

        await RecordedAsync(store, 1);
        Assert.Equal([("key_1", start)], Snapshot(store));

        // A minute on, a failed attempt with the key's prefix records nothing; the next good use does.
        clock.Advance(TimeSpan.FromSeconds(11));
        Assert.Null((await authenticator.AuthenticateAsync(Request(forged), CancellationToken.None)).Principal);
        await Task.Delay(200);
        Assert.Single(Snapshot(store));
        Assert.NotNull((await authenticator.AuthenticateAsync(Request(minted.Key.Reveal()), CancellationToken.None)).Principal);
        await RecordedAsync(store, 2);
        Assert.Equal(clock.GetUtcNow(), Snapshot(store)[1].At);

        await usage.StopAsync(CancellationToken.None);
    }

    private static async Task RecordedAsync(OneKeyStore store, int count)
    {
        var deadline = DateTime.UtcNow.AddSeconds(5);
        while (Snapshot(store).Count < count && DateTime.UtcNow < deadline)
        {
            await Task.Delay(10);
        }

        await Task.Delay(100); // and no more than that arrive
        Assert.Equal(count, Snapshot(store).Count);
    }

    private static List<(string Id, DateTimeOffset At)> Snapshot(OneKeyStore store)
    {
        lock (store.Uses)
        {
            return [.. store.Uses];
        }
    }

    private static KeyUsage Usage(IApiKeyStore store, TimeProvider? time = null) =>
        new(store, time ?? TimeProvider.System, Microsoft.Extensions.Logging.Abstractions.NullLogger<KeyUsage>.Instance);

    private static ApiKey Row(ApiKeySecrets.Minted minted) => new()
    {
        Id = "key_1", OrgId = "org_1", Name = "agent", Prefix = minted.Prefix, Hash = minted.Hash.ToArray(), Permissions = [],
    };

    private static HttpRequest Request(string key)
    {
        var context = new DefaultHttpContext();
        context.Request.Headers.Authorization = "Bearer " + key;
        return context.Request;
    }

    private sealed class OneKeyStore : IApiKeyStore
    {
        public ApiKey? Key { get; set; }

        public ValueTask<ApiKey?> FindByPrefixAsync(string prefix, CancellationToken cancellationToken) =>
            ValueTask.FromResult(Key?.Prefix == prefix ? Key : null);

        public Task CreateAsync(ApiKey key, CancellationToken cancellationToken) => throw new NotSupportedException();

        public ValueTask<ApiKey?> FindAsync(string id, CancellationToken cancellationToken) => throw new NotSupportedException();

        public IAsyncEnumerable<ApiKey> ListAsync(string orgId, CancellationToken cancellationToken) => throw new NotSupportedException();

        public Task<ApiKey?> SetPermissionsAsync(string id, IReadOnlyList<Permission> permissions, CancellationToken cancellationToken) =>
            throw new NotSupportedException();

        public Task<bool> DeleteAsync(string id, CancellationToken cancellationToken) => throw new NotSupportedException();

        public List<(string Id, DateTimeOffset At)> Uses { get; } = [];

        public Task RecordUseAsync(string id, DateTimeOffset at, CancellationToken cancellationToken)
        {
            lock (Uses)
            {
                Uses.Add((id, at));
            }

            return Task.CompletedTask;
        }
    }
}
