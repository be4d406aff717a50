using System.Text;
using System.Text.RegularExpressions;

namespace Valet.Server.Proxy;

/// <summary>
/// An upstream's response body, streamed through with every spelling of one secret (<see cref="SecretSpellings"/>)
/// overwritten in place by a mask of the same length (<c>REDACTED****</c>), so a declared <c>Content-Length</c> stays true
/// and nothing is buffered beyond what a match could span. For an api_key provider whose secret Valet puts in the query:
/// an upstream that echoes the request URL in its body (a JSON <c>"self"</c> link, an error page) would otherwise hand the
/// secret to an agent whose key may not reveal it (docs/credentials.md).
/// <para>
/// The body is read as bytes, one character per byte (Latin-1), which is exact for the spellings a URL echo takes (ASCII)
/// and, through the UTF-8 spelling <see cref="SecretSpellings"/> adds for a non-ASCII character, for a secret with one.
/// Only bytes that could still be the start of a match are held back until more arrives or the body ends: the tail that
/// spells the secret's first characters, or part of the first one's spelling (<see cref="SecretSpellings.TailStart"/>), and
/// never more than the longest spelling of the whole secret, minus one. So a stream of events (SSE) is not delayed unless
/// an event ends in what could begin the secret. At the end, a body that stops in the secret's first six or more characters
/// loses them too.
/// </para>
/// </summary>
internal sealed class EchoMaskingStream : ReadThroughStream
{
    private const int ChunkBytes = 16 * 1024;

    /// <summary>As for a cut <c>call_api</c> body: fewer first characters could be ordinary text (<c>Mcp.EchoedSecrets</c>).</summary>
    private const int MinimumTail = 6;

    private static readonly byte[] Mark = "REDACTED"u8.ToArray();

    private readonly string _secret;
    private readonly Regex _pattern;
    private readonly int _holdBack;
    private readonly Func<Exception, Exception?> _readFailure;
    private byte[] _buffer;
    private int _start; // the next byte to hand out
    private int _ready; // bytes before this are final: scanned, masked where they had to be
    private int _end; // bytes read from the upstream so far
    private bool _done;

    /// <param name="inner">The upstream's body.</param>
    /// <param name="secret">The secret as Valet sent it, before escaping.</param>
    /// <param name="readFailure">
    /// What to throw instead of an exception the inner read threw, or null to let it through (a read error quoting the request
    /// line is rethrown without the secret, <see cref="SecretQueryHandler"/>).
    /// </param>
    public EchoMaskingStream(Stream inner, string secret, Func<Exception, Exception?> readFailure)
        : base(inner)
    {
        _secret = secret;
        _pattern = SecretSpellings.Pattern(secret);
        _holdBack = Math.Max(0, SecretSpellings.LongestSpelling(secret) - 1);
        _readFailure = readFailure;
        _buffer = new byte[_holdBack + ChunkBytes];
    }

    public override int Read(Span<byte> buffer)
    {
        while (true)
        {
            if (HandOut(buffer) is { } handed)
            {
                return handed;
            }

            int read;
            try
            {
                read = Inner.Read(Room());
            }
            catch (Exception error) when (_readFailure(error) is { } replacement)
            {
                throw replacement;
            }

            Took(read);
        }
    }

    public override async ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default)
    {
        while (true)
        {
            if (HandOut(buffer.Span) is { } handed)
            {
                return handed;
            }

            int read;
            try
            {
                read = await Inner.ReadAsync(RoomMemory(), cancellationToken);
            }
            catch (Exception error) when (_readFailure(error) is { } replacement)
            {
                throw replacement;
            }

            Took(read);
        }
    }

    /// <summary>
    /// Bytes for the caller when there are final ones (or the body ended); null when more must be read first. A zero-length
    /// read waits, as the contract asks, until a byte can be handed out or the body has ended.
    /// </summary>
    private int? HandOut(Span<byte> buffer)
    {
        if (_start == _ready)
        {
            return _done ? 0 : null;
        }

        var count = Math.Min(buffer.Length, _ready - _start);
        _buffer.AsSpan(_start, count).CopyTo(buffer);
        _start += count;
        return count;
    }

    private Span<byte> Room() => RoomMemory().Span;

    private Memory<byte> RoomMemory()
    {
        if (_start == _end)
        {
            _start = _ready = _end = 0;
        }
        else if (_buffer.Length - _end < ChunkBytes)
        {
            // Keep what is not handed out yet (at most the held-back bytes plus what the caller has not taken) at the front.
            var kept = _end - _start;
            var target = kept + ChunkBytes > _buffer.Length ? new byte[kept + ChunkBytes] : _buffer;
            Buffer.BlockCopy(_buffer, _start, target, 0, kept);
            _buffer = target;
            _ready -= _start;
            _end = kept;
            _start = 0;
        }

        return _buffer.AsMemory(_end, _buffer.Length - _end);
    }

    private void Took(int read)
    {
        if (read == 0)
        {
            _done = true;
            Mask(final: true);
            _ready = _end;
            return;
        }

        _end += read;
        var pending = Mask(final: false);

        // What may still begin a match stays: a tail of the bytes seen that spells the secret's start. None: all is final.
        // (A match starting before _end - _holdBack would be longer than the longest spelling of the secret if it went on
        // past _end, so the tail never starts earlier; TailStart looks no further back either.)
        var tail = SecretSpellings.TailStart(pending, _secret, 0);
        _ready = Math.Max(_ready + (tail < 0 ? pending.Length : tail), _end - _holdBack);
    }

    /// <summary>
    /// Masks every whole match in the bytes not final yet; at the end, a tail of the secret's first characters too. Returns
    /// those bytes as text, as they now stand (read again only if something was masked).
    /// </summary>
    private string Mask(bool final)
    {
        if (_end == _ready)
        {
            return string.Empty;
        }

        var text = Encoding.Latin1.GetString(_buffer, _ready, _end - _ready);
        var masked = false;
        try
        {
            for (var match = _pattern.Match(text); match.Success; match = match.NextMatch())
            {
                Overwrite(_ready + match.Index, match.Length);
                masked = true;
            }
        }
        catch (RegexMatchTimeoutException e)
        {
            // Not passed on unchecked: the agent's response ends here, short (the forwarder aborts it).
            throw new IOException("The upstream's answer could not be checked for the API key Valet added to the query in time; it was cut off.", e);
        }

        if (final && SecretSpellings.TailStart(text, _secret, MinimumTail) is var tail and >= 0)
        {
            Overwrite(_ready + tail, text.Length - tail);
            masked = true;
        }

        return masked ? Encoding.Latin1.GetString(_buffer, _ready, _end - _ready) : text;
    }

    private void Overwrite(int at, int length)
    {
        var target = _buffer.AsSpan(at, length);
        target.Fill((byte)'*');
        if (length >= Mark.Length)
        {
            Mark.CopyTo(target);
        }
    }
}
