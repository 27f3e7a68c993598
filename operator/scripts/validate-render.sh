#!/usr/bin/env bash
# Validate what the operator renders against upstream Kubernetes schemas, offline.
#
#   operator/scripts/validate-render.sh            (from anywhere in the repository)
#
# Builds storefront-operator, renders every EcommercePlatform in manifests/*.yaml and runs
# `kubernetes-validate --strict` (pip install kubernetes-validate; it ships the schemas) on the
# output. Also checks that crds/ matches the binary and that each example validates against our
# own CRD schema and CEL rules (the examples_schema test). Exits non-zero on any failure and says
# which file failed.
set -euo pipefail

K8S_VERSION="${K8S_VERSION:-1.35.0}"
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
cd "$ROOT"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$ROOT/target}"

if ! command -v kubernetes-validate >/dev/null; then
    echo "validate-render: kubernetes-validate is not installed; run: pip install kubernetes-validate" >&2
    exit 2
fi

cargo build --quiet -p storefront-operator
BIN="$CARGO_TARGET_DIR/debug/storefront-operator"
OUT="$(mktemp -d)"
trap 'rm -rf "$OUT"' EXIT

failures=0
fail() {
    echo "FAIL: $*" >&2
    failures=$((failures + 1))
}

# The CRD in crds/ is exactly what the binary prints.
"$BIN" crd >"$OUT/crd.yaml"
if ! diff -q "$OUT/crd.yaml" crds/storefront.dev_ecommerceplatforms.yaml >/dev/null; then
    fail "crds/storefront.dev_ecommerceplatforms.yaml is stale; run: cargo run -p storefront-operator -- crd > crds/storefront.dev_ecommerceplatforms.yaml"
fi
kubernetes-validate --strict --quiet -k "$K8S_VERSION" "$OUT/crd.yaml" || fail "the CRD does not validate as apiextensions.k8s.io/v1"

rendered=0
for file in manifests/*.yaml; do
    grep -q '^kind: EcommercePlatform' "$file" || continue
    name="$(basename "$file" .yaml)"
    if ! "$BIN" render --file "$file" >"$OUT/$name.yaml" 2>"$OUT/$name.err"; then
        fail "$file does not render: $(cat "$OUT/$name.err")"
        continue
    fi
    count="$(grep -c '^kind: ' "$OUT/$name.yaml" || true)"
    if kubernetes-validate --strict --quiet -k "$K8S_VERSION" "$OUT/$name.yaml"; then
        echo "ok: $file -> $count objects valid against Kubernetes $K8S_VERSION (strict)"
    else
        fail "objects rendered from $file are not valid against Kubernetes $K8S_VERSION (see above)"
    fi
    rendered=$((rendered + 1))
done
[ "$rendered" -gt 0 ] || fail "no EcommercePlatform found in manifests/*.yaml"

# Examples against our own CRD schema and CEL rules.
cargo test --quiet -p storefront-operator --test examples_schema >"$OUT/schema.log" 2>&1 \
    || { cat "$OUT/schema.log" >&2; fail "an example does not validate against crds/ (see above)"; }

if [ "$failures" -gt 0 ]; then
    echo "validate-render: $failures failure(s)" >&2
    exit 1
fi
echo "validate-render: all rendered objects and examples are valid"
