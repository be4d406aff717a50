using System.Security.Cryptography;
using System.Text;
using Valet.Core.Domain;
using Valet.Core.Stores;
using Valet.Core.Vault;

namespace Valet.Tests.Storage;

public abstract partial class StoreSuite
{
    [Fact]
    public async Task KeyCheck_FreshDatabaseWritesIt_SameKeyPasses_OtherKeyFailsClearly()
    {
        var first = await StartNodeAsync(); // verifies, writing the key check

        var sameKey = await StartNodeAsync(Vault);
        var otherKey = await StartNodeAsync(NewVault("k2"), verifyKey: false);
        var sameIdOtherBytes = await StartNodeAsync(NewVault("k1"), verifyKey: false);

        await sameKey.Vault.VerifyKeyAsync(None);
        var mismatch = await Assert.ThrowsAsync<VaultKeyMismatchException>(() => otherKey.Vault.VerifyKeyAsync(None));
        Assert.Contains("cannot decrypt existing data (sealed with key id k1)", mismatch.Message, StringComparison.Ordinal);
        Assert.DoesNotContain('\n', mismatch.Message);
        await Assert.ThrowsAsync<VaultKeyMismatchException>(() => sameIdOtherBytes.Vault.VerifyKeyAsync(None));
        Assert.Equal(0, await first.Vault.CountStaleAsync(None));
    }

    [Fact]
    public async Task KeyCheck_PassesWhenTheSealingKeyIsAnOlderKeyOfTheRing()
    {
        var oldKey = new VaultKeyMaterial("old", RandomNumberGenerator.GetBytes(32));
        await StartNodeAsync(NewVault(oldKey));

        var rotated = await StartNodeAsync(NewVault(new VaultKeyMaterial("new", RandomNumberGenerator.GetBytes(32)), oldKey), verifyKey: false);

        await rotated.Vault.VerifyKeyAsync(None);
        Assert.Equal(1, await rotated.Vault.CountStaleAsync(None));
    }

    [Fact]
    public async Task Rotate_ReencryptsEveryValueSoOnlyTheNewKeyIsNeeded()
    {
        var oldKey = new VaultKeyMaterial("old", RandomNumberGenerator.GetBytes(32));
        var newKey = new VaultKeyMaterial("new", RandomNumberGenerator.GetBytes(32));
        var before = await StartNodeAsync(NewVault(oldKey));
        var seeded = await SeedSealedRowsAsync(before, connections: 130);

        var rotating = await StartNodeAsync(NewVault(newKey, oldKey));
        Assert.Equal(seeded.SealedValues, await rotating.Vault.CountStaleAsync(None));
        var reports = new List<RotationProgress>();
        var rotated = await rotating.Vault.RotateAsync(new SyncProgress(reports.Add), None);

        Assert.Equal(seeded.SealedValues, rotated);
        Assert.Equal(0, await rotating.Vault.CountStaleAsync(None));
        Assert.Contains(reports, r => r is { Table: "connections", Column: "access_token", Done: 100, Remaining: 30 });
        Assert.Equal(0, await rotating.Vault.RotateAsync(null, None)); // nothing left: a second run is a no-op

        var newOnly = await StartNodeAsync(NewVault(newKey));
        await AssertSeededRowsOpenAsync(newOnly, seeded);
    }

    [Fact]
    public async Task Rotate_InterruptedAfterFirstBatch_ResumesWhereItStopped()
    {
        var oldKey = new VaultKeyMaterial("old", RandomNumberGenerator.GetBytes(32));
        var newKey = new VaultKeyMaterial("new", RandomNumberGenerator.GetBytes(32));
        var seeded = await SeedSealedRowsAsync(await StartNodeAsync(NewVault(oldKey)), connections: 130);
        var rotating = await StartNodeAsync(NewVault(newKey, oldKey));

        using var cancel = new CancellationTokenSource();
        await Assert.ThrowsAnyAsync<OperationCanceledException>(
            () => rotating.Vault.RotateAsync(new SyncProgress(_ => cancel.Cancel()), cancel.Token));
        var staleAfterInterrupt = await rotating.Vault.CountStaleAsync(None);
        var resumed = await rotating.Vault.RotateAsync(null, None);

        Assert.Equal(seeded.SealedValues - 100, staleAfterInterrupt);
        Assert.Equal(staleAfterInterrupt, resumed);
        Assert.Equal(0, await rotating.Vault.CountStaleAsync(None));
        await AssertSeededRowsOpenAsync(await StartNodeAsync(NewVault(newKey)), seeded);
    }

