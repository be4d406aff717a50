using System.Text;
using Valet.Server.Proxy;

namespace Valet.Tests.Proxy;

/// <summary>The plain proxy's body masking for a query secret (docs/credentials.md): streamed, length kept, every split.</summary>
public sealed class EchoMaskingStreamTests
{
    private const string Secret = "qk-Ab/Cd+Ef==";

    private static readonly string[] Spellings =
        [Secret, "qk-Ab%2FCd%2BEf%3D%3D", "qk-Ab/Cd%2bEf%3d%3d", "qk-Ab\\/Cd\\u002bEf==", "qk-Ab&#x2F;Cd&#x2B;Ef&#61;&#61;", "qk-Ab%252FCd%252BEf%253D%253D"];

    [Theory]
    [InlineData(1)]
    [InlineData(2)]
    [InlineData(7)]
    [InlineData(4096)]
    public async Task EverySpelling_SplitAnywhere_IsMasked_AndNothingElseChanges(int piece)
    {
        // Spellings between filler that straddles the stream's 16 KB chunks, so matches fall across every kind of boundary.
        var text = new StringBuilder();
        var filler = new string('x', 5_000);
        foreach (var spelling in Spellings.Concat(Spellings).Concat(Spellings))
        {
            text.Append(filler).Append("key=").Append(spelling).Append('&');
        }

        text.Append("end");
        var input = Encoding.ASCII.GetBytes(text.ToString());

        foreach (var async in new[] { false, true })
        {
            var output = await ReadAllAsync(new Pieces(input, piece), async);
            var result = Encoding.ASCII.GetString(output);

            Assert.Equal(input.Length, output.Length);
            Assert.DoesNotContain("Ab", result, StringComparison.Ordinal);
            Assert.Equal(Spellings.Length * 3, CountOf(result, "key=REDACTED"));
            Assert.EndsWith("&end", result, StringComparison.Ordinal);
            Assert.StartsWith(filler + "key=REDACTED***", result, StringComparison.Ordinal);
        }
    }

    [Theory]
    [InlineData("token: qk-Ab/Cd+E", "token: ")]
    [InlineData("self=/items?api_key=qk-Ab%2FCd%2", "self=/items?api_key=")]
    public async Task ABodyEndingInTheSecretsFirstCharacters_LosesThem(string body, string kept)
    {
        var output = Encoding.ASCII.GetString(await ReadAllAsync(new Pieces(Encoding.ASCII.GetBytes(body), 3), async: true));
        Assert.Equal(body.Length, output.Length);
        Assert.StartsWith(kept, output, StringComparison.Ordinal);
        Assert.DoesNotContain("Ab", output, StringComparison.Ordinal);
    }

    [Fact]
    public async Task ANonAsciiSecret_IsMaskedInItsUtf8Bytes()
    {
        const string secret = "clé-Ünïcode-123";
        var input = Encoding.UTF8.GetBytes("{\"echo\":\"" + secret + "\",\"escaped\":\"" + Uri.EscapeDataString(secret) + "\"}");
        using var stream = new EchoMaskingStream(new Pieces(input, 2), secret, _ => null);
        using var copy = new MemoryStream();
        await stream.CopyToAsync(copy);

        var output = Encoding.UTF8.GetString(copy.ToArray());
        Assert.Equal(input.Length, copy.Length);
        Assert.DoesNotContain("code-123", output, StringComparison.Ordinal);
        Assert.DoesNotContain("code-123", Encoding.Latin1.GetString(copy.ToArray()), StringComparison.Ordinal);
    }

    [Fact]
    public async Task AZeroByteRead_WaitsForData_AndAFailedReadIsReplaced()
    {
        using var stream = new EchoMaskingStream(new Pieces(Encoding.ASCII.GetBytes("plain text, nothing secret"), 4), Secret, _ => null);
        Assert.Equal(0, await stream.ReadAsync(Memory<byte>.Empty));
        var buffer = new byte[64];
        Assert.Equal("plain text, nothing secret".Length, await stream.ReadAtLeastAsync(buffer, "plain text, nothing secret".Length, throwOnEndOfStream: false));

        using var failing = new EchoMaskingStream(new Failing(), Secret, e => new IOException("replaced", e));
        Assert.Equal("replaced", (await Assert.ThrowsAsync<IOException>(async () => await failing.ReadAtLeastAsync(buffer, 1))).Message);
        Assert.Equal("replaced", Assert.Throws<IOException>(() => failing.Read(buffer)).Message);
    }

