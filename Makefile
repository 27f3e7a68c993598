# The two commands a fresh machine needs:
#   make demo   builds and runs the whole shop locally (http://127.0.0.1:8080)
#   make test   runs every check CI runs
# Both install missing system packages first (scripts/setup.sh).

CARGO ?= cargo
CARGO_TARGET_DIR_OR_DEFAULT = $(or $(CARGO_TARGET_DIR),$(CURDIR)/target)
export PATH := $(CURDIR)/.venv/bin:$(PATH)
# One set for every release build (make release, the offline images, bench-run-modes), from
# scripts/image-list.sh: cargo unifies dependency features over the packages it builds, so
# another set would rebuild shared crates.
RELEASE_BINS := $(shell bash -c '. scripts/image-list.sh; printf -- "-p %s " "$${RELEASE_PACKAGES[@]}"')

.PHONY: setup setup-tests kube-tools prometheus container-tools cluster demo release test lint unit manifests alerts security supply-chain api-fuzz browser images images-registry compose-up compose-down e2e bench bench-checkout bench-gateway bench-run-modes bench-events

setup:
	@scripts/setup.sh

# Also what the tests, the images and the real node need: RabbitMQ, a Docker engine, containerd,
# the CNI plugins.
setup-tests:
	@STOREFRONT_TEST_TOOLS=1 scripts/setup.sh

# Upstream kube-apiserver, controller-manager, scheduler, kubectl, kubelet, kube-proxy, etcd,
# kwok, helm and CoreDNS, built from the Go module proxy into ~/.cache/storefront/kube-tools
# (only what is missing).
kube-tools:
	@scripts/kube-tools.sh --node

# Prometheus and promtool 3.16.0, built from the Go module proxy into
# ~/.cache/storefront/prometheus (only when missing or built from another pin).
prometheus:
	@scripts/prometheus.sh

# Docker Compose v2 and Jaeger v2, built from the Go module proxy into
# ~/.cache/storefront/container-tools (only what is missing).
container-tools:
	@scripts/container-tools.sh >/dev/null

# A local control plane for a person; Ctrl-C stops it. Nodes are kwok's (pods are simulated)
# unless NODES=real: one node whose pods run in containerd.
cluster: kube-tools
	@STOREFRONT_TEST_TOOLS=$(if $(filter real,$(NODES)),1,0) scripts/setup.sh
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
# instead of skipping when its binaries are missing. The compose stack and real-node tests build
# the offline images from this debug build (PROFILE=debug SKIP_CARGO=1); the compose test fails
# instead of skipping without a Docker engine when CI=true or STOREFRONT_COMPOSE_TESTS=1. Compose
# v2 and Jaeger are built on first use (scripts/container-tools.sh), not here. Prometheus is
# needed by tools/local/tests/dashboards.rs (a failure without it under STOREFRONT_CLUSTER_TESTS=1).
unit: setup-tests kube-tools prometheus
	$(CARGO) build --workspace --bins
	STOREFRONT_CLUSTER_TESTS=1 $(CARGO) test --workspace

manifests: setup
	operator/scripts/validate-render.sh
	charts/storefront-operator/sync-crds.sh --check

# promtool check rules and test rules on observability/alerts, and each alert's runbook section
# (builds promtool with scripts/prometheus.sh when missing).
alerts:
	scripts/check-alerts.sh

security: setup
	scripts/checkov.sh

# cargo-deny (deny.toml): licences, bans, sources; advisories where the RustSec database can be
# fetched (skipped with a message here, required in the GitHub workflow).
supply-chain:
	scripts/cargo-deny.sh

# schemathesis against /api/openapi.json of the running platform.
api-fuzz: setup
	scripts/schemathesis.sh

# The browser purchase alone (it also runs in `unit` when STOREFRONT_BROWSER_TESTS=1).
browser:
	STOREFRONT_BROWSER_TESTS=1 scripts/setup.sh
	$(CARGO) build --workspace --bins
	STOREFRONT_BROWSER_TESTS=1 $(CARGO) test -p storefront-local --test browser_purchase -- --nocapture

test: setup lint alerts supply-chain unit manifests security api-fuzz

# Every image built here from the release binaries and Debian's packages, nothing pulled
# (scripts/offline-images.sh; starts a dockerd of its own when no engine answers); prints sizes.
images: setup-tests
	scripts/images.sh --offline

# The registry path: the multi-stage Dockerfile (needs rust and distroless from their registries).
images-registry:
	scripts/images.sh

# The shop in Docker Compose on http://127.0.0.1:8080 (Jaeger on :16686); secrets in .secrets/.
compose-up: images
	scripts/compose-secrets.sh >/dev/null
	DOCKER_HOST=$$(scripts/docker-engine.sh start) $$(scripts/container-tools.sh compose)/docker-compose up --detach --wait

compose-down:
	DOCKER_HOST=$$(scripts/docker-engine.sh start) $$(scripts/container-tools.sh compose)/docker-compose --profile load down

# Needs a container engine and kind; GitHub Actions runs it (.github/workflows/e2e.yml).
e2e:
	e2e/run.sh

bench-checkout: release
	$(CARGO_TARGET_DIR_OR_DEFAULT)/release/storefront-local bench-checkout --duration 20s --concurrency 32 --json $(CARGO_TARGET_DIR_OR_DEFAULT)/bench-checkout.json

bench-gateway: release
	STOREFRONT_BENCH=1 scripts/setup.sh
	$(CARGO_TARGET_DIR_OR_DEFAULT)/release/storefront-local bench-gateway -t2 -c64 -d15s --json $(CARGO_TARGET_DIR_OR_DEFAULT)/bench-gateway.json

# The notifications consumer on each bus beside its insert ceiling (needs rabbitmq-server).
bench-events: setup-tests release
	$(CARGO_TARGET_DIR_OR_DEFAULT)/release/storefront-local bench-events --events 20000 --json $(CARGO_TARGET_DIR_OR_DEFAULT)/bench-events.json

# The loadgen mix against the shop as plain processes, in network namespaces (root; a row saying
# why otherwise) and in Docker Compose, in one run.
bench-run-modes: images
	$(CARGO_TARGET_DIR_OR_DEFAULT)/release/storefront-compose bench-run-modes --users 32 --duration 20s --json $(CARGO_TARGET_DIR_OR_DEFAULT)/bench-run-modes.json

bench: bench-checkout bench-gateway bench-run-modes bench-events
