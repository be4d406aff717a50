using System.Text;
using System.Text.Json;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Logging;
using Microsoft.Net.Http.Headers;
using ModelContextProtocol;
using ModelContextProtocol.Protocol;

namespace Valet.Server.Mcp;

/// <summary>
/// Answers the hot tool calls (<c>call_api</c>, <c>list_connections</c>, <c>connect_account</c>) of a client of the
/// initialize handshake without the SDK's per-request server.
/// <para>
/// The SDK's stateless transport builds a whole MCP server for every POST (options, handler tables, a message loop, a
/// transport and its channels: nine thread-pool work items against the proxy's three), which cost more than a complete
/// proxied call (docs/mcp.md, "Performance"). A <c>tools/call</c> of these tools needs none of it: it is one JSON-RPC
/// request answered by one JSON-RPC response on the POST's own stream, with no server-to-client message in between
/// (https://modelcontextprotocol.io/specification/2025-11-25/basic/transports#sending-messages-to-the-server). So this
/// reads the request with the SDK's own types and serializer options, calls the same <see cref="McpTools"/> the SDK's
/// handler calls, and writes the response as the SDK's transport does (one <c>message</c> event on
/// <c>text/event-stream</c>; a <see cref="McpProtocolException"/> becomes the same JSON-RPC error, -32042 with its
/// elicitations included). <c>McpDirectCallTests</c> proves the bytes equal the SDK's for every kind of answer.
/// </para>
/// <para>
/// Everything else — <c>initialize</c>, <c>tools/list</c>, <c>ping</c>, notifications, batches, <c>wait_for_connection</c>
/// (which may send a notification before its result), any request of another shape or protocol revision, and anything
/// this cannot read — goes to the SDK untouched (its body is handed over as read).
/// </para>
/// </summary>
internal sealed partial class McpDirectCalls(McpTools tools, ILogger<McpDirectCalls> logger)
{
    /// <summary>Bodies up to this size are read here; a larger one goes to the SDK.</summary>
    private const int MaxBodyBytes = 64 * 1024;

    private static readonly byte[] EventPrefix = "event: message\ndata: "u8.ToArray();
    private static readonly byte[] EventSuffix = "\n\n"u8.ToArray();

    private long _answered;

    /// <summary>Switch for tests that compare these answers with the SDK's; on in every real deployment.</summary>
    internal bool Enabled { get; set; } = true;

    /// <summary>How many calls were answered here rather than by the SDK (for tests).</summary>
    internal long Answered => Interlocked.Read(ref _answered);

    public async Task InvokeAsync(HttpContext context, RequestDelegate sdk)
    {
        var declaration = context.Features.Get<McpClientDeclaration>();
        if (!Enabled || declaration is null || !Acceptable(context.Request) || context.Request.ContentLength is not (> 0 and <= MaxBodyBytes))
        {
            await sdk(context);
            return;
        }

        var body = new byte[(int)context.Request.ContentLength.Value];
        var read = 0;
        while (read < body.Length && await context.Request.Body.ReadAsync(body.AsMemory(read), context.RequestAborted) is var n and > 0)
        {
            read += n;
        }

        if (read != body.Length || ReadToolCall(body) is not { } call)
        {
            context.Request.Body = new MemoryStream(body, 0, read, writable: false);
            await sdk(context);
            return;
        }

        byte[] answer;
        try
        {
            answer = Response(call.Request.Id, await tools.CallAsync(context, call.Parameters.Name, call.Parameters.Arguments,
                declaration.UrlElicitation, server: null, context.RequestAborted));
        }
        catch (McpProtocolException e)
        {
            answer = Serialize(new JsonRpcError { Id = call.Request.Id, Error = Detail(e) });
        }
        catch (Exception e) when (!(e is OperationCanceledException && context.RequestAborted.IsCancellationRequested))
        {
            // As the SDK's tools/call wrapper answers a handler's exception (McpServerImpl, CreateToolCallErrorResult): a
            // result with isError, naming the tool, with the message only for an McpException.
            Log.ToolFailed(logger, e, call.Parameters.Name, e.GetType().Name);
            answer = Response(call.Request.Id, new CallToolResult
            {
                IsError = true,
                Content =
                [
                    new TextContentBlock
                    {
                        Text = e is McpException
                            ? $"An error occurred invoking '{call.Parameters.Name}': {e.Message}"
                            : $"An error occurred invoking '{call.Parameters.Name}'.",
                    },
                ],
            });
        }

        Interlocked.Increment(ref _answered);
        await WriteAsync(context, answer, context.RequestAborted);
    }

