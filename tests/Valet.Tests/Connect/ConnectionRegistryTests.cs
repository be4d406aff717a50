using Microsoft.Extensions.DependencyInjection;
using Valet.Core.Connections;
using Valet.Core.Domain;
using Valet.Core.OAuth;
using Valet.Core.Providers;
using Valet.Core.Stores;
using Valet.Tests.Infrastructure;

namespace Valet.Tests.Connect;

public sealed class ConnectionRegistryTests
{
    [Fact]
    public async Task AReconsentWithoutARefreshToken_KeepsTheStoredOne_AndItsBackgroundRefresh()
    {
        // Google re-consent without prompt=consent answers without a refresh token: the stored one is kept (the write
        // keeps it), and so must the schedule be, or the connection silently stops being refreshed ahead of expiry.
        await using var server = await ValetTestServer.StartAsync();
        var registry = server.Services.GetRequiredService<ConnectionRegistry>();
        var github = server.Services.GetRequiredService<IProviderCatalog>().Find("github")!;
        var account = new AccountIdentity("4242", "octo", null);
        var expires = DateTimeOffset.UtcNow.AddHours(1);
        var (first, _) = await registry.SaveAsync(new GrantToStore
        {
            OrgId = "default", Provider = github, Account = account, AccessToken = new Secret("at-1"), RefreshToken = new Secret("rt-1"),
            ExpiresAt = expires, Source = "connect",
        }, CancellationToken.None);
        Assert.NotNull(first.NextRefreshAt);

        var (again, created) = await registry.SaveAsync(new GrantToStore
        {
            OrgId = "default", Provider = github, Account = account, AccessToken = new Secret("at-2"), RefreshToken = null,
            ExpiresAt = expires, Source = "connect",
        }, CancellationToken.None);

        Assert.False(created);
        var stored = await server.Services.GetRequiredService<IConnectionStore>().FindAsync(first.Id, CancellationToken.None);
        Assert.Equal("rt-1", stored!.RefreshToken!.Value.Reveal());
        Assert.Equal("at-2", stored.AccessToken.Reveal());
        Assert.NotNull(again.NextRefreshAt);
    }

    [Fact]
    public async Task AReconsentWithoutARefreshToken_OnAConnectionTheProviderRefused_IsNotScheduled()
    {
        // The kept refresh token was refused (invalid_grant): scheduling it would only mark the connection dead again.
        await using var server = await ValetTestServer.StartAsync();
        var registry = server.Services.GetRequiredService<ConnectionRegistry>();
        var store = server.Services.GetRequiredService<IConnectionStore>();
        var github = server.Services.GetRequiredService<IProviderCatalog>().Find("github")!;
        var account = new AccountIdentity("4343", "octo", null);
        var expires = DateTimeOffset.UtcNow.AddHours(1);
        var (first, _) = await registry.SaveAsync(new GrantToStore
        {
            OrgId = "default", Provider = github, Account = account, AccessToken = new Secret("at-1"), RefreshToken = new Secret("rt-1"),
            ExpiresAt = expires, Source = "connect",
        }, CancellationToken.None);
        await store.UpdateAsync(first with { Status = ConnectionStatus.ReauthRequired, StatusReason = "invalid_grant", NextRefreshAt = null }, CancellationToken.None);

        var (again, _) = await registry.SaveAsync(new GrantToStore
        {
            OrgId = "default", Provider = github, Account = account, AccessToken = new Secret("at-2"), RefreshToken = null,
            ExpiresAt = expires, Source = "connect",
        }, CancellationToken.None);

        Assert.Null(again.NextRefreshAt);
    }
}
