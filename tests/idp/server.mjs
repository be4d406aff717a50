// A real authorization server for Valet's tests: oidc-provider (OpenID Certified) with PKCE required, rotating
// refresh tokens, revocation, introspection and its development login/consent pages, on 127.0.0.1.
// Configuration (environment):
//   PORT              listening port (0 = ephemeral)                      default 0
//   ACCESS_TOKEN_TTL  access token lifetime in seconds                    default 3600
//   CLIENTS_JSON      JSON array of extra client metadata (merged with the defaults below)
//   CLIENT_CREDENTIALS_TTL  lifetime of client-credentials tokens in seconds  default ACCESS_TOKEN_TTL
//   DEVICE_INTERVAL   the `interval` added to device authorization answers (oidc-provider sends none: RFC 8628's 5 s) default 1
// On start it prints one line: {"ready":true,"issuer":"http://127.0.0.1:PORT","port":PORT}
//
// Test-control API on the same server, under /__control (plain JSON; never part of the OAuth surface):
//   GET  /__control/stats           token endpoint requests by grant_type since the last reset (incl. faulted ones)
//   POST /__control/reset           zero the stats and clear faults
//   POST /__control/fault           {"mode":"none|500|hang|429|invalid_grant|down|slow|oauth_error","error":"slow_down","grant":"refresh_token|authorization_code|any",
//                                    "retryAfter":N,"times":N,"delayMs":N}  — how the token endpoint answers (times: -1 = until
//                                    reset; slow: wait delayMs, then answer normally — even if the client has gone)
//   POST /__control/iss             {"mode":"normal|omit|wrong"}  — RFC 9207 iss in authorization responses
//   GET  /__control/last-refresh    the refresh_token value last presented to the token endpoint (for rotation checks)
import http from 'node:http';
import Provider from 'oidc-provider';

const port = Number(process.env.PORT ?? 0);
const accessTokenTtl = Number(process.env.ACCESS_TOKEN_TTL ?? 3600);
const clientCredentialsTtl = Number(process.env.CLIENT_CREDENTIALS_TTL ?? accessTokenTtl);
const deviceInterval = Number(process.env.DEVICE_INTERVAL ?? 1);
const deviceGrant = 'urn:ietf:params:oauth:grant-type:device_code';

const defaultClients = [
  {
    client_id: 'valet-test',
    client_secret: 'valet-test-secret',
    application_type: 'native', // RFC 8252 §7.3: any port on a loopback redirect URI
    redirect_uris: ['http://127.0.0.1/oauth/callback'],
    grant_types: ['authorization_code', 'refresh_token'],
    response_types: ['code'],
    token_endpoint_auth_method: 'client_secret_post',
  },
  {
    client_id: 'valet-basic',
    client_secret: 'valet-basic-secret',
    application_type: 'native',
    redirect_uris: ['http://127.0.0.1/oauth/callback'],
    grant_types: ['authorization_code', 'refresh_token'],
    response_types: ['code'],
    token_endpoint_auth_method: 'client_secret_basic',
  },
  {
    // Client credentials (RFC 6749 §4.4): a machine client, no user, no redirect.
    client_id: 'valet-cc',
    client_secret: 'valet-cc-secret',
    redirect_uris: [],
    grant_types: ['client_credentials'],
    response_types: [],
    scope: 'read write',
    token_endpoint_auth_method: 'client_secret_post',
  },
  {
    // Device authorization grant (RFC 8628): the user enters a code on the IdP's device page.
    client_id: 'valet-device',
    client_secret: 'valet-device-secret',
    application_type: 'native',
    redirect_uris: [],
    grant_types: [deviceGrant, 'refresh_token'],
    response_types: [],
    token_endpoint_auth_method: 'client_secret_post',
  },
  {
    // For tests that ask the IdP whether a token is still active.
    client_id: 'introspector',
    client_secret: 'introspector-secret',
    redirect_uris: [],
    grant_types: [],
    response_types: [],
    token_endpoint_auth_method: 'client_secret_basic',
  },
];
const clients = [...defaultClients, ...JSON.parse(process.env.CLIENTS_JSON ?? '[]')];

const stats = { authorization_code: 0, refresh_token: 0, client_credentials: 0, device_code: 0, other: 0, total: 0 };
let fault = { mode: 'none', grant: 'any', retryAfter: 1, times: 0 };
let issMode = 'normal';
let lastRefresh = null;

const server = http.createServer();
await new Promise((resolve) => server.listen(port, '127.0.0.1', resolve));
const issuer = `http://127.0.0.1:${server.address().port}`;

