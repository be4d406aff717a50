namespace Valet.Core.Domain;

/// <summary>
/// A secret held in memory (token, client secret, PKCE verifier). It never prints itself, so a record that
/// carries one can be logged or thrown without leaking it. <see cref="Reveal"/> is the only way out.
/// </summary>
public readonly struct Secret : IEquatable<Secret>
{
    private readonly string? _value;

    public Secret(string value)
    {
        ArgumentException.ThrowIfNullOrEmpty(value);
        _value = value;
    }

    public bool IsEmpty => string.IsNullOrEmpty(_value);

    public string Reveal() => _value ?? throw new InvalidOperationException("The secret is empty.");

    public override string ToString() => "[redacted]";

    public bool Equals(Secret other) => string.Equals(_value, other._value, StringComparison.Ordinal);

    public override bool Equals(object? obj) => obj is Secret other && Equals(other);

    public override int GetHashCode() => _value is null ? 0 : StringComparer.Ordinal.GetHashCode(_value);

    public static bool operator ==(Secret left, Secret right) => left.Equals(right);

    public static bool operator !=(Secret left, Secret right) => !left.Equals(right);
}
