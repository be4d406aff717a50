using System.Text;
using Npgsql;
using Microsoft.Extensions.DependencyInjection;
using Valet.Core.Domain;
using Valet.Storage;
using Valet.Tests.Infrastructure;

namespace Valet.Tests.Storage;

[Collection(PostgresCollection.Name)]
public sealed class PostgresStoreTests(PostgresFixture postgres) : StoreSuite
{
    private string? _connectionString;

    protected override async Task<DatabaseTarget> CreateDatabaseAsync()
    {
        _connectionString = await postgres.CreateDatabaseAsync();
        return DatabaseTarget.Parse(_connectionString, Path.GetTempPath());
    }

    protected override async Task DeleteDatabaseAsync(DatabaseTarget target)
    {
        NpgsqlConnection.ClearAllPools();
        await postgres.DropDatabaseAsync(_connectionString!);
    }

    [Fact]
    public async Task ANulCharacter_IsRefusedByPostgres_AndClassedAsUnstorableText_NotAnOutage()
    {
        // What the error handler turns into 422 instead of 500 (JSON bodies refuse NUL before the database sees it).
        await using var node = await StartNodeAsync();
        var error = await Assert.ThrowsAsync<PostgresException>(() =>
            node.Orgs.CreateAsync(new Org { Id = "nul", Name = "a\0b" }, CancellationToken.None));

        Assert.True(StorageFailures.IsUnstorableText(error), error.SqlState);
        Assert.False(StorageFailures.IsUnavailable(error));
        Assert.False(StorageFailures.IsUnstorableText(new InvalidOperationException("other")));
    }

    [Fact]
    public async Task ALeaseWhoseHolderGoesQuiet_IsEndedByPostgres_AndItsLateCommitIsRefused()
    {
        // A holder frozen mid-refresh (GC pause, SIGSTOP, VM pause) keeps its socket open: without a limit its row lock
        // would last until TCP gives up. The lease's transaction carries idle_in_transaction_session_timeout.
        var node = await StartWithOrgAsync();
        var (stored, _) = await node.Connections.UpsertAsync(NewConnection("quiet"), CancellationToken.None);
        var vault = node.Services.GetRequiredService<Valet.Core.Vault.IVault>();
        var frozen = new Valet.Storage.Stores.PostgresConnectionLocks(node.Db, vault, TimeProvider.System, TimeSpan.FromSeconds(1));

        var held = await frozen.AcquireAsync(stored.Id, CancellationToken.None);
        await Task.Delay(TimeSpan.FromSeconds(2.5)); // the provider call outlasting the limit

        using var wait = new CancellationTokenSource(TimeSpan.FromSeconds(5));
        await using var next = await node.Locks.AcquireAsync(stored.Id, wait.Token); // free again: not held until TCP gives up
        Assert.NotNull(next);
        await Assert.ThrowsAnyAsync<Exception>(() => held!.CommitAsync(held.Connection with { AccessToken = new Secret("late") }, CancellationToken.None));
        await held!.DisposeAsync();
    }

    protected override async Task<byte[]> ReadAtRestAsync(Node node) =>
        Encoding.UTF8.GetBytes(await postgres.DumpAsync(_connectionString!));
}
