#!/usr/bin/env bash
# The public API against its OpenAPI document: starts the whole platform (debug binaries, throwaway
# PostgreSQL and Redis, rate limits raised for the run), then runs schemathesis (from PATH; `make`
# puts .venv/bin there) on /api/openapi.json as a customer and as the admin. Exits non-zero on any
# failure; reports in target/schemathesis/<role>/ (JUnit and NDJSON).
#
#   scripts/schemathesis.sh                  # 50 cases per operation, seed 1 (about a minute)
#   STOREFRONT_SCHEMATHESIS_EXAMPLES=200 STOREFRONT_SCHEMATHESIS_SEED=7 scripts/schemathesis.sh
#   STOREFRONT_SCHEMATHESIS_CHECKS=all scripts/schemathesis.sh   # also the request-side checks
set -euo pipefail
cd "$(dirname "$0")/.."

if ! command -v schemathesis >/dev/null 2>&1; then
    echo "schemathesis is not on PATH: python3 -m venv .venv && .venv/bin/pip install -r scripts/requirements-ci.txt, then PATH=\$PWD/.venv/bin:\$PATH" >&2
    exit 1
fi
CARGO=${CARGO:-cargo}
"$CARGO" build --workspace --bins
STOREFRONT_SCHEMATHESIS=1 exec "$CARGO" test -p storefront-local --test api_schema -- --nocapture
