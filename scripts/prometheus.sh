#!/usr/bin/env bash
# Builds pinned upstream Prometheus (prometheus and promtool) from the Go module proxy into a
# cache outside the repository, only when a binary is missing or was built from another pin.
# Prometheus 3.X.Y is published as the Go module github.com/prometheus/prometheus v0.3XX.Y; a
# throwaway module that requires it builds both commands, version-stamped like upstream's release.
# Build tags: netgo, remove_all_sd (only the file and http discovery), plus enable_kubernetes_sd
# (promtool links the Kubernetes discovery anyway, and a Prometheus in the cluster needs it).
# Without builtinassets the web UI is not embedded; the HTTP API and promtool are complete.
#
# The cache is $STOREFRONT_CACHE (default ~/.cache/storefront); GOMODCACHE, GOCACHE and GOPATH
# live there too, so a second run builds nothing. Logs go to stderr.
#
# Usage: scripts/prometheus.sh [--print-bin]   (--print-bin: print the bin directory last)
set -euo pipefail

PROMETHEUS_VERSION=3.16.0
GO_MIN=1.26.7              # the go directive of that module's go.mod
TAGS=netgo,remove_all_sd,enable_kubernetes_sd

major=${PROMETHEUS_VERSION%%.*}
rest=${PROMETHEUS_VERSION#*.}
minor=${rest%%.*}
patch=${rest#*.}
MODULE_VERSION=$(printf 'v0.%d%02d.%d' "$major" "$minor" "$patch")   # 3.16.0 -> v0.316.0
MODULE=github.com/prometheus/prometheus

cache=${STOREFRONT_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/storefront}
tools="$cache/prometheus"
bin="$tools/bin"
export GOMODCACHE="$tools/gomod" GOCACHE="$tools/gocache" GOPATH="$tools/gopath"
export CGO_ENABLED=0 GOTOOLCHAIN=local GOFLAGS=-mod=mod GOWORK=off

print_bin=0
for arg in "$@"; do
  case "$arg" in
    --print-bin) print_bin=1 ;;
    -h|--help) sed -n '2,13p' "$0"; exit 0 ;;
    *) echo "prometheus: unknown argument $arg (see --help)" >&2; exit 2 ;;
  esac
done

log() { printf '[prometheus %s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }

# A binary is fresh when it exists and its stamp names this pin: version, module and tags.
want="$PROMETHEUS_VERSION $MODULE_VERSION tags=$TAGS"
fresh() { [ -x "$bin/$1" ] && [ "$(cat "$bin/.$1.version" 2>/dev/null)" = "$want" ]; }
stamp() { echo "$want" >"$bin/.$1.version"; }

missing=()
for n in prometheus promtool; do fresh "$n" || missing+=("$n"); done
if [ ${#missing[@]} -eq 0 ]; then
  log "prometheus and promtool $PROMETHEUS_VERSION ready in $bin"
  if [ "$print_bin" = 1 ]; then echo "$bin"; fi
  exit 0
fi

if ! command -v go >/dev/null 2>&1; then
  echo "prometheus: Go is not installed. Install Go $GO_MIN or newer (https://go.dev/doc/install)" >&2
  echo "and run this again." >&2
  exit 1
fi
have=$(go env GOVERSION); have=${have#go}
if [ "$(printf '%s\n%s\n' "$GO_MIN" "$have" | sort -V | head -n1)" != "$GO_MIN" ]; then
  echo "prometheus: Go $have is too old; Prometheus $PROMETHEUS_VERSION needs Go $GO_MIN or newer" >&2
  echo "(GOTOOLCHAIN=local: no toolchain is downloaded). Install a newer Go and run this again." >&2
  exit 1
fi
mkdir -p "$bin" "$GOMODCACHE" "$GOCACHE" "$GOPATH"

# Prometheus' own go.mod has no replace lines, so requiring it from an empty module gives the
# dependency versions its release was built with.
mod="$tools/src/prometheus-$MODULE_VERSION"
mkdir -p "$mod"
if [ ! -f "$mod/go.sum" ]; then
  log "resolving $MODULE $MODULE_VERSION (Prometheus $PROMETHEUS_VERSION) and its dependencies"
  printf 'module storefront.local/prometheus\n\ngo %s\n\nrequire %s %s\n' \
    "$GO_MIN" "$MODULE" "$MODULE_VERSION" >"$mod/go.mod"
  (cd "$mod" && go get "$MODULE/cmd/prometheus@$MODULE_VERSION" "$MODULE/cmd/promtool@$MODULE_VERSION")
fi

pkg=github.com/prometheus/common/version
ld="-s -w -X $pkg.Version=$PROMETHEUS_VERSION -X $pkg.Revision=module-$MODULE_VERSION"
ld+=" -X $pkg.Branch=HEAD -X $pkg.BuildUser=storefront@vm -X $pkg.BuildDate=$(date -u +%Y%m%d-%H:%M:%S)"

t_all=$SECONDS
for n in "${missing[@]}"; do
  log "building $n $PROMETHEUS_VERSION (tags $TAGS; minutes on two cores when the Go cache is cold)"
  t0=$SECONDS
  rm -f "$bin/.$n.version"
  (cd "$mod" && go build -trimpath -tags "$TAGS" -ldflags "$ld" -o "$bin/$n.tmp" "$MODULE/cmd/$n")
  # The stamp is written only for a binary that runs and reports the pinned version.
  reported=$("$bin/$n.tmp" --version 2>&1 || true)
  if ! grep -q "version $PROMETHEUS_VERSION " <<<"$reported"; then
    echo "prometheus: the $n just built does not report version $PROMETHEUS_VERSION:" >&2
    "$bin/$n.tmp" --version >&2 || true
    exit 1
  fi
  mv "$bin/$n.tmp" "$bin/$n"
  stamp "$n"
  log "built $n in $((SECONDS - t0)) s"
done
log "prometheus and promtool $PROMETHEUS_VERSION ready in $bin ($((SECONDS - t_all)) s)"
if [ "$print_bin" = 1 ]; then echo "$bin"; fi
