#!/usr/bin/env bash
# Copies the generated CRD into the chart's crds/ (Helm installs crds/ before the templates and
# never templates it). Run after regenerating crds/; the e2e crate's chart test fails on drift.
#
#   charts/storefront-operator/sync-crds.sh           copy
#   charts/storefront-operator/sync-crds.sh --check   exit 1 if the copy is stale
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
src="$here/../../crds/storefront.dev_ecommerceplatforms.yaml"
dst="$here/crds/storefront.dev_ecommerceplatforms.yaml"
if [ "${1:-}" = --check ]; then
    if cmp -s "$src" "$dst"; then
        echo "sync-crds: chart CRD is up to date"
    else
        echo "sync-crds: $dst differs from crds/; run charts/storefront-operator/sync-crds.sh" >&2
        exit 1
    fi
else
    mkdir -p "$(dirname "$dst")"
    cp "$src" "$dst"
    echo "sync-crds: copied crds/storefront.dev_ecommerceplatforms.yaml into the chart"
fi
