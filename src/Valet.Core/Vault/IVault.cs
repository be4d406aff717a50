namespace Valet.Core.Vault;

/// <summary>Binds a ciphertext to where it lives: moved to another row or column, it no longer opens.</summary>
public readonly record struct SealContext(string Table, string RowId, string Column);

/// <summary>
/// AEAD sealing of secrets at rest. Format (bytes): <c>0x01 | len(kid) | kid (ASCII) | nonce | ciphertext+tag</c>;
/// associated data = format version, key id, table, row id and column.
/// </summary>
public interface IVault
{
    string CurrentKeyId { get; }

    byte[] Seal(ReadOnlySpan<byte> plaintext, SealContext context);

    /// <summary>Throws <see cref="VaultException"/> when the value is malformed, its key unknown, or it fails to authenticate.</summary>
    byte[] Open(ReadOnlySpan<byte> sealedValue, SealContext context);

    /// <summary>The key id a sealed value carries (without opening it).</summary>
    string KeyIdOf(ReadOnlySpan<byte> sealedValue);
}

public class VaultException(string message) : Exception(message);

/// <summary>The configured key(s) cannot open data already stored: the wrong key was given.</summary>
public sealed class VaultKeyMismatchException(string message, string? keyId = null) : VaultException(message)
{
    /// <summary>The id of the key the stored data was sealed with, when it could be read.</summary>
    public string? KeyId { get; } = keyId;
}
