// The official TypeScript MCP client (@modelcontextprotocol/sdk, pinned by package-lock.json) as an agent would run it,
// over Streamable HTTP, driven by Valet's tests (tests/Valet.Tests/Mcp/TypeScriptMcpClient.cs).
// Configuration (environment):
//   MCP_URL          the server's MCP endpoint, e.g. http://127.0.0.1:7878/mcp
//   MCP_KEY          the agent's API key (sent as Authorization: Bearer)
//   MCP_ELICITATION  "url" to declare URL-mode elicitation at initialize, anything else for none
// It connects (initialize), prints one line {"ready":true,"protocolVersion":…,"sessionId":…}, then reads one JSON command
// per line on stdin and answers each with one line on stdout, in completion order (commands run concurrently):
//   {"id":N,"op":"listTools"}                                → {"id":N,"result":{"tools":[…]}}
//   {"id":N,"op":"callTool","name":…,"arguments":{…}}        → {"id":N,"result":CallToolResult}
//                                                            or {"id":N,"error":{"name","code","message","data"}}
//   {"op":"close"}                                           → closes the session and exits 0
// Every notification from the server is printed as it arrives: {"notification":{"method":…,"params":…}}.
import readline from 'node:readline';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { ElicitRequestSchema, ElicitationCompleteNotificationSchema, McpError } from '@modelcontextprotocol/sdk/types.js';

const print = (value) => process.stdout.write(JSON.stringify(value) + '\n');

const url = new URL(process.env.MCP_URL ?? '');
const key = process.env.MCP_KEY ?? '';
const urlElicitation = process.env.MCP_ELICITATION === 'url';

const client = new Client(
  { name: 'valet-test-agent', version: '1.0.0' },
  { capabilities: urlElicitation ? { elicitation: { url: {} } } : {} },
);

if (urlElicitation) {
  // Declaring a capability means answering its requests. Valet never sends elicitation/create (it answers with the
  // -32042 error instead), so this is never called; it declines if it ever is.
  client.setRequestHandler(ElicitRequestSchema, async () => ({ action: 'decline' }));
  client.setNotificationHandler(ElicitationCompleteNotificationSchema, async (notification) => print({ notification }));
}

client.fallbackNotificationHandler = async (notification) => print({ notification });

const transport = new StreamableHTTPClientTransport(url, {
  requestInit: { headers: { Authorization: `Bearer ${key}` } },
});

try {
  await client.connect(transport);
} catch (error) {
  print({ ready: false, error: String(error?.message ?? error) });
  process.exit(1);
}

print({ ready: true, protocolVersion: transport.protocolVersion ?? null, sessionId: transport.sessionId ?? null });

const describe = (error) => ({
  name: error?.name ?? 'Error',
  code: error instanceof McpError ? error.code : (error?.code ?? null),
  message: String(error?.message ?? error),
  data: error instanceof McpError ? (error.data ?? null) : null,
});

// wait_for_connection may hold a request up to 60 s: above the SDK's 60 s default request timeout.
const options = { timeout: 120_000 };

const run = async (command) => {
  try {
    switch (command.op) {
      case 'listTools':
        return { id: command.id, result: await client.listTools(undefined, options) };
      case 'callTool':
        return { id: command.id, result: await client.callTool({ name: command.name, arguments: command.arguments ?? {} }, undefined, options) };
      default:
        return { id: command.id, error: { name: 'UnknownOp', code: null, message: `unknown op ${command.op}`, data: null } };
    }
  } catch (error) {
    return { id: command.id, error: describe(error) };
  }
};

const lines = readline.createInterface({ input: process.stdin });
for await (const line of lines) {
  if (line.trim().length === 0) continue;
  const command = JSON.parse(line);
  if (command.op === 'close') break;
  run(command).then(print);
}

await client.close();
process.exit(0);
