using System.Security.Cryptography;
using BenchmarkDotNet.Attributes;
using Valet.Core.Keys;
using Valet.Core.Vault;

namespace Valet.Bench;

/// <summary>Seal + open of a 2 KB token (XChaCha20-Poly1305 with row-bound associated data) and API-key verification.</summary>
[MemoryDiagnoser]
public class CryptoBenchmarks
{
    private static readonly SealContext Context = new("connections", "conn_0123456789abcdefghij", "access_token");
    private XChaChaVault _vault = null!;
    private byte[] _token = null!;
    private byte[] _sealed = null!;
    private string _key = null!;
    private byte[] _hash = null!;

    [GlobalSetup]
    public void Setup()
    {
        _vault = new XChaChaVault(VaultKeyRing.FromKeys(new VaultKeyMaterial("k1", RandomNumberGenerator.GetBytes(32))));
        _token = RandomNumberGenerator.GetBytes(2048);
        _sealed = _vault.Seal(_token, Context);
        var minted = ApiKeySecrets.Mint();
        _key = minted.Key.Reveal();
        _hash = minted.Hash;
    }

    [GlobalCleanup]
    public void Cleanup() => _vault.Dispose();

    [Benchmark(Baseline = true)]
    public byte[] SealAndOpen2KbToken() => _vault.Open(_vault.Seal(_token, Context), Context);

    [Benchmark]
    public byte[] Open2KbToken() => _vault.Open(_sealed, Context);

    [Benchmark]
    public bool VerifyApiKey() => ApiKeySecrets.PrefixOf(_key) is not null && ApiKeySecrets.Verify(_key, _hash);
}