    [Fact]
    public async Task SealedValue_CopiedToAnotherRow_FailsToOpen()
    {
        var node = await StartWithOrgAsync();
        var (victim, _) = await node.Connections.UpsertAsync(NewConnection("victim"), None);
        var (attacker, _) = await node.Connections.UpsertAsync(NewConnection("attacker"), None);

        await node.ExecuteRawAsync(
            "UPDATE connections SET access_token = (SELECT access_token FROM connections WHERE id = @from) WHERE id = @to",
            new { from = victim.Id, to = attacker.Id });

        await Assert.ThrowsAnyAsync<VaultException>(async () => await node.Connections.FindAsync(attacker.Id, None));
        Assert.NotNull(await node.Connections.FindAsync(victim.Id, None));
    }

    [Fact]
    public async Task AtRest_NoTokenSecretOrVerifierAppearsInPlaintext()
    {
        var node = await StartWithOrgAsync();
        var connection = NewConnection("plain") with
        {
            AccessToken = new Secret("ghu_PLAINTEXT_ACCESS_b7d1e5"), RefreshToken = new Secret("ghr_PLAINTEXT_REFRESH_0c9a44"),
            AccountLogin = "visible-login-3f2a",
        };
        await node.Connections.UpsertAsync(connection, None);
        await node.Credentials.CreateAsync(
            new Credential { Id = Ids.New("cred"), OrgId = Org, Provider = "github", ClientId = "Iv1.x", ClientSecret = new Secret("CLIENT_SECRET_PLAINTEXT_91ab") }, None);
        await node.Flows.CreateAsync(NewFlow(DateTimeOffset.UtcNow, TimeSpan.FromMinutes(5)) with { CodeVerifier = new Secret("PKCE_VERIFIER_PLAINTEXT_5e6f") }, None);

        var bytes = await ReadAtRestAsync(node);

        Assert.True(Contains(bytes, "visible-login-3f2a"), "the scan must see plain columns, or it proves nothing");
        foreach (var secret in new[] { "ghu_PLAINTEXT_ACCESS_b7d1e5", "ghr_PLAINTEXT_REFRESH_0c9a44", "CLIENT_SECRET_PLAINTEXT_91ab", "PKCE_VERIFIER_PLAINTEXT_5e6f" })
        {
            Assert.False(Contains(bytes, secret), $"a secret ({secret[..8]}…) is stored in plaintext");
        }
    }

    private static bool Contains(byte[] haystack, string needle) => haystack.AsSpan().IndexOf(Encoding.UTF8.GetBytes(needle)) >= 0;

    private sealed record Seeded(long SealedValues, Dictionary<string, string> AccessTokens, string CredentialId, string FlowId);

    /// <summary>Connections (access + refresh), a credential and a flow: 2n + 2 values, plus the key check.</summary>
    private async Task<Seeded> SeedSealedRowsAsync(Node node, int connections)
    {
        await node.Orgs.CreateAsync(new Org { Id = Org, Name = "Acme" }, None);
        var tokens = new Dictionary<string, string>();
        for (var i = 0; i < connections; i++)
        {
            var (stored, _) = await node.Connections.UpsertAsync(NewConnection($"acct-{i}"), None);
            tokens[stored.Id] = stored.AccessToken.Reveal();
        }

        var credential = new Credential { Id = Ids.New("cred"), OrgId = Org, Provider = "github", ClientId = "Iv1.x", ClientSecret = new Secret("cs-rotate") };
        await node.Credentials.CreateAsync(credential, None);
        var flow = NewFlow(DateTimeOffset.UtcNow, TimeSpan.FromHours(1)) with { CodeVerifier = new Secret("verifier-rotate") };
        await node.Flows.CreateAsync(flow, None);
        return new Seeded((2 * connections) + 2 + 1, tokens, credential.Id, flow.Id);
    }

    private static async Task AssertSeededRowsOpenAsync(Node node, Seeded seeded)
    {
        foreach (var (id, token) in seeded.AccessTokens)
        {
            var connection = await node.Connections.FindAsync(id, None);
            Assert.Equal(token, connection!.AccessToken.Reveal());
            Assert.NotNull(connection.RefreshToken);
        }

        Assert.Equal("cs-rotate", (await node.Credentials.FindAsync(seeded.CredentialId, None))!.ClientSecret!.Value.Reveal());
        Assert.Equal("verifier-rotate", (await node.Flows.FindAsync(seeded.FlowId, DateTimeOffset.UtcNow, None))!.CodeVerifier.Reveal());
    }

    /// <summary>Reports synchronously (unlike <see cref="Progress{T}"/>), so a test can cancel between batches.</summary>
    private sealed class SyncProgress(Action<RotationProgress> report) : IProgress<RotationProgress>
    {
        public void Report(RotationProgress value) => report(value);
    }
}
