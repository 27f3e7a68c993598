#!/usr/bin/env bash
# Security scan with checkov (pip install checkov; pinned in scripts/requirements-ci.txt):
# the Dockerfile, the Helm chart (when helm is installed; otherwise manifests/install.yaml,
# which is the chart rendered with its defaults), manifests/install.yaml, and every object the
# operator renders for the example platforms in manifests/*.yaml. Settings and the reasoned
# list of skipped checks: .checkov.yaml. Exits non-zero when any check fails.
#
#   scripts/checkov.sh
#
# Environment: CHECKOV (default: checkov on PATH, else .venv/bin/checkov), OPERATOR_BIN (a built
# storefront-operator; default: cargo build -p storefront-operator into $CARGO_TARGET_DIR).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
# Offline: no download of guidelines or new checks; results depend on the pinned version only.
export BC_SKIP_MAPPING=TRUE CHECKOV_RUN_SCA_PACKAGE_SCAN_V2=false

checkov="${CHECKOV:-}"
if [ -z "$checkov" ]; then
    if command -v checkov >/dev/null 2>&1; then
        checkov=checkov
    elif [ -x "$ROOT/.venv/bin/checkov" ]; then
        checkov="$ROOT/.venv/bin/checkov"
    else
        echo "checkov: not installed; run scripts/setup.sh (checkov is in scripts/requirements-ci.txt) or pip install checkov" >&2
        exit 2
    fi
fi

if [ -z "${OPERATOR_BIN:-}" ]; then
    export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$ROOT/target}"
    cargo build --quiet -p storefront-operator
    OPERATOR_BIN="$CARGO_TARGET_DIR/debug/storefront-operator"
fi

# One directory to scan (checkov reads either files or directories, not both in one run).
OUT="$(mktemp -d)"
trap 'rm -rf "$OUT"' EXIT
mkdir -p "$OUT/scan/rendered"
cp Dockerfile "$OUT/scan/Dockerfile"
cp manifests/install.yaml "$OUT/scan/install.yaml"
rendered=0
for file in manifests/*.yaml; do
    grep -q '^kind: EcommercePlatform' "$file" || continue
    "$OPERATOR_BIN" render --file "$file" >"$OUT/scan/rendered/$(basename "$file")"
    rendered=$((rendered + 1))
done
echo "checkov: scanning Dockerfile, manifests/install.yaml and the objects of $rendered rendered example platform(s)"

failed=0
"$checkov" --config-file .checkov.yaml -d "$OUT/scan" || failed=1
if command -v helm >/dev/null 2>&1; then
    "$checkov" --config-file .checkov.yaml --framework helm -d charts/storefront-operator || failed=1
else
    echo "checkov: helm is not installed; the chart is covered through manifests/install.yaml (its default rendering)"
fi
if [ "$failed" -ne 0 ]; then
    echo "checkov: failed checks above; fix them or add a skip with its reason to .checkov.yaml" >&2
    exit 1
fi
echo "checkov: no failed checks"
