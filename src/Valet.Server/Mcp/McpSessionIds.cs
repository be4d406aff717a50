using System.Collections.Concurrent;
using System.Security.Cryptography;
using System.Text.Json;
using System.Text.Json.Nodes;
using System.Text.Json.Serialization;
using Microsoft.AspNetCore.DataProtection;
using Microsoft.AspNetCore.Http;
using ModelContextProtocol;
using ModelContextProtocol.Protocol;
using Valet.Server.Auth;

namespace Valet.Server.Mcp;

/// <summary>What a client of the initialize handshake declared at <c>initialize</c> that Valet acts on.</summary>
internal sealed record McpClientDeclaration(bool UrlElicitation);

/// <summary>
/// Remembers, without any state on a node, what a client declared at <c>initialize</c>.
/// <para>
/// Clients of the 2025-11-25 revision and earlier declare their capabilities once, in <c>initialize</c>
/// (https://modelcontextprotocol.io/specification/2025-11-25/basic/lifecycle#initialization), and a stateless server
/// forgets them by the next request. So the <c>Mcp-Session-Id</c> Valet returns with the InitializeResult is the
/// declaration itself: <c>{key id, URL elicitation}</c> protected (encrypted and authenticated) by ASP.NET Core Data
/// Protection, whose key ring is in the database (SessionSetup), so every node reads what any node wrote. The client
/// echoes it on every later request, as the transport requires
/// (https://modelcontextprotocol.io/specification/2025-11-25/basic/transports#session-management). The C# SDK's own
/// stateless mode once did exactly this for client info (csharp-sdk #392, removed in #760 so that the SDK need not
/// depend on Data Protection); Valet has the key ring anyway.
/// </para>
/// <para>
/// The SDK's stateless transport refuses a request that carries <c>Mcp-Session-Id</c> (400), so this reads and then
/// removes the header before the SDK sees the request. A session id that does not open (tampered, another install) is
/// a 404, after which the client must initialize again; one minted for another API key is a 403, as the SDK answers
/// a session of another user. Revisions from 2026-07-28 on declare capabilities on every request and have no sessions:
/// their requests pass untouched.
/// </para>
/// </summary>
internal sealed class McpSessionIds(IDataProtectionProvider dataProtection)
{
    public const string Header = "Mcp-Session-Id";
    public const string ProtocolVersionHeader = "MCP-Protocol-Version";

    /// <summary>An initialize request is small; a larger body is left to the SDK unread (its client gets no session id).</summary>
    private const int MaxPeekBytes = 64 * 1024;

    /// <summary>Session ids already opened, so that a client's every request does not pay for a decryption.</summary>
    private const int MaxOpened = 10_000;

    private readonly IDataProtector _protector = dataProtection.CreateProtector("Valet.Mcp.SessionId.v1");

    // A cache of a pure function (what a session id says), not state: any node computes the same from the id alone.
    private readonly ConcurrentDictionary<string, Session> _opened = new(StringComparer.Ordinal);

    public async Task InvokeAsync(HttpContext context, RequestDelegate next)
    {
        if (!HttpMethods.IsPost(context.Request.Method) || context.User is not ApiKeyPrincipal agent
            || IsPerRequestRevision(context.Request.Headers[ProtocolVersionHeader].ToString()))
        {
            await next(context);
            return;
        }

        var sessionId = context.Request.Headers[Header].ToString();
        if (sessionId.Length > 0)
        {
            var session = Read(sessionId);
            if (session is null)
            {
                await RefuseAsync(context, StatusCodes.Status404NotFound, -32001,
                    "Session not found: this Mcp-Session-Id was not issued by this server. Send initialize again, without it.");
                return;
            }

            if (!string.Equals(session.KeyId, agent.Key.Id, StringComparison.Ordinal))
            {
                await RefuseAsync(context, StatusCodes.Status403Forbidden, -32000,
                    "Forbidden: this Mcp-Session-Id belongs to another API key. Send initialize again, without it.");
                return;
            }

            context.Features.Set(new McpClientDeclaration(session.UrlElicitation));
            context.Request.Headers.Remove(Header);
            await next(context);
            return;
        }

        if (await PeekInitializeAsync(context.Request, context.RequestAborted) is { } declared)
        {
            var minted = Mint(new Session(agent.Key.Id, declared.UrlElicitation));

            // Only on the InitializeResult itself (200), not on the SDK's refusals; set before the SDK flushes its headers.
            context.Response.OnStarting(() =>
            {
                if (context.Response.StatusCode == StatusCodes.Status200OK)
                {
                    context.Response.Headers[Header] = minted;
                }

                return Task.CompletedTask;
            });
        }

        await next(context);
    }

    internal string Mint(Session session) => _protector.Protect(JsonSerializer.Serialize(session, SessionJson.Default.Session));

    internal Session? Read(string sessionId)
    {
        if (_opened.TryGetValue(sessionId, out var known))
        {
            return known;
        }

        try
        {
            var session = JsonSerializer.Deserialize(_protector.Unprotect(sessionId), SessionJson.Default.Session);
            if (session is not { KeyId.Length: > 0 })
            {
                return null;
            }

            if (_opened.Count >= MaxOpened)
            {
                _opened.Clear();
            }

            _opened[sessionId] = session;
            return session;
        }
        catch (Exception e) when (e is CryptographicException or FormatException or JsonException)
        {
            return null;
        }
    }