    [Fact]
    public async Task AnEventThatCannotBeginTheSecret_IsHandedOnAtOnce_AndOneThatCouldWaitsForTheNextBytes()
    {
        // A stream of events (SSE): each must reach the agent when it arrives, not when the next one does.
        var inner = new Gated();
        using var stream = new EchoMaskingStream(inner, Secret, _ => null);
        var buffer = new byte[256];

        inner.Send("data: {\"n\":1}\n\n");
        var first = await stream.ReadAsync(buffer).AsTask().WaitAsync(TimeSpan.FromSeconds(5));
        Assert.Equal("data: {\"n\":1}\n\n", Encoding.ASCII.GetString(buffer, 0, first));

        // Ends in what could be the secret's start ("qk-A"): held until the next bytes say what it was.
        inner.Send("data: qk-A");
        var held = stream.ReadAsync(buffer).AsTask();
        Assert.Equal("data: ", Encoding.ASCII.GetString(buffer, 0, await held.WaitAsync(TimeSpan.FromSeconds(5))));
        var rest = stream.ReadAsync(buffer).AsTask();
        await Task.Delay(200);
        Assert.False(rest.IsCompleted);
        inner.Send("b/Cd+Ef==\n\n");
        inner.End();
        var tail = Encoding.ASCII.GetString(buffer, 0, await rest.WaitAsync(TimeSpan.FromSeconds(5)));
        Assert.StartsWith("REDACTED*****", tail, StringComparison.Ordinal);
        Assert.DoesNotContain("Ab", tail, StringComparison.Ordinal);
    }

    private static async Task<byte[]> ReadAllAsync(Stream inner, bool async)
    {
        using var stream = new EchoMaskingStream(inner, Secret, _ => null);
        using var output = new MemoryStream();
        var buffer = new byte[1000];
        while (true)
        {
            var read = async ? await stream.ReadAsync(buffer) : stream.Read(buffer);
            if (read == 0)
            {
                return output.ToArray();
            }

            output.Write(buffer, 0, read);
        }
    }

    private static int CountOf(string text, string part)
    {
        var count = 0;
        for (var at = text.IndexOf(part, StringComparison.Ordinal); at >= 0; at = text.IndexOf(part, at + part.Length, StringComparison.Ordinal))
        {
            count++;
        }

        return count;
    }

    /// <summary>Hands out at most <c>piece</c> bytes a read, as a network stream does; readable again from the start for each pass.</summary>
    private sealed class Pieces(byte[] data, int piece) : ReadOnlyStream
    {
        private int _at;

        public override int Read(byte[] buffer, int offset, int count) => Read(buffer.AsSpan(offset, count));

        public override int Read(Span<byte> buffer)
        {
            if (_at == data.Length)
            {
                _at = 0; // the next pass (sync, then async) reads it again
                return 0;
            }

            var count = Math.Min(Math.Min(piece, buffer.Length), data.Length - _at);
            data.AsSpan(_at, count).CopyTo(buffer);
            _at += count;
            return count;
        }

        public override ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default) =>
            ValueTask.FromResult(Read(buffer.Span));
    }

    private sealed class Failing : ReadOnlyStream
    {
        public override int Read(byte[] buffer, int offset, int count) => throw new HttpIOException(HttpRequestError.InvalidResponse, "the secret qk-Ab");
        public override ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default) => throw new HttpIOException(HttpRequestError.InvalidResponse, "the secret qk-Ab");
    }

    /// <summary>Hands out what the test sends, when it sends it: a slow upstream.</summary>
    private sealed class Gated : ReadOnlyStream
    {
        private readonly System.Threading.Channels.Channel<byte[]> _pieces = System.Threading.Channels.Channel.CreateUnbounded<byte[]>();
        private byte[] _current = [];
        private int _at;

        public void Send(string text) => _pieces.Writer.TryWrite(Encoding.ASCII.GetBytes(text));

        public void End() => _pieces.Writer.TryComplete();

        public override int Read(byte[] buffer, int offset, int count) => ReadAsync(buffer.AsMemory(offset, count)).AsTask().GetAwaiter().GetResult();

        public override async ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default)
        {
            if (_at == _current.Length)
            {
                if (!await _pieces.Reader.WaitToReadAsync(cancellationToken) || !_pieces.Reader.TryRead(out var next))
                {
                    return 0;
                }

                (_current, _at) = (next, 0);
            }

            var count = Math.Min(buffer.Length, _current.Length - _at);
            _current.AsMemory(_at, count).CopyTo(buffer);
            _at += count;
            return count;
        }
    }

    /// <summary>What a test stream that is only read needs of <see cref="Stream"/>.</summary>
    private abstract class ReadOnlyStream : Stream
    {
        public override bool CanRead => true;
        public override bool CanSeek => false;
        public override bool CanWrite => false;
        public override long Length => throw new NotSupportedException();
        public override long Position { get => throw new NotSupportedException(); set => throw new NotSupportedException(); }
        public override void Flush() { }
        public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();
        public override void SetLength(long value) => throw new NotSupportedException();
        public override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException();
    }
}