    /// <summary>
    /// The SDK's own answers to what it would refuse (the Accept rule of Streamable HTTP, a revision it may not know) stay
    /// the SDK's: only a JSON POST from a client that accepts both media types, of the initialize-handshake revisions
    /// that carry a session id, is read here.
    /// </summary>
    private static bool Acceptable(HttpRequest request)
    {
        if (!MediaTypeHeaderValue.TryParse(request.ContentType, out var contentType)
            || !contentType.MediaType.Equals("application/json", StringComparison.OrdinalIgnoreCase)
            || request.Headers[McpSessionIds.ProtocolVersionHeader].ToString() is not ("2025-11-25" or "2025-06-18")
            || !MediaTypeHeaderValue.TryParseList(request.Headers.Accept, out var accepted))
        {
            return false;
        }

        // The media types themselves, as the SDK matches them (not application/json-patch+json for application/json).
        return accepted.Any(a => a.MediaType.Equals("application/json", StringComparison.OrdinalIgnoreCase))
            && accepted.Any(a => a.MediaType.Equals("text/event-stream", StringComparison.OrdinalIgnoreCase));
    }

    /// <summary>A single <c>tools/call</c> request of a tool answered here; null for anything else (the SDK's to answer).</summary>
    private static ToolCall? ReadToolCall(byte[] body)
    {
        try
        {
            if (JsonSerializer.Deserialize<JsonRpcMessage>(body, McpJsonUtilities.DefaultOptions) is not JsonRpcRequest
                {
                    Method: RequestMethods.ToolsCall, JsonRpc: "2.0", Params: { } parameters,
                } request)
            {
                return null;
            }

            var call = parameters.Deserialize<CallToolRequestParams>(McpJsonUtilities.DefaultOptions);
            return call is not null && McpTools.AnswersWithoutServer(call.Name) ? new ToolCall(request, call) : null;
        }
        catch (JsonException)
        {
            return null; // the SDK answers malformed JSON-RPC its own way
        }
    }

    /// <summary>As the SDK's session handler turns an <see cref="McpProtocolException"/> into a JSON-RPC error.</summary>
    private static JsonRpcErrorDetail Detail(McpProtocolException e) => new()
    {
        Code = (int)e.ErrorCode,
        Message = e.Message,
        Data = e is UrlElicitationRequiredException url
            ? new System.Text.Json.Nodes.JsonObject { ["elicitations"] = JsonSerializer.SerializeToNode(url.Elicitations, McpJsonUtilities.DefaultOptions) }
            : null,
    };

    /// <summary>
    /// A <see cref="JsonRpcResponse"/> as the SDK serializes one (result, id, jsonrpc), written straight from the result
    /// rather than through a <see cref="System.Text.Json.Nodes.JsonNode"/> of it.
    /// </summary>
    private static byte[] Response(RequestId id, CallToolResult result)
    {
        var buffer = new System.Buffers.ArrayBufferWriter<byte>(1024);
        using (var writer = new Utf8JsonWriter(buffer, new JsonWriterOptions { Encoder = McpJsonUtilities.DefaultOptions.Encoder }))
        {
            writer.WriteStartObject();
            writer.WritePropertyName("result");
            JsonSerializer.Serialize(writer, result, McpJsonUtilities.DefaultOptions);
            writer.WritePropertyName("id");
            JsonSerializer.Serialize(writer, id, McpJsonUtilities.DefaultOptions);
            writer.WriteString("jsonrpc", "2.0");
            writer.WriteEndObject();
        }

        return buffer.WrittenSpan.ToArray();
    }

    private static byte[] Serialize(JsonRpcMessage message) => JsonSerializer.SerializeToUtf8Bytes(message, McpJsonUtilities.DefaultOptions);

    private static async Task WriteAsync(HttpContext context, byte[] json, CancellationToken cancellationToken)
    {
        // The SDK's Streamable HTTP response to a POST (InitializeSseResponse): one SSE "message" event, uncached, never
        // compressed or buffered on the way.
        var response = context.Response;
        response.StatusCode = StatusCodes.Status200OK;
        response.ContentType = "text/event-stream";
        response.Headers.CacheControl = "no-store, no-cache";
        response.Headers.ContentEncoding = "identity";
        response.Headers["X-Accel-Buffering"] = "no";
        context.Features.Get<Microsoft.AspNetCore.Http.Features.IHttpResponseBodyFeature>()?.DisableBuffering();
        await response.Body.WriteAsync(EventPrefix, cancellationToken);
        await response.Body.WriteAsync(json, cancellationToken);
        await response.Body.WriteAsync(EventSuffix, cancellationToken);
    }

    private sealed record ToolCall(JsonRpcRequest Request, CallToolRequestParams Parameters);

    internal static partial class Log
    {
        [LoggerMessage(EventId = 5200, Level = LogLevel.Error, Message = "MCP tool {Tool} failed: {ErrorType}")]
        public static partial void ToolFailed(ILogger logger, Exception exception, string tool, string errorType);
    }
}
