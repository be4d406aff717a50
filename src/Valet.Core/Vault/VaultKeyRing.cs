using System.Security.Cryptography;
using System.Text;

namespace Valet.Core.Vault;

public sealed record VaultKeyMaterial(string Id, ReadOnlyMemory<byte> Key)
{
    public override string ToString() => $"VaultKeyMaterial {{ Id = {Id} }}";
}

/// <summary>The configured keys, current first. Built by <see cref="VaultKeyRing.Load"/> from SPEC §3 rules.</summary>
public sealed class VaultKeyRing
{
    public const int MinimumKeyBytes = 32;
    public const string KeyFileName = "encryption.key";

    private VaultKeyRing(IReadOnlyList<VaultKeyMaterial> keys, string? generatedKeyFile)
    {
        Keys = keys;
        GeneratedKeyFile = generatedKeyFile;
    }

    public IReadOnlyList<VaultKeyMaterial> Keys { get; }

    /// <summary>Set when this boot generated the local key file (the caller says so, once).</summary>
    public string? GeneratedKeyFile { get; }

    /// <summary>Path of the local key file when the ring came from it.</summary>
    public string? KeyFile { get; private init; }

    public static VaultKeyRing FromKeys(params VaultKeyMaterial[] keys) => new(keys, null);

    /// <summary>
    /// The key check failed (<paramref name="mismatch"/>) and this ring's key was generated on this very start, because none
    /// was configured or found: a restored database without its key file, typically. That key can never open the data, so
    /// its file is removed (it would otherwise pass for the data's key, and be backed up as such), but only while it still
    /// holds the generated key: a key file put in place since is left alone. Returns the problem to report, which names
    /// what is missing rather than a "configured" key; null when the ring was configured or loaded.
    /// </summary>
    public VaultKeyMismatchException? DiscardGeneratedKey(VaultKeyMismatchException mismatch)
    {
        ArgumentNullException.ThrowIfNull(mismatch);
        if (GeneratedKeyFile is null || mismatch.KeyId is null)
        {
            return null;
        }

        var removed = false;
        try
        {
            if (Fingerprint(Decode(File.ReadAllText(GeneratedKeyFile), GeneratedKeyFile)) == Keys[0].Id)
            {
                File.Delete(GeneratedKeyFile);
                removed = true;
            }
        }
        catch (Exception error) when (error is IOException or UnauthorizedAccessException or ValetConfigurationException)
        {
            // Gone already, unreadable, or replaced by something that is not a key: left as it is.
        }

        return new VaultKeyMismatchException(
            $"No encryption key was configured (VALET_ENCRYPTION_KEY, VALET_ENCRYPTION_KEYS) or found in the data directory " +
            $"({KeyFileName}), but the database already holds data sealed with key id {mismatch.KeyId}: restore that key, e.g. the " +
            $"{KeyFileName} backed up with this database." +
            (removed ? " The key generated on this start could not open this data and was removed." : string.Empty), mismatch.KeyId);
    }

