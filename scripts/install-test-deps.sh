#!/usr/bin/env bash
# Installs what the test suite needs on a fresh Debian machine, and nothing when it is already there:
# Debian's chromium (driven by Playwright), PostgreSQL server binaries (a throwaway server is started by the tests),
# the oidc-provider harness (npm ci, pinned by tests/idp/package-lock.json), and the OpenAPI tools the API-description
# test runs (Redocly CLI, openapi-typescript, TypeScript; npm ci, pinned by tests/openapi/package-lock.json).
set -euo pipefail
cd "$(dirname "$0")/.."

need_apt=()
[ -x /usr/bin/chromium ] || need_apt+=(chromium)
compgen -G "/usr/lib/postgresql/*/bin/initdb" > /dev/null || need_apt+=(postgresql)
if [ ${#need_apt[@]} -gt 0 ]; then
  echo "install-test-deps: apt-get install ${need_apt[*]}" >&2
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${need_apt[@]}" > /dev/null
fi

if [ ! -d tests/idp/node_modules/oidc-provider ]; then
  echo "install-test-deps: npm ci (tests/idp)" >&2
  npm ci --prefix tests/idp --no-audit --no-fund --loglevel=error > /dev/null
fi

if [ ! -d tests/mcp/node_modules/@modelcontextprotocol/sdk ]; then
  echo "install-test-deps: npm ci (tests/mcp: the official TypeScript MCP client)" >&2
  npm ci --prefix tests/mcp --no-audit --no-fund --loglevel=error > /dev/null
fi

if [ ! -d tests/dashboard/node_modules/axe-core ]; then
  echo "install-test-deps: npm ci (tests/dashboard: axe-core for the dashboard's accessibility checks)" >&2
  npm ci --prefix tests/dashboard --no-audit --no-fund --loglevel=error > /dev/null
fi

if [ ! -x tests/openapi/node_modules/.bin/redocly ]; then
  echo "install-test-deps: npm ci (tests/openapi)" >&2
  npm ci --prefix tests/openapi --no-audit --no-fund --loglevel=error > /dev/null
fi
