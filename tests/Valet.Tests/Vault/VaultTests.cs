using System.Security.Cryptography;
using System.Text;
using Valet.Core;
using Valet.Core.Vault;

namespace Valet.Tests.Vault;

public sealed class VaultTests
{
    private static readonly SealContext Here = new("connections", "conn_1", "access_token");

    private static XChaChaVault NewVault(string kid = "k1") =>
        new(VaultKeyRing.FromKeys(new VaultKeyMaterial(kid, RandomNumberGenerator.GetBytes(32))));

    [Fact]
    public void SealThenOpen_RoundTrips()
    {
        using var vault = NewVault();

        var sealedValue = vault.SealString("gho_secret", Here);

        Assert.Equal("gho_secret", vault.OpenString(sealedValue, Here));
        Assert.Equal("k1", vault.KeyIdOf(sealedValue));
        Assert.DoesNotContain("gho_secret", Encoding.UTF8.GetString(sealedValue), StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("connections", "conn_2", "access_token")]
    [InlineData("connections", "conn_1", "refresh_token")]
    [InlineData("credentials", "conn_1", "access_token")]
    public void Open_FailsForAnotherRowColumnOrTable(string table, string row, string column)
    {
        using var vault = NewVault();
        var sealedValue = vault.SealString("gho_secret", Here);

        Assert.Throws<VaultException>(() => vault.Open(sealedValue, new SealContext(table, row, column)));
    }

    [Fact]
    public void Open_FailsWhenAnyByteIsFlipped()
    {
        using var vault = NewVault();
        var sealedValue = vault.SealString("gho_secret", Here);

        for (var i = 0; i < sealedValue.Length; i++)
        {
            var tampered = (byte[])sealedValue.Clone();
            tampered[i] ^= 0x01;
            Assert.ThrowsAny<VaultException>(() => vault.Open(tampered, Here));
        }
    }

    [Fact]
    public void Open_WithAnotherKey_IsAKeyMismatch()
    {
        using var a = NewVault("k1");
        using var b = NewVault("k2");

        Assert.Throws<VaultKeyMismatchException>(() => b.Open(a.SealString("x", Here), Here));
    }

    [Fact]
    public void Ring_OpensOldKeys_SealsUnderTheFirst()
    {
        var oldKey = new VaultKeyMaterial("old", RandomNumberGenerator.GetBytes(32));
        using var before = new XChaChaVault(VaultKeyRing.FromKeys(oldKey));
        var sealedValue = before.SealString("token", Here);
        using var after = new XChaChaVault(VaultKeyRing.FromKeys(new VaultKeyMaterial("new", RandomNumberGenerator.GetBytes(32)), oldKey));

        Assert.Equal("token", after.OpenString(sealedValue, Here));
        Assert.Equal("new", after.KeyIdOf(after.SealString("token", Here)));
    }

    [Fact]
    public void Load_ShortKey_FailsInEveryMode_WithOneLine()
    {
        var shortKey = Convert.ToBase64String(new byte[16]);

        foreach (var hosted in new[] { false, true })
        {
            var error = Assert.Throws<ValetConfigurationException>(() => VaultKeyRing.Load(shortKey, null, hosted, Path.GetTempPath()));
            Assert.Contains("at least 32", error.Message, StringComparison.Ordinal);
            Assert.DoesNotContain('\n', error.Message);
        }
    }

    [Fact]
    public void Load_MissingKey_FailsWhenHosted()
    {
        var error = Assert.Throws<ValetConfigurationException>(() => VaultKeyRing.Load(null, null, hosted: true, Path.GetTempPath()));

        Assert.Contains("VALET_ENCRYPTION_KEY is required", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Load_MissingKey_Locally_GeneratesA0600KeyFileOnce()
    {
        var dir = Path.Combine(Path.GetTempPath(), "valet-vault-" + Guid.NewGuid().ToString("N"));
        try
        {
            var first = VaultKeyRing.Load(null, null, hosted: false, dir);
            var second = VaultKeyRing.Load(null, null, hosted: false, dir);

            Assert.NotNull(first.GeneratedKeyFile);
            Assert.Null(second.GeneratedKeyFile);
            Assert.Equal(first.Keys[0].Id, second.Keys[0].Id);
            Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite, File.GetUnixFileMode(first.GeneratedKeyFile));
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }
    }

    [Fact]
    public void Load_KeysList_FirstIsCurrent_AndBadEntriesFail()
    {
        var k = Convert.ToBase64String(RandomNumberGenerator.GetBytes(32));

        var ring = VaultKeyRing.Load(null, $"new:{k},old:{k}", hosted: true, Path.GetTempPath());

        Assert.Equal(["new", "old"], ring.Keys.Select(x => x.Id));
        Assert.Throws<ValetConfigurationException>(() => VaultKeyRing.Load(null, "nocolon", true, Path.GetTempPath()));
        Assert.Throws<ValetConfigurationException>(() => VaultKeyRing.Load(null, $"a:{k},a:{k}", true, Path.GetTempPath()));
        Assert.Throws<ValetConfigurationException>(() => VaultKeyRing.Load("not base64!", null, true, Path.GetTempPath()));

        // Written the wrong way round, the "key id" is the key: the error says which entry, never the value.
        var backwards = Assert.Throws<ValetConfigurationException>(() => VaultKeyRing.Load(null, $"new:{k},{k}:old", true, Path.GetTempPath()));
        Assert.Contains("entry 2", backwards.Message, StringComparison.Ordinal);
        Assert.DoesNotContain(k[..8], backwards.Message, StringComparison.Ordinal);

        // A short key that passes for an id, reversed: its decode error and a repeat name the entry, not the value.
        var hexKey = Convert.ToHexString(RandomNumberGenerator.GetBytes(16));
        var shortReversed = Assert.Throws<ValetConfigurationException>(() => VaultKeyRing.Load(null, $"{hexKey}:old", true, Path.GetTempPath()));
        Assert.DoesNotContain(hexKey, shortReversed.Message, StringComparison.Ordinal);
        var repeated = Assert.Throws<ValetConfigurationException>(() => VaultKeyRing.Load(null, $"{hexKey}:{k},{hexKey}:{k}", true, Path.GetTempPath()));
        Assert.DoesNotContain(hexKey, repeated.Message, StringComparison.Ordinal);
    }
}
