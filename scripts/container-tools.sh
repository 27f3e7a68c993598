#!/usr/bin/env bash
# Builds the pinned container tools that Debian bookworm does not package in a usable version,
# from the Go module proxy into a cache outside the repository, only the ones that are missing:
#   docker-compose  Docker Compose v2 (github.com/docker/compose/v2), installed as the docker
#                   CLI's compose plugin in the same cache (DOCKER_CONFIG/cli-plugins)
#   jaeger          Jaeger v2, the all-in-one OpenTelemetry-collector build
#                   (github.com/jaegertracing/jaeger cmd/jaeger; the v1.x module tags carry the
#                   v2 binary, v1.76.0 = Jaeger v2.13.0; `jaeger version` says v2.13.0)
#
# Debian's docker-compose is the Python 1.29 release, which does not implement the Compose
# specification (no `deploy.resources` limits outside --compatibility, no `--wait`).
#
# The cache is $STOREFRONT_CACHE (default ~/.cache/storefront); GOMODCACHE and GOCACHE live
# there too, so a second run builds nothing.
#
# Usage: scripts/container-tools.sh [compose|jaeger]...   (default: both)
#        scripts/container-tools.sh --print-bin
set -euo pipefail

COMPOSE_VERSION=v2.28.1    # built on the Docker 27 client libraries, which negotiate down to
                           # Debian bookworm's 20.10 engine (API 1.41)
JAEGER_MODULE_VERSION=v1.76.0  # the module tag of Jaeger v2.13.0 (its CHANGELOG: "v1.76.0 / v2.13.0")
JAEGER_VERSION=v2.13.0

cache=${STOREFRONT_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/storefront}
tools="$cache/container-tools"
bin="$tools/bin"
export GOMODCACHE="$tools/gomod" GOCACHE="$tools/gocache" GOPATH="$tools/gopath"
export CGO_ENABLED=0 GOTOOLCHAIN=local GOFLAGS=-mod=readonly GOWORK=off
mkdir -p "$bin" "$GOMODCACHE" "$GOCACHE"

log() { printf '[container-tools %s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }

if [ "${1:-}" = --print-bin ]; then
  echo "$bin"
  exit 0
fi
if ! command -v go >/dev/null 2>&1; then
  echo "container-tools: Go is not installed. Install Go 1.24 or newer and run this again." >&2
  exit 1
fi

fresh() { [ -x "$bin/$1" ] && [ "$(cat "$bin/.$1.version" 2>/dev/null)" = "$2" ]; }
stamp() { echo "$2" >"$bin/.$1.version"; }

# Builds a main package inside the downloaded module itself, so the module's own go.mod (with
# its replace directives, which `go install pkg@version` refuses) decides the dependencies.
build_in_module() { # module version package output ldflags
  local module=$1 version=$2 package=$3 output=$4 ldflags=$5 dir
  log "downloading $module@$version and its dependencies"
  dir=$(go mod download -json "$module@$version" | sed -n 's/.*"Dir": "\(.*\)".*/\1/p')
  [ -n "$dir" ] || { echo "container-tools: cannot download $module@$version" >&2; exit 1; }
  (cd "$dir" && go mod download)
  log "building $output from $module@$version (several minutes on two cores the first time)"
  local t0=$SECONDS
  (cd "$dir" && go build -trimpath -ldflags "-s -w $ldflags" -o "$bin/$output.tmp" "$package")
  mv "$bin/$output.tmp" "$bin/$output"
  stamp "$output" "$version"
  log "built $output in $((SECONDS - t0)) s"
}

build_compose() {
  if ! fresh docker-compose "$COMPOSE_VERSION"; then
    build_in_module github.com/docker/compose/v2 "$COMPOSE_VERSION" ./cmd docker-compose \
      "-X github.com/docker/compose/v2/internal.Version=$COMPOSE_VERSION"
  fi
  mkdir -p "$tools/docker-config/cli-plugins"
  ln -sf "$bin/docker-compose" "$tools/docker-config/cli-plugins/docker-compose"
}

build_jaeger() {
  fresh jaeger "$JAEGER_VERSION" && return 0
  build_in_module github.com/jaegertracing/jaeger "$JAEGER_MODULE_VERSION" ./cmd/jaeger jaeger \
    "-X github.com/jaegertracing/jaeger/internal/version.latestVersion=$JAEGER_VERSION"
  stamp jaeger "$JAEGER_VERSION"
}

wanted=("$@")
[ ${#wanted[@]} -gt 0 ] || wanted=(compose jaeger)
for w in "${wanted[@]}"; do
  case "$w" in
    compose) build_compose ;;
    jaeger) build_jaeger ;;
    *) echo "container-tools: unknown tool $w (compose or jaeger)" >&2; exit 2 ;;
  esac
done
echo "$bin"