    /// <summary>
    /// SPEC §3: <c>VALET_ENCRYPTION_KEYS</c> (<c>kid:base64,…</c>, first current) or <c>VALET_ENCRYPTION_KEY</c>; a key
    /// under 32 bytes fails in every mode; no key fails with PostgreSQL; locally a 0600 key file is generated once.
    /// </summary>
    public static VaultKeyRing Load(string? encryptionKey, string? encryptionKeys, bool hosted, string dataDirectory)
    {
        if (!string.IsNullOrWhiteSpace(encryptionKeys))
        {
            var keys = new List<VaultKeyMaterial>();
            var number = 0;
            foreach (var entry in encryptionKeys.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
            {
                number++;
                var colon = entry.IndexOf(':', StringComparison.Ordinal);
                if (colon <= 0)
                {
                    throw new ValetConfigurationException("VALET_ENCRYPTION_KEYS must be a comma-separated list of kid:base64 entries.");
                }

                var kid = entry[..colon];
                if (kid.Length > 32 || !kid.All(c => char.IsAsciiLetterOrDigit(c) || c is '-' or '_' or '.'))
                {
                    // Not quoted: written the wrong way round (base64:kid), the "id" is the key itself, and this goes to stderr.
                    throw new ValetConfigurationException($"VALET_ENCRYPTION_KEYS: the key id of entry {number} must be 1-32 characters of letters, " +
                        "digits, '-', '_' or '.' (each entry is kid:base64, the id first).");
                }

                if (keys.Any(k => k.Id == kid))
                {
                    throw new ValetConfigurationException($"VALET_ENCRYPTION_KEYS: the key id of entry {number} appears in an earlier entry too.");
                }

                keys.Add(new VaultKeyMaterial(kid, Derive(Decode(entry[(colon + 1)..], $"VALET_ENCRYPTION_KEYS (entry {number})"))));
            }

            if (keys.Count == 0)
            {
                throw new ValetConfigurationException("VALET_ENCRYPTION_KEYS is set but holds no key.");
            }

            return new VaultKeyRing(keys, null);
        }

        if (!string.IsNullOrWhiteSpace(encryptionKey))
        {
            var raw = Decode(encryptionKey, "VALET_ENCRYPTION_KEY");
            return new VaultKeyRing([new VaultKeyMaterial(Fingerprint(raw), Derive(raw))], null);
        }

        if (hosted)
        {
            throw new ValetConfigurationException(
                "VALET_ENCRYPTION_KEY is required with PostgreSQL: set it to the base64 of 32 random bytes (openssl rand -base64 32).");
        }

        return LoadOrCreateKeyFile(dataDirectory);
    }

    /// <summary>Key id for a single key: a short fingerprint, so that a different key is told apart from a corrupt value.</summary>
    public static string Fingerprint(ReadOnlySpan<byte> raw) =>
        "k" + Convert.ToHexStringLower(SHA256.HashData([.. Encoding.ASCII.GetBytes("valet-kid:"), .. raw]))[..8];

    private static VaultKeyRing LoadOrCreateKeyFile(string dataDirectory)
    {
        var path = Path.Combine(dataDirectory, KeyFileName);
        string? generated = null;
        if (!File.Exists(path))
        {
            DataDirectory.Create(dataDirectory);
            var fresh = Convert.ToBase64String(RandomNumberGenerator.GetBytes(MinimumKeyBytes));
            try
            {
                var options = new FileStreamOptions { Mode = FileMode.CreateNew, Access = FileAccess.Write };
                if (!OperatingSystem.IsWindows())
                {
                    options.UnixCreateMode = UnixFileMode.UserRead | UnixFileMode.UserWrite;
                }

                using (var stream = new FileStream(path, options))
                using (var writer = new StreamWriter(stream))
                {
                    writer.Write(fresh);
                }

                generated = path;
            }
            catch (IOException) when (File.Exists(path))
            {
                // Another process created it first: use theirs.
            }
        }

        var raw = Decode(File.ReadAllText(path).Trim(), $"key file {path}");
        return new VaultKeyRing([new VaultKeyMaterial(Fingerprint(raw), Derive(raw))], generated) { KeyFile = path };
    }

    private static byte[] Decode(string base64, string source)
    {
        byte[] raw;
        try
        {
            raw = Convert.FromBase64String(base64.Trim());
        }
        catch (FormatException)
        {
            throw new ValetConfigurationException($"{source} is not valid base64.");
        }

        if (raw.Length < MinimumKeyBytes)
        {
            throw new ValetConfigurationException(
                $"{source} is {raw.Length} bytes; at least {MinimumKeyBytes} are required (openssl rand -base64 32).");
        }

        return raw;
    }

    /// <summary>HKDF to exactly 32 bytes, so longer keys are used whole rather than truncated.</summary>
    private static byte[] Derive(byte[] raw) =>
        raw.Length == MinimumKeyBytes ? raw : HKDF.DeriveKey(HashAlgorithmName.SHA256, raw, 32, info: Encoding.ASCII.GetBytes("valet vault v1"));
}
