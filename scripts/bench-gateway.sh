#!/usr/bin/env bash
# The gateway beside nginx serving the same body (wrk), cached and uncached catalog reads, and the
# loadgen mix, on release binaries. Needs wrk and nginx (apt-get install -y wrk nginx-light).
# Extra arguments go to `storefront-local bench-gateway` (e.g. -t2 -c64 -d15s --nginx-workers 1).
set -euo pipefail
cd "$(dirname "$0")/.."
CARGO=${CARGO:-cargo}
TARGET=${CARGO_TARGET_DIR:-target}
"$CARGO" build --release -p storefront-local -p storefront-gateway -p storefront-users \
    -p storefront-catalog -p storefront-cart -p storefront-inventory -p storefront-payments \
    -p storefront-orders -p storefront-web -p storefront-loadgen
exec "$TARGET/release/storefront-local" bench-gateway --json "$TARGET/bench-gateway.json" "$@"
