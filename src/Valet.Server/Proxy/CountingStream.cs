using System.Net;

namespace Valet.Server.Proxy;

/// <summary>Counts the bytes that pass through a body stream (for the audit trail) without buffering anything.</summary>
internal sealed class CountingStream(Stream inner) : Stream
{
    public long Count { get; private set; }

    public Stream Inner => inner;

    public override bool CanRead => inner.CanRead;

    public override bool CanSeek => false;

    public override bool CanWrite => inner.CanWrite;

    public override long Length => throw new NotSupportedException();

    public override long Position { get => throw new NotSupportedException(); set => throw new NotSupportedException(); }

    public override int Read(byte[] buffer, int offset, int count) => Counted(inner.Read(buffer, offset, count));

    public override async ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default) =>
        Counted(await inner.ReadAsync(buffer, cancellationToken));

    public override Task<int> ReadAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken) =>
        ReadAsync(buffer.AsMemory(offset, count), cancellationToken).AsTask();

    public override void Write(byte[] buffer, int offset, int count)
    {
        inner.Write(buffer, offset, count);
        Count += count;
    }

    public override async ValueTask WriteAsync(ReadOnlyMemory<byte> buffer, CancellationToken cancellationToken = default)
    {
        await inner.WriteAsync(buffer, cancellationToken);
        Count += buffer.Length;
    }

    public override Task WriteAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken) =>
        WriteAsync(buffer.AsMemory(offset, count), cancellationToken).AsTask();

    public override void Flush() => inner.Flush();

    public override Task FlushAsync(CancellationToken cancellationToken) => inner.FlushAsync(cancellationToken);

    public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();

    public override void SetLength(long value) => throw new NotSupportedException();

    private int Counted(int read)
    {
        Count += read;
        return read;
    }
}

/// <summary>
/// The upstream's response content, counted as the forwarder reads it (for the audit trail): a body of unknown length
/// (chunked) is counted here, on the client side of the forward, rather than by a stream around the agent's response
/// body, which would swap a request feature on every such call (docs/proxy.md, "Audit").
/// </summary>
internal sealed class CountingContent(HttpContent inner) : HttpContent
{
    private long _count;

    /// <summary>Body bytes read from the upstream so far.</summary>
    public long Count => _count;

    protected override Task<Stream> CreateContentReadStreamAsync(CancellationToken cancellationToken)
    {
        var stream = inner.ReadAsStreamAsync(cancellationToken);
        return stream.IsCompletedSuccessfully ? Task.FromResult<Stream>(new ReadCounter(stream.Result, this)) : CountedAsync(stream);
    }

    private async Task<Stream> CountedAsync(Task<Stream> stream) => new ReadCounter(await stream, this);

    protected override Stream CreateContentReadStream(CancellationToken cancellationToken) =>
        new ReadCounter(inner.ReadAsStream(cancellationToken), this);

    protected override Task SerializeToStreamAsync(Stream stream, TransportContext? context) =>
        SerializeToStreamAsync(stream, context, CancellationToken.None);

    protected override async Task SerializeToStreamAsync(Stream stream, TransportContext? context, CancellationToken cancellationToken)
    {
        await using var read = CreateContentReadStream(cancellationToken);
        await read.CopyToAsync(stream, cancellationToken);
    }

    protected override bool TryComputeLength(out long length)
    {
        length = 0;
        return false;
    }

    protected override void Dispose(bool disposing)
    {
        if (disposing)
        {
            inner.Dispose();
        }

        base.Dispose(disposing);
    }

    /// <summary>Counts what is read; a read that completes at once (the common case) costs no state machine.</summary>
    private sealed class ReadCounter(Stream stream, CountingContent owner) : ReadThroughStream(stream)
    {
        public override int Read(Span<byte> buffer) => Counted(Inner.Read(buffer));

        public override ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default)
        {
            var read = Inner.ReadAsync(buffer, cancellationToken);
            return read.IsCompletedSuccessfully ? new ValueTask<int>(Counted(read.Result)) : AwaitedAsync(read);
        }

        private async ValueTask<int> AwaitedAsync(ValueTask<int> read) => Counted(await read);

        private int Counted(int read)
        {
            owner._count += read;
            return read;
        }
    }
}
