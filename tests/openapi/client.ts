// Type-checked (tsc --noEmit) against the types openapi-typescript generated from the served document (./api.d.ts):
// proof that a tool nobody here wrote can use the description for bootstrap, a token, an envelope and a problem.
import type { components, paths } from "./api";

type Bootstrap = paths["/v1/bootstrap"]["get"]["responses"][200]["content"]["application/json"];
type Token = paths["/v1/connections/{id}/token"]["post"]["responses"][200]["content"]["application/json"];
type Envelope = components["schemas"]["AuthRecoveryEnvelope"];
type Problem = components["schemas"]["Problem"];
type CreateOrg = paths["/v1/orgs"]["post"]["responses"][201]["content"]["application/json"];
type OrgNotFound = paths["/v1/orgs/{org}"]["get"]["responses"][404]["content"]["application/problem+json"];

export function firstConnection(bootstrap: Bootstrap): string | undefined {
  return bootstrap.connections?.[0]?.id;
}

export function authorization(token: Token): string {
  return `Bearer ${token.access_token}`;
}

export function whatAPersonMustDo(envelope: Envelope): string {
  const code: "needs_authentication" | "reauth_required" | "missing_scopes" = envelope.code;
  if (envelope.headless) {
    return `${code}: run your own OAuth dance for ${envelope.provider} with credential ${envelope.credential_id ?? "(none)"}`;
  }
  const missing: string[] = envelope.missing_scopes;
  return `${code}: open ${envelope.connect_url ?? "(no link)"} and wait on flow ${envelope.flow_id ?? "(none)"}; missing ${missing.join(" ")}`;
}

export function describe(problem: Problem | OrgNotFound): string {
  const status: number = problem.status;
  return `${status} ${problem.code}: ${problem.detail ?? problem.title}`;
}

export function orgId(created: CreateOrg): string {
  return created.id;
}

// Each error response lists its codes as the enum of `code`: a 409 of the token route by provider is the envelope or
// ambiguous_connection (with its connections), and nothing else.
type ProviderTokenConflict = paths["/v1/providers/{provider}/token"]["post"]["responses"][409]["content"]["application/problem+json"];
type ConnectionTokenNotFound = paths["/v1/connections/{id}/token"]["post"]["responses"][404]["content"]["application/problem+json"];

export function resolveConflict(problem: ProviderTokenConflict): string {
  if (problem.code === "ambiguous_connection") {
    return `pick one of ${problem.connections.map((c) => `${c.id} (${c.account.login ?? c.account.id})`).join(", ")}`;
  }
  const code: "needs_authentication" | "reauth_required" | "missing_scopes" = problem.code;
  return `${code}: ${problem.connect_url ?? "run your own OAuth dance"}`;
}

export function notFound(problem: ConnectionTokenNotFound): "connection_not_found" {
  return problem.code;
}
