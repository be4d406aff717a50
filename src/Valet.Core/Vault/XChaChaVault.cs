using System.Buffers.Binary;
using System.Security.Cryptography;
using System.Text;
using NSec.Cryptography;

namespace Valet.Core.Vault;

/// <summary>
/// XChaCha20-Poly1305 (libsodium via NSec). Sealed layout: <c>0x01 | kidLen | kid | nonce(24) | ciphertext+tag(16)</c>.
/// The associated data binds version, key id, table, row id and column, so a value copied elsewhere fails to open.
/// </summary>
public sealed class XChaChaVault : IVault, IDisposable
{
    private const byte FormatVersion = 1;
    private static readonly AeadAlgorithm Algorithm = AeadAlgorithm.XChaCha20Poly1305;

    private readonly Dictionary<string, Key> _keys = new(StringComparer.Ordinal);
    private readonly Key _current;

    public XChaChaVault(VaultKeyRing ring)
    {
        ArgumentNullException.ThrowIfNull(ring);
        foreach (var material in ring.Keys)
        {
            _keys[material.Id] = Key.Import(Algorithm, material.Key.Span, KeyBlobFormat.RawSymmetricKey);
        }

        CurrentKeyId = ring.Keys[0].Id;
        _current = _keys[CurrentKeyId];
    }

    public string CurrentKeyId { get; }

    public byte[] Seal(ReadOnlySpan<byte> plaintext, SealContext context)
    {
        var kid = Encoding.ASCII.GetBytes(CurrentKeyId);
        var headerLength = 2 + kid.Length;
        var output = new byte[headerLength + Algorithm.NonceSize + plaintext.Length + Algorithm.TagSize];
        output[0] = FormatVersion;
        output[1] = (byte)kid.Length;
        kid.CopyTo(output.AsSpan(2));
        var nonce = output.AsSpan(headerLength, Algorithm.NonceSize);
        RandomNumberGenerator.Fill(nonce);
        var ad = AssociatedData(CurrentKeyId, context);
        Algorithm.Encrypt(_current, nonce, ad, plaintext, output.AsSpan(headerLength + Algorithm.NonceSize));
        return output;
    }

    public byte[] Open(ReadOnlySpan<byte> sealedValue, SealContext context)
    {
        var kid = KeyIdOf(sealedValue);
        if (!_keys.TryGetValue(kid, out var key))
        {
            throw new VaultKeyMismatchException($"A stored value was sealed with key id '{kid}', which is not configured.");
        }

        var headerLength = 2 + sealedValue[1];
        if (sealedValue.Length < headerLength + Algorithm.NonceSize + Algorithm.TagSize)
        {
            throw new VaultException("A stored value is truncated.");
        }

        var nonce = sealedValue.Slice(headerLength, Algorithm.NonceSize);
        var ciphertext = sealedValue[(headerLength + Algorithm.NonceSize)..];
        var plaintext = new byte[ciphertext.Length - Algorithm.TagSize];
        if (!Algorithm.Decrypt(key, nonce, AssociatedData(kid, context), ciphertext, plaintext))
        {
            throw new VaultException($"A stored value in {context.Table}.{context.Column} failed authentication.");
        }

        return plaintext;
    }

    public string KeyIdOf(ReadOnlySpan<byte> sealedValue)
    {
        if (sealedValue.Length < 2 || sealedValue[0] != FormatVersion || sealedValue.Length < 2 + sealedValue[1])
        {
            throw new VaultException("A stored value is not in a known vault format.");
        }

        return Encoding.ASCII.GetString(sealedValue.Slice(2, sealedValue[1]));
    }

    public void Dispose()
    {
        foreach (var key in _keys.Values)
        {
            key.Dispose();
        }
    }

    private static byte[] AssociatedData(string kid, SealContext context)
    {
        // Length-prefixed fields so that ("a:b", "c") and ("a", "b:c") never produce the same bytes.
        var parts = new[] { "valet/v1", kid, context.Table, context.RowId, context.Column };
        var buffer = new List<byte>(64);
        Span<byte> length = stackalloc byte[4];
        foreach (var part in parts)
        {
            var bytes = Encoding.UTF8.GetBytes(part);
            BinaryPrimitives.WriteInt32BigEndian(length, bytes.Length);
            buffer.AddRange(length.ToArray());
            buffer.AddRange(bytes);
        }

        return [.. buffer];
    }
}

/// <summary>Convenience for string secrets.</summary>
public static class VaultExtensions
{
    public static byte[] SealString(this IVault vault, string plaintext, SealContext context) =>
        vault.Seal(Encoding.UTF8.GetBytes(plaintext), context);

    public static string OpenString(this IVault vault, ReadOnlySpan<byte> sealedValue, SealContext context) =>
        Encoding.UTF8.GetString(vault.Open(sealedValue, context));
}
