using System.ComponentModel;
using System.Text.Json;

namespace Valet.Server.Mcp;

// Tool inputs and outputs. Their JSON schemas (snake_case, as the rest of the API) are generated from these records by
// McpSchemas; the descriptions are written for the model that reads tools/list.

internal sealed record ListConnectionsInput;

internal sealed record CallApiInput(
    [property: Description("The connection to call through (from list_connections). Give exactly one of connection_id, provider or target.")]
    string? ConnectionId,
    [property: Description("A provider id (e.g. github): Valet picks the one connection of that provider this key may use.")]
    string? Provider,
    [property: Description("A managed target id (from list_connections): its base URL and required scopes apply.")]
    string? Target,
    [property: Description("HTTP method; GET when left out.")]
    string? Method,
    [property: Description("Path under the provider's API base, e.g. user/repos. Never a full URL: the host is always the provider's.")]
    string Path,
    [property: Description("Query parameters, added to the path's own: each value a string, or a number or boolean sent as its JSON text (10, true).")]
    Dictionary<string, JsonElement>? Query,
    [property: Description("Extra request headers (e.g. Accept). Authorization, Cookie, Host and hop-by-hop headers are refused: Valet adds the credential.")]
    Dictionary<string, string>? Headers,
    [property: Description("Request body: a JSON value is sent as application/json, a string as text/plain unless headers say otherwise.")]
    JsonElement? Body);

internal sealed record CallApiOutput(
    [property: Description("The upstream API's HTTP status.")]
    int Status,
    [property: Description("A safe subset of the upstream's response headers: content-type, etag, link, retry-after, x-ratelimit-*.")]
    IReadOnlyDictionary<string, string> Headers,
    [property: Description("The response body: JSON as JSON, text as a string, null when empty.")]
    JsonElement? Body,
    [property: Description("True when the body was cut at the size cap (then it is returned as text).")]
    bool Truncated);

internal sealed record ConnectAccountInput(
    [property: Description("The provider to connect an account of (one this API key names).")]
    string Provider,
    [property: Description("Scopes the new connection should be granted; the provider's defaults when left out.")]
    IReadOnlyList<string>? Scopes);

internal sealed record WaitForConnectionInput(
    [property: Description("The flow_id from an envelope (connect_account, call_api or list_connections).")]
    string FlowId,
    [property: Description("How long to wait for the person, 0 to 60 seconds; 30 when left out.")]
    int? TimeoutSeconds);

internal sealed record WaitForConnectionOutput(
    [property: Description("pending (the person has not finished: call again), complete, error or expired.")]
    string Status,
    string Provider,
    [property: Description("The new connection, once complete: use it as connection_id in call_api.")]
    string? ConnectionId,
    [property: Description("Why the flow failed, when it did.")]
    string? Error);
