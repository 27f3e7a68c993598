# The two commands a fresh machine needs:
#   make demo   builds and runs the whole shop locally (http://127.0.0.1:8080)
#   make test   runs every check CI runs
# Both install missing system packages first (scripts/setup.sh).

CARGO ?= cargo
CARGO_TARGET_DIR_OR_DEFAULT = $(or $(CARGO_TARGET_DIR),$(CURDIR)/target)
export PATH := $(CURDIR)/.venv/bin:$(PATH)
RELEASE_BINS = -p storefront-local -p storefront-users -p storefront-catalog -p storefront-cart \
               -p storefront-inventory -p storefront-payments -p storefront-orders \
               -p storefront-notifications -p storefront-gateway -p storefront-web -p storefront-loadgen

.PHONY: setup kube-tools cluster demo release test lint unit manifests security api-fuzz browser images e2e bench bench-checkout bench-gateway

setup:
	@scripts/setup.sh

# Upstream kube-apiserver, controller-manager, scheduler, kubectl, kubelet, kube-proxy, etcd,
# kwok, helm and CoreDNS, built from the Go module proxy into ~/.cache/storefront/kube-tools
# (only what is missing).
kube-tools:
	@scripts/kube-tools.sh --node

# A local control plane for a person; Ctrl-C stops it. Nodes are kwok's (pods are simulated)
# unless NODES=real: one node whose pods run in containerd.
cluster: setup kube-tools
	$(CARGO) build -p storefront-cluster
	$(CARGO_TARGET_DIR_OR_DEFAULT)/debug/storefront-cluster

release: setup
	$(CARGO) build --release $(RELEASE_BINS)

demo: release
	target/release/storefront-local up

lint:
	$(CARGO) fmt --all --check
	$(CARGO) clippy --workspace --all-targets -- -D warnings
	scripts/module-cycles.py

# STOREFRONT_CLUSTER_TESTS=1: the tests on the local control plane (tools/cluster/tests) fail
# instead of skipping when its binaries are missing.
unit: setup kube-tools
	$(CARGO) build --workspace --bins
	STOREFRONT_CLUSTER_TESTS=1 $(CARGO) test --workspace

manifests: setup
	operator/scripts/validate-render.sh
	charts/storefront-operator/sync-crds.sh --check

security: setup
	scripts/checkov.sh

# schemathesis against /api/openapi.json of the running platform.
api-fuzz: setup
	scripts/schemathesis.sh

# The browser purchase alone (it also runs in `unit` when STOREFRONT_BROWSER_TESTS=1).
browser:
	STOREFRONT_BROWSER_TESTS=1 scripts/setup.sh
	$(CARGO) build --workspace --bins
	STOREFRONT_BROWSER_TESTS=1 $(CARGO) test -p storefront-local --test browser_purchase -- --nocapture

test: setup lint unit manifests security api-fuzz

# Need a container engine (and kind for e2e); not available on the development machines here.
images:
	scripts/images.sh

e2e:
	e2e/run.sh

bench-checkout: release
	target/release/storefront-local bench-checkout --duration 20s --concurrency 32 --json target/bench-checkout.json

bench-gateway: release
	STOREFRONT_BENCH=1 scripts/setup.sh
	target/release/storefront-local bench-gateway -t2 -c64 -d15s --json target/bench-gateway.json

bench: bench-checkout bench-gateway
