#!/usr/bin/env bash
# Copies the generated CRD (crds/) into the chart's crds/ (Helm installs crds/ before the
# templates and never templates it) and into the CRD document of manifests/install.yaml.
# Run after regenerating crds/; `cargo test -p storefront-e2e --test chart` fails on drift.
#
#   charts/storefront-operator/sync-crds.sh           copy
#   charts/storefront-operator/sync-crds.sh --check   exit 1 if either copy is stale
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$here/../.."
src="$root/crds/storefront.dev_ecommerceplatforms.yaml"
chart_crd="$here/crds/storefront.dev_ecommerceplatforms.yaml"
bundle="$root/manifests/install.yaml"
marker="# Source: storefront-operator/crds/storefront.dev_ecommerceplatforms.yaml"

# install.yaml with its CRD document (from the marker line to the next `---`) replaced by $src.
spliced_bundle() {
    awk -v marker="$marker" -v crd="$src" '
        skipping && $0 == "---" { skipping = 0 }
        skipping { next }
        { print }
        $0 == marker { while ((getline line < crd) > 0) print line; skipping = 1 }
    ' "$bundle"
}

grep -qxF "$marker" "$bundle" || { echo "sync-crds: $bundle has no line '$marker'" >&2; exit 1; }

if [ "${1:-}" = --check ]; then
    stale=0
    cmp -s "$src" "$chart_crd" || { echo "sync-crds: $chart_crd differs from crds/" >&2; stale=1; }
    spliced_bundle | cmp -s - "$bundle" || { echo "sync-crds: the CRD in $bundle differs from crds/" >&2; stale=1; }
    if [ "$stale" = 1 ]; then
        echo "sync-crds: run charts/storefront-operator/sync-crds.sh" >&2
        exit 1
    fi
    echo "sync-crds: chart and install.yaml CRDs are up to date"
else
    mkdir -p "$(dirname "$chart_crd")"
    cp "$src" "$chart_crd"
    tmp="$(mktemp)"
    spliced_bundle >"$tmp"
    cat "$tmp" >"$bundle"
    rm -f "$tmp"
    echo "sync-crds: copied crds/storefront.dev_ecommerceplatforms.yaml into the chart and manifests/install.yaml"
fi
