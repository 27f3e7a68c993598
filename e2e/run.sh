#!/usr/bin/env bash
# The Storefront end-to-end suite on kind, from nothing to a deleted shop:
#
#   e2e/run.sh                 create the cluster, install everything, run every test, delete it
#   KEEP_CLUSTER=1 e2e/run.sh  keep the cluster afterwards (to look around, or to re-run tests)
#   SKIP_SETUP=1 e2e/run.sh    reuse a cluster made by an earlier run; only run the tests
#
# Needs: docker (or podman), kind, kubectl, helm, istioctl, cargo. Environment: CLUSTER (default
# storefront), ISTIO_RELEASE (Istio release branch of the Prometheus addon, default 1.30), VERSION (image tag, default
# the workspace version), REGISTRY. Logs and the cluster's state on failure go to e2e/artifacts/.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
CLUSTER="${CLUSTER:-storefront}"
ISTIO_RELEASE="${ISTIO_RELEASE:-1.30}"
export REGISTRY="${REGISTRY:-ghcr.io/storefront-dev/storefront}"
export VERSION="${VERSION:-$(sed -n 's/^version = "\(.*\)"/\1/p' Cargo.toml | head -n1)}"
# The canary test moves catalog to GOOD (same code, another tag) and then to FAULT.
GOOD_VERSION="${STOREFRONT_E2E_GOOD_VERSION:-0.3.0}"
FAULT_VERSION="${STOREFRONT_E2E_FAULT_VERSION:-0.0.0-fault}"
ARTIFACTS="$ROOT/e2e/artifacts"
mkdir -p "$ARTIFACTS"

log() { printf '\n== %s\n' "$*"; }
need() {
    for tool in "$@"; do
        command -v "$tool" >/dev/null 2>&1 || { echo "e2e: $tool is not installed (needed: docker or podman, kind, kubectl, helm, istioctl)" >&2; exit 2; }
    done
}

collect() {
    log "collecting the cluster's state into $ARTIFACTS"
    kubectl get all,ecp,pvc,virtualservices,destinationrules -A -o wide >"$ARTIFACTS/objects.txt" 2>&1 || true
    kubectl -n shop get ecp shop -o yaml >"$ARTIFACTS/platform.yaml" 2>&1 || true
    kubectl get events -A --sort-by=.lastTimestamp >"$ARTIFACTS/events.txt" 2>&1 || true
    kubectl -n storefront-system logs deploy/storefront-operator --all-containers --tail=2000 >"$ARTIFACTS/operator.log" 2>&1 || true
}

cleanup() {
    local status=$?
    [ -z "${PORT_FORWARD:-}" ] || kill "$PORT_FORWARD" 2>/dev/null || true
    [ "$status" = 0 ] || collect
    if [ "${KEEP_CLUSTER:-0}" != 1 ] && [ "${SKIP_SETUP:-0}" != 1 ]; then
        kind delete cluster --name "$CLUSTER" || true
    fi
    exit "$status"
}

need kind kubectl helm istioctl cargo
trap cleanup EXIT

if [ "${SKIP_SETUP:-0}" != 1 ]; then
    log "kind cluster $CLUSTER"
    kind get clusters | grep -qx "$CLUSTER" || kind create cluster --name "$CLUSTER" --config e2e/kind.yaml --wait 5m

    # Every version platform.yaml names (catalog starts on its own), and the canary's good version:
    # the same code under other tags, which is all a rollout needs to see.
    extra_tags="$(grep -o 'version: "[^"]*"' manifests/platform.yaml | cut -d'"' -f2 | grep -vx "$VERSION" | sort -u | tr '\n' ' ' || true)$GOOD_VERSION"
    log "images (tag $VERSION, also $extra_tags; the fault image $FAULT_VERSION)"
    KIND_CLUSTER="$CLUSTER" EXTRA_TAGS="$extra_tags" E2E_IMAGES=1 FAULT_VERSION="$FAULT_VERSION" scripts/images.sh

    log "Istio (istio/istio-operator.yaml, with the kind NodePort overlay)"
    istioctl install -y -f istio/istio-operator.yaml -f e2e/istio-kind.yaml
    kubectl -n istio-system rollout status deployment/istiod --timeout=5m

    log "Prometheus (canary analysis reads Istio's request metrics from it)"
    kubectl apply -f "https://raw.githubusercontent.com/istio/istio/release-$ISTIO_RELEASE/samples/addons/prometheus.yaml"
    kubectl -n istio-system rollout status deployment/prometheus --timeout=5m

    log "operator (Helm)"
    helm upgrade --install storefront-operator charts/storefront-operator \
        --namespace storefront-system --create-namespace \
        --set image.repository="$REGISTRY/operator" --set image.tag="$VERSION" \
        --set image.pullPolicy=Never --wait --timeout 5m

    log "the shop (manifests/platform.yaml)"
    kubectl create namespace shop --dry-run=client -o yaml | kubectl apply -f -
    kubectl label namespace shop istio-injection=enabled --overwrite
    kubectl -n shop create secret generic shop-admin-credentials \
        --from-literal=email=admin@shop.example.com \
        --from-literal=password="e2e-$(date +%s)-admin-password" \
        --dry-run=client -o yaml | kubectl apply -f -
    # Images are loaded into kind, not pulled.
    sed -e "s|^  imagePullPolicy: .*|  imagePullPolicy: Never|" \
        -e "s|^  version: .*|  version: \"$VERSION\"|" \
        -e "s|^  registry: .*|  registry: $REGISTRY|" manifests/platform.yaml \
        | kubectl apply -f -
    kubectl -n shop wait --for=condition=Ready ecp/shop --timeout=10m
fi

log "Jaeger query on 127.0.0.1:16686"
kubectl -n shop port-forward svc/shop-jaeger-query 16686:16686 >"$ARTIFACTS/port-forward.log" 2>&1 &
PORT_FORWARD=$!
sleep 3

log "tests"
export STOREFRONT_E2E=1 STOREFRONT_E2E_GOOD_VERSION="$GOOD_VERSION" STOREFRONT_E2E_FAULT_VERSION="$FAULT_VERSION"
cargo test -p storefront-e2e --test purchase --test canary -- --nocapture --test-threads=1
STOREFRONT_E2E_TEARDOWN=1 cargo test -p storefront-e2e --test teardown -- --nocapture
log "e2e: all passed"