const provider = new Provider(issuer, {
  clients,
  pkce: { required: () => true },
  rotateRefreshToken: true,
  issueRefreshToken: async (ctx, client) => client.grantTypeAllowed('refresh_token'),
  scopes: ['openid', 'offline_access', 'profile', 'email', 'read', 'write', 'mail.read'],
  claims: { openid: ['sub'], profile: ['preferred_username', 'name'], email: ['email'] },
  findAccount: async (ctx, sub) => ({
    accountId: sub,
    claims: async () => ({ sub, preferred_username: sub, name: sub, email: `${sub}@example.test` }),
  }),
  features: {
    devInteractions: { enabled: true },
    revocation: { enabled: true },
    introspection: { enabled: true },
    clientCredentials: { enabled: true },
    deviceFlow: { enabled: true },
  },
  ttl: {
    AccessToken: accessTokenTtl,
    AuthorizationCode: 120,
    RefreshToken: 14 * 24 * 3600,
    Grant: 14 * 24 * 3600,
    Session: 14 * 24 * 3600,
    Interaction: 600,
    ClientCredentials: clientCredentialsTtl,
    DeviceCode: 600,
  },
});
provider.proxy = false;

const json = (ctx, status, body) => {
  ctx.status = status;
  ctx.type = 'application/json';
  ctx.body = JSON.stringify(body);
};

const readBody = async (req) => {
  const chunks = [];
  for await (const chunk of req) chunks.push(chunk);
  return Buffer.concat(chunks).toString('utf8');
};

// Test control and fault injection, in front of the provider's own routes.
provider.use(async (ctx, next) => {
  if (ctx.path.startsWith('/__control/')) {
    const body = ctx.method === 'POST' ? JSON.parse((await readBody(ctx.req)) || '{}') : {};
    switch (ctx.path) {
      case '/__control/stats': return json(ctx, 200, stats);
      case '/__control/last-refresh': return json(ctx, 200, { refresh_token: lastRefresh });
      case '/__control/reset':
        for (const k of Object.keys(stats)) stats[k] = 0;
        fault = { mode: 'none', grant: 'any', retryAfter: 1, times: 0 };
        issMode = 'normal';
        return json(ctx, 200, { ok: true });
      case '/__control/fault':
        fault = { mode: body.mode ?? 'none', grant: body.grant ?? 'any', retryAfter: body.retryAfter ?? 1, times: body.times ?? -1, delayMs: body.delayMs ?? 1000, error: body.error ?? 'invalid_request' };
        return json(ctx, 200, fault);
      case '/__control/iss':
        issMode = body.mode ?? 'normal';
        return json(ctx, 200, { mode: issMode });
      default: return json(ctx, 404, { error: 'not_found' });
    }
  }

  if (ctx.path === '/token' && ctx.method === 'POST') {
    // Parse the form here (oidc-provider then uses the already-parsed body) to count and to fault by grant type.
    const raw = await readBody(ctx.req);
    const params = Object.fromEntries(new URLSearchParams(raw));
    ctx.request.body = params;
    const grant = params.grant_type;
    stats.total += 1;
    if (grant === 'authorization_code' || grant === 'refresh_token') stats[grant] += 1; else stats.other += 1;
    if (grant === 'client_credentials') stats.client_credentials += 1;
    if (grant === deviceGrant) stats.device_code += 1;
    if (grant === 'refresh_token') lastRefresh = params.refresh_token;

    const applies = fault.mode !== 'none' && fault.times !== 0
      && (fault.grant === 'any' || fault.grant === grant || (fault.grant === 'device_code' && grant === deviceGrant));
    if (applies) {
      if (fault.times > 0) fault.times -= 1;
      switch (fault.mode) {
        case '500': return json(ctx, 500, { error: 'server_error' });
        case '429':
          ctx.set('Retry-After', String(fault.retryAfter));
          return json(ctx, 429, { error: 'slow_down' });
        case 'invalid_grant': return json(ctx, 400, { error: 'invalid_grant', error_description: 'grant revoked by the test' });
        case 'oauth_error': return json(ctx, 400, { error: fault.error });
        case 'down':
          ctx.req.socket.destroy();
          return undefined;
        case 'hang':
          await new Promise((resolve) => setTimeout(resolve, 120_000));
          return json(ctx, 504, { error: 'temporarily_unavailable' });
        case 'slow':
          await new Promise((resolve) => setTimeout(resolve, fault.delayMs));
          break;
        default: break;
      }
    }
  }

  await next();

  // RFC 8628 §3.2: interval is optional (5 s when absent); tests poll faster.
  if (ctx.path === '/device/auth' && ctx.status === 200 && ctx.body) {
    const answer = typeof ctx.body === 'string' ? JSON.parse(ctx.body) : ctx.body;
    answer.interval = deviceInterval;
    ctx.body = answer;
  }

  // RFC 9207 manipulation of the authorization response's iss, for the tests that need it to be missing or wrong.
  const location = ctx.response.get('Location');
  if (issMode !== 'normal' && location && /[?&]state=/.test(location) && /[?&](code|error)=/.test(location)) {
    const url = new URL(location);
    if (issMode === 'omit') url.searchParams.delete('iss');
    if (issMode === 'wrong') url.searchParams.set('iss', 'http://127.0.0.1:1/not-the-issuer');
    ctx.redirect(url.href);
  }
  return undefined;
});

server.on('request', provider.callback());
process.stdout.write(`${JSON.stringify({ ready: true, issuer, port: server.address().port })}\n`);

const stop = () => server.close(() => process.exit(0));
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
