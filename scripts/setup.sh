#!/usr/bin/env bash
# Installs what building, testing and running Storefront locally needs, and only what is missing:
# a C toolchain for -sys crates, PostgreSQL server binaries (initdb, postgres), redis-server and
# Python for the manifest checks. With STOREFRONT_TEST_TOOLS=1 (`make test`, `make images`, the
# compose targets, `make cluster NODES=real`) also rabbitmq-server, a Docker engine for the images
# and the compose stack, the real node's containerd, CNI plugins and iptables, and iproute2 and
# nftables for the netns run mode (conntrack and tcpdump for its `net` commands). Safe to run again. Needs root (or sudo) only when something is missing; otherwise it only checks.
set -euo pipefail

need=()
have() { command -v "$1" >/dev/null 2>&1; }
pg_bin() { have initdb || ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1; }

have cc || need+=(build-essential)
have pkg-config || need+=(pkg-config)
pg_bin || need+=(postgresql)
have redis-server || need+=(redis-server)
have python3 || need+=(python3)
python3 -m venv --help >/dev/null 2>&1 || need+=(python3-venv)
test_tools=${STOREFRONT_TEST_TOOLS:-0}
# RabbitMQ, the alternative event bus (tests of it skip, saying so, when it is absent).
if [ "$test_tools" = 1 ]; then
  [ -x /usr/lib/rabbitmq/bin/rabbitmq-server ] || have rabbitmq-server || need+=(rabbitmq-server)
fi
# The local cluster's real node (tools/cluster, `make cluster NODES=real`): containerd with runc,
# the CNI plugins, iptables for kube-proxy, a static libc for the pause binary. Linux only.
if [ "$test_tools" = 1 ] && [ "$(uname -s)" = Linux ]; then
  have containerd || need+=(containerd)
  have runc || [ -x /usr/sbin/runc ] || need+=(runc)
  [ -x /usr/lib/cni/bridge ] || need+=(containernetworking-plugins)
  have iptables || [ -x /usr/sbin/iptables ] || need+=(iptables)
  # `storefront-local up --isolation netns` and its test: ip (netns, veth, bridges) and nft for
  # the tier policy, loaded inside the run's own router namespace only (Debian does not enable
  # the nftables service on install, and nothing here enables it).
  have ip || [ -x /usr/sbin/ip ] || need+=(iproute2)
  have nft || [ -x /usr/sbin/nft ] || need+=(nftables)
  # `storefront-local net topology` counts the live connections from the router's conntrack.
  have conntrack || [ -x /usr/sbin/conntrack ] || need+=(conntrack)
  # `storefront-local net capture` records a tier bridge with tcpdump inside the router namespace.
  have tcpdump || [ -x /usr/bin/tcpdump ] || [ -x /usr/sbin/tcpdump ] || need+=(tcpdump)
  [ -f /usr/lib/x86_64-linux-gnu/libc.a ] || [ -f /usr/lib/aarch64-linux-gnu/libc.a ] || need+=(libc6-dev)
fi
if [ "${STOREFRONT_BROWSER_TESTS:-0}" = 1 ]; then
  have chromium || need+=(chromium)
  have node || need+=(nodejs npm)
fi
# The compose stack and the offline images: Debian's dockerd (with containerd and runc), unless
# an engine already answers (Docker Desktop, GitHub's runners); dpkg-deb and apt-get are there.
if [ "$test_tools" = 1 ] && ! have dockerd \
  && ! { have docker && docker version --format '{{.Server.Version}}' >/dev/null 2>&1; }; then
  need+=(docker.io)
fi
if [ "${STOREFRONT_BENCH:-0}" = 1 ]; then
  have wrk || need+=(wrk)
  [ -x /usr/sbin/nginx ] || have nginx || need+=(nginx-light)
  # bench-gateway --callgrind counts the gateway's instructions per request.
  have valgrind || need+=(valgrind)
fi

if [ ${#need[@]} -gt 0 ]; then
  echo "setup: installing ${need[*]}"
  if [ "$(id -u)" = 0 ]; then
    sudo_cmd=()
  elif have sudo; then
    sudo_cmd=(sudo)
  else
    echo "setup: missing ${need[*]}; install them with your package manager (apt-get install ${need[*]})" >&2
    exit 1
  fi
  if ! have apt-get; then
    echo "setup: missing ${need[*]}; this script installs with apt-get only. On macOS: brew install postgresql redis" >&2
    exit 1
  fi
  "${sudo_cmd[@]}" env DEBIAN_FRONTEND=noninteractive apt-get update -qq
  "${sudo_cmd[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi

# PostgreSQL refuses to run as root; the test fixtures then run it as the `postgres` user.
if [ "$(id -u)" = 0 ] && ! getent passwd postgres >/dev/null; then
  useradd --system --no-create-home postgres
fi

if ! have cargo; then
  echo "setup: cargo not found; install Rust from rustup (rust-version 1.95 or newer)" >&2
  exit 1
fi
echo "setup: ok ($(pg_bin && echo postgres) $(have redis-server && echo redis-server))"

# Python tools for the manifest checks, in a virtualenv inside the repository.
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
venv="$root/.venv"
if [ ! -x "$venv/bin/python" ]; then
  python3 -m venv "$venv"
fi
stamp="$venv/.requirements"
if ! cmp -s "$root/scripts/requirements-ci.txt" "$stamp" 2>/dev/null; then
  "$venv/bin/pip" install --quiet --disable-pip-version-check -r "$root/scripts/requirements-ci.txt"
  cp "$root/scripts/requirements-ci.txt" "$stamp"
fi
echo "setup: python tools in $venv"

# The browser test's Playwright (playwright-core only: it drives the system Chromium and never
# downloads a browser of its own).
if [ "${STOREFRONT_BROWSER_TESTS:-0}" = 1 ] && [ ! -d "$root/tests/browser/node_modules/playwright-core" ]; then
  npm ci --prefix "$root/tests/browser" --no-audit --no-fund --silent
  echo "setup: playwright-core in tests/browser/node_modules"
fi
