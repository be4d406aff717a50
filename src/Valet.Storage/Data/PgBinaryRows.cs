using System.Buffers;
using System.Buffers.Binary;
using System.Text;

namespace Valet.Storage.Data;

/// <summary>
/// Rows in PostgreSQL's binary COPY format, encoded into one pooled buffer for <c>BeginRawBinaryCopy</c>: the 11-byte
/// signature, flags and header extension (both 0), then per row a 16-bit field count and per field a 32-bit length
/// (−1 for NULL) and the value in network byte order, then the 16-bit −1 trailer
/// (https://www.postgresql.org/docs/current/sql-copy.html, "Binary Format"). Only the types the audit table uses.
/// </summary>
internal sealed class PgBinaryRows : IDisposable
{
    /// <summary>"PGCOPY\n\377\r\n\0".</summary>
    private static ReadOnlySpan<byte> Signature => [(byte)'P', (byte)'G', (byte)'C', (byte)'O', (byte)'P', (byte)'Y', (byte)'\n', 0xFF, (byte)'\r', (byte)'\n', 0];

    /// <summary>PostgreSQL's epoch for timestamps, 2000-01-01T00:00:00Z.</summary>
    private static readonly long PostgresEpochTicks = new DateTimeOffset(2000, 1, 1, 0, 0, 0, TimeSpan.Zero).UtcTicks;

    private byte[] _buffer;
    private int _length;

    public PgBinaryRows(int capacityHint)
    {
        _buffer = ArrayPool<byte>.Shared.Rent(Math.Max(capacityHint, 64));
        Signature.CopyTo(_buffer);
        _length = Signature.Length;
        Int32(0); // flags: no OIDs
        Int32(0); // header extension: none
    }

    public void StartRow(short fields) => Int16(fields);

    /// <summary>
    /// The text as PostgreSQL's <c>text</c> can hold it: an unpaired surrogate (possible in a .NET string, not in UTF-8) and
    /// U+0000 (which PostgreSQL refuses in text: "invalid byte sequence for encoding UTF8: 0x00") each become U+FFFD.
    /// Otherwise one such value fails its whole audit batch (or the single INSERT) and every event in it is lost.
    /// The common case, nothing to replace, returns the same string after two vectorised scans.
    /// </summary>
    public static string WellFormed(string value)
    {
        var span = value.AsSpan();
        if (span.IndexOfAnyInRange('\ud800', '\udfff') < 0 && !span.Contains('\0'))
        {
            return value;
        }

        return Encoding.UTF8.GetString(Encoding.UTF8.GetBytes(value)).Replace('\0', '\ufffd'); // UTF8's replacement fallback: U+FFFD
    }

    public void Text(string? value)
    {
        if (value is null)
        {
            Int32(-1);
            return;
        }

        value = WellFormed(value);
        Ensure(4 + Encoding.UTF8.GetMaxByteCount(value.Length));
        var written = Encoding.UTF8.GetBytes(value, _buffer.AsSpan(_length + 4));
        BinaryPrimitives.WriteInt32BigEndian(_buffer.AsSpan(_length), written);
        _length += 4 + written;
    }

    public void Integer(int? value)
    {
        if (value is not { } v)
        {
            Int32(-1);
            return;
        }

        Int32(4);
        Int32(v);
    }

    public void Bigint(long? value)
    {
        if (value is not { } v)
        {
            Int32(-1);
            return;
        }

        Int32(8);
        Int64(v);
    }

    /// <summary>timestamptz: microseconds since 2000-01-01 UTC (PostgreSQL's integer datetimes, the only kind since 10).</summary>
    public void TimestampTz(DateTimeOffset value)
    {
        Int32(8);
        Int64((value.UtcTicks - PostgresEpochTicks) / TimeSpan.TicksPerMicrosecond);
    }

    /// <summary>The trailer, and everything encoded (valid until <see cref="Dispose"/>).</summary>
    public ReadOnlySpan<byte> Finish()
    {
        Int16(-1);
        return _buffer.AsSpan(0, _length);
    }

    public void Dispose()
    {
        if (_buffer is { } buffer)
        {
            _buffer = null!;
            ArrayPool<byte>.Shared.Return(buffer);
        }
    }

    private void Int16(short value)
    {
        Ensure(2);
        BinaryPrimitives.WriteInt16BigEndian(_buffer.AsSpan(_length), value);
        _length += 2;
    }

    private void Int32(int value)
    {
        Ensure(4);
        BinaryPrimitives.WriteInt32BigEndian(_buffer.AsSpan(_length), value);
        _length += 4;
    }

    private void Int64(long value)
    {
        Ensure(8);
        BinaryPrimitives.WriteInt64BigEndian(_buffer.AsSpan(_length), value);
        _length += 8;
    }

    private void Ensure(int more)
    {
        if (_length + more <= _buffer.Length)
        {
            return;
        }

        var larger = ArrayPool<byte>.Shared.Rent(Math.Max(_buffer.Length * 2, _length + more));
        _buffer.AsSpan(0, _length).CopyTo(larger);
        ArrayPool<byte>.Shared.Return(_buffer);
        _buffer = larger;
    }
}
