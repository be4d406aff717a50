#!/usr/bin/env bash
# The whole test suite, on a fresh machine: installs what it needs, runs every test against real parts
# (oidc-provider, PostgreSQL, Chromium, the real server and CLI), and ends with one line counted from the TRX results:
#   N passed, N failed, N skipped
set -uo pipefail
cd "$(dirname "$0")"

scripts/install-test-deps.sh || { echo "test.sh: installing test dependencies failed" >&2; exit 1; }

results=TestResults
rm -rf "$results"
dotnet test Valet.slnx -c Release --logger "trx;LogFileName=results.trx" --logger "console;verbosity=minimal" \
  --results-directory "$results" --blame-hang-timeout 10m
status=$?

python3 - "$results" "$status" <<'PY'
import glob, sys, xml.etree.ElementTree as ET
results, status = sys.argv[1], int(sys.argv[2])
ns = {"t": "http://microsoft.com/schemas/VisualStudio/TeamTest/2010"}
passed = failed = skipped = 0
files = glob.glob(f"{results}/**/*.trx", recursive=True)
for path in files:
    counters = ET.parse(path).getroot().find("t:ResultSummary/t:Counters", ns)
    if counters is None:
        continue
    passed += int(counters.get("passed", 0))
    failed += int(counters.get("failed", 0)) + int(counters.get("error", 0)) + int(counters.get("timeout", 0)) + int(counters.get("aborted", 0))
    skipped += int(counters.get("notExecuted", 0)) + int(counters.get("inconclusive", 0))
print(f"{passed} passed, {failed} failed, {skipped} skipped")
if not files or passed == 0:
    print("test.sh: no test results were produced", file=sys.stderr)
    sys.exit(1)
sys.exit(1 if failed or status else 0)
PY