    /// <summary>The revisions of the initialize handshake this server speaks.</summary>
    private static readonly HashSet<string> HandshakeRevisions = new(StringComparer.Ordinal) { "2024-11-05", "2025-03-26", "2025-06-18", "2025-11-25" };

    private const string NewestHandshakeRevision = "2025-11-25";

    /// <summary>2026-07-28 and later: capabilities in every request's <c>_meta</c>, no sessions (the SDK ignores the header).</summary>
    private static bool IsPerRequestRevision(string version) =>
        version.Length == 10 && string.CompareOrdinal(version, "2026-07-28") >= 0;

    /// <summary>For an <c>initialize</c> request, what its <c>capabilities</c> declare; null for any other body. The body is rewound.</summary>
    private static async Task<McpClientDeclaration?> PeekInitializeAsync(HttpRequest request, CancellationToken cancellationToken)
    {
        if (request.ContentLength is > MaxPeekBytes)
        {
            return null;
        }

        // At most MaxPeekBytes + 1 are read (a chunked body has no length to check first); the buffering stream keeps them
        // for the SDK, which reads the whole body from the start.
        request.EnableBuffering();
        var buffer = new byte[(int)Math.Min(request.ContentLength ?? MaxPeekBytes, MaxPeekBytes) + 1];
        try
        {
            var length = 0;
            while (length < buffer.Length && await request.Body.ReadAsync(buffer.AsMemory(length), cancellationToken) is var read and > 0)
            {
                length += read;
            }

            if (length > MaxPeekBytes)
            {
                return null;
            }

            using var document = JsonDocument.Parse(buffer.AsMemory(0, length));
            var root = document.RootElement;
            if (root.ValueKind != JsonValueKind.Object || !root.TryGetProperty("method", out var method) || method.ValueKind != JsonValueKind.String
                || method.GetString() != "initialize")
            {
                return null;
            }

            // capabilities.elicitation.url is an object when the client supports URL mode
            // (https://modelcontextprotocol.io/specification/2025-11-25/client/elicitation#capabilities).
            var url = root.TryGetProperty("params", out var parameters) && parameters.ValueKind == JsonValueKind.Object
                && parameters.TryGetProperty("capabilities", out var capabilities) && capabilities.ValueKind == JsonValueKind.Object
                && capabilities.TryGetProperty("elicitation", out var elicitation) && elicitation.ValueKind == JsonValueKind.Object
                && elicitation.TryGetProperty("url", out var urlMode) && urlMode.ValueKind == JsonValueKind.Object;

            // "If the server supports the requested version, it MUST respond with the same version. Otherwise, the server
            // MUST respond with another protocol version it supports"
            // (https://modelcontextprotocol.io/specification/2025-11-25/basic/lifecycle#version-negotiation). The SDK
            // answers an initialize naming a revision without the handshake (2026-07-28 and later, or one it cannot read)
            // with error -32022 instead; clients do send those in initialize. Such a request is offered the newest
            // handshake revision, as the SDK already does for an older unknown one.
            if (parameters.ValueKind == JsonValueKind.Object && parameters.TryGetProperty("protocolVersion", out var version)
                && version.ValueKind == JsonValueKind.String && !HandshakeRevisions.Contains(version.GetString()!))
            {
                var rewritten = JsonNode.Parse(buffer.AsMemory(0, length).Span)!;
                rewritten["params"]!["protocolVersion"] = NewestHandshakeRevision;
                var bytes = JsonSerializer.SerializeToUtf8Bytes(rewritten);
                request.Body = new MemoryStream(bytes);
                request.ContentLength = bytes.Length;
            }

            return new McpClientDeclaration(url);
        }
        catch (Exception e) when (e is JsonException or ArgumentException)
        {
            // Not JSON (or, for the version rewrite, an object with duplicate keys, which JsonNode refuses): the SDK answers
            // it when it reads the same body, unchanged.
            return null;
        }
        finally
        {
            request.Body.Position = 0;
        }
    }

    /// <summary>A JSON-RPC error without an id, as the transport answers a request it refuses before reading it.</summary>
    internal static async Task RefuseAsync(HttpContext context, int status, int code, string message)
    {
        context.Response.StatusCode = status;
        context.Response.ContentType = "application/json";
        JsonRpcMessage refusal = new JsonRpcError { Id = default, Error = new JsonRpcErrorDetail { Code = code, Message = message } };
        await context.Response.WriteAsync(JsonSerializer.Serialize(refusal, McpJsonUtilities.DefaultOptions), context.RequestAborted);
    }

    /// <summary>The protected content of a session id: whose it is, and what the client declared.</summary>
    internal sealed record Session([property: JsonPropertyName("k")] string KeyId, [property: JsonPropertyName("u")] bool UrlElicitation);
}

[JsonSerializable(typeof(McpSessionIds.Session))]
internal sealed partial class SessionJson : JsonSerializerContext;
