#!/usr/bin/env bash
# Builds pinned upstream Kubernetes tools from the Go module proxy into a cache outside the
# repository, only the ones that are missing:
#   kube-apiserver, kube-controller-manager, kube-scheduler, kubectl  (k8s.io/kubernetes)
#   etcd (go.etcd.io/etcd/server/v3), kwok, helm
#   and the Istio CRDs (istio.io/api), which the cluster tests install.
# `--node` adds kubelet, kube-proxy and CoreDNS (for a cluster with real pods).
#
# The cache is $STOREFRONT_CACHE (default ~/.cache/storefront); GOMODCACHE and GOCACHE live
# there too, so a second run on the same machine builds nothing. Prints the bin directory last.
#
# Usage: scripts/kube-tools.sh [--node] [--print-bin]
set -euo pipefail

K8S_VERSION=v1.35.4        # k8s.io/kubernetes; its staging modules are v0.35.4
ETCD_VERSION=v3.6.16
KWOK_VERSION=v0.7.0
HELM_VERSION=v3.21.4
ISTIO_API_VERSION=v1.30.8  # the Istio minor istio/README.md documents
COREDNS_VERSION=v1.14.7

cache=${STOREFRONT_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/storefront}
tools="$cache/kube-tools"
bin="$tools/bin"
export GOMODCACHE="$tools/gomod" GOCACHE="$tools/gocache" GOPATH="$tools/gopath"
export CGO_ENABLED=0 GOTOOLCHAIN=local GOFLAGS=-mod=mod GOWORK=off
mkdir -p "$bin" "$GOMODCACHE" "$GOCACHE"

want_node=0 print_bin=0
for arg in "$@"; do
  case "$arg" in
    --node) want_node=1 ;;
    --print-bin) print_bin=1 ;;
    -h|--help) sed -n '2,13p' "$0"; exit 0 ;;
    *) echo "kube-tools: unknown argument $arg (see --help)" >&2; exit 2 ;;
  esac
done

if ! command -v go >/dev/null 2>&1; then
  echo "kube-tools: Go is not installed. Install Go 1.25 or newer (https://go.dev/doc/install," >&2
  echo "or Debian's golang package when it is new enough) and run this again." >&2
  exit 1
fi

log() { printf '[kube-tools %s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }

# A binary is fresh when it exists and its stamp names the pinned version.
fresh() { [ -x "$bin/$1" ] && [ "$(cat "$bin/.$1.version" 2>/dev/null)" = "$2" ]; }
stamp() { echo "$2" >"$bin/.$1.version"; }

build_kubernetes() {
  local names=("$@") missing=()
  for n in "${names[@]}"; do fresh "$n" "$K8S_VERSION" || missing+=("$n"); done
  [ ${#missing[@]} -gt 0 ] || return 0
  local mod="$tools/src/kubernetes-$K8S_VERSION" staging=${K8S_VERSION/v1./v0.}
  mkdir -p "$mod"
  if [ ! -f "$mod/go.sum" ]; then
    log "resolving k8s.io/kubernetes $K8S_VERSION (staging modules at $staging)"
    local gomod
    gomod=$(curl -fsSL "${GOPROXY_URL:-https://proxy.golang.org}/k8s.io/kubernetes/@v/$K8S_VERSION.mod" 2>/dev/null) || {
      # Without direct proxy access, ask go itself for the go.mod.
      gomod=$(cd "$mod" && go mod download -json "k8s.io/kubernetes@$K8S_VERSION" | sed -n 's/.*"GoMod": "\(.*\)".*/\1/p' | xargs cat)
    }
    {
      echo "module storefront.local/kube-tools"
      echo
      echo "go 1.25.0"
      echo
      echo "require k8s.io/kubernetes $K8S_VERSION"
      echo
      echo "replace ("
      # Each ./staging/src/k8s.io/X replace becomes the published k8s.io/X at the staging version.
      printf '%s\n' "$gomod" | sed -n 's#^[[:space:]]*\(k8s\.io/[a-z0-9-]*\) => ./staging/src/.*#\t\1 => \1 '"$staging"'#p'
      echo ")"
    } >"$mod/go.mod"
    (cd "$mod" && go mod download k8s.io/kubernetes && go get "k8s.io/kubernetes/cmd/kube-apiserver@$K8S_VERSION" >/dev/null)
  fi
  local major minor date
  major=${K8S_VERSION#v}; major=${major%%.*}
  minor=${K8S_VERSION#v*.}; minor=${minor%%.*}
  date=$(date -u +%Y-%m-%dT%H:%M:%SZ)
  local ld=""
  for pkg in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
    ld+=" -X $pkg.gitVersion=$K8S_VERSION -X $pkg.gitMajor=$major -X $pkg.gitMinor=$minor"
    ld+=" -X $pkg.gitTreeState=clean -X $pkg.buildDate=$date -X $pkg.gitCommit=storefront-module-build"
  done
  for n in "${missing[@]}"; do
    log "building $n $K8S_VERSION (the first one takes the longest; later ones reuse its packages)"
    local t0=$SECONDS
    (cd "$mod" && go get "k8s.io/kubernetes/cmd/$n@$K8S_VERSION" >/dev/null 2>&1 || true
     go build -trimpath -ldflags "-s -w$ld" -o "$bin/$n" "k8s.io/kubernetes/cmd/$n")
    stamp "$n" "$K8S_VERSION"
    log "built $n in $((SECONDS - t0)) s"
  done
}

build_etcd() {
  fresh etcd "$ETCD_VERSION" && return 0
  local mod="$tools/src/etcd-$ETCD_VERSION"
  mkdir -p "$mod"
  # etcd's own main module carries replace lines; the server module does not, so a two-line main
  # that calls etcdmain builds the same server.
  cat >"$mod/main.go" <<'EOF'
package main

import (
	"os"

	"go.etcd.io/etcd/server/v3/etcdmain"
)

func main() { etcdmain.Main(os.Args) }
EOF
  if [ ! -f "$mod/go.mod" ]; then
    printf 'module storefront.local/etcd\n\ngo 1.26.0\n' >"$mod/go.mod"
    (cd "$mod" && go get "go.etcd.io/etcd/server/v3@$ETCD_VERSION" >/dev/null 2>&1 && go mod tidy >/dev/null 2>&1)
  fi
  log "building etcd $ETCD_VERSION"
  local t0=$SECONDS
  (cd "$mod" && go build -trimpath -ldflags "-s -w" -o "$bin/etcd" .)
  stamp etcd "$ETCD_VERSION"
  log "built etcd in $((SECONDS - t0)) s"
}

# A tool whose module builds as published: go install into the cache's bin.
build_installable() { # name version package ldflags
  local name=$1 version=$2 pkg=$3 ld=$4
  fresh "$name" "$version" && return 0
  log "building $name $version"
  local t0=$SECONDS
  GOBIN="$bin" go install -trimpath -ldflags "-s -w $ld" "$pkg@$version"
  stamp "$name" "$version"
  log "built $name in $((SECONDS - t0)) s"
}

istio_crds() {
  local out="$tools/istio-crds-$ISTIO_API_VERSION.yaml"
  [ -s "$out" ] && return 0
  log "fetching the Istio CRDs from istio.io/api $ISTIO_API_VERSION"
  local dir
  dir=$(cd "$tools" && go mod download -json "istio.io/api@$ISTIO_API_VERSION" | sed -n 's/.*"Dir": "\(.*\)".*/\1/p')
  cp "$dir/kubernetes/customresourcedefinitions.gen.yaml" "$out.tmp"
  mv "$out.tmp" "$out"
}

k8s_bins=(kube-apiserver kube-controller-manager kube-scheduler kubectl)
[ "$want_node" = 1 ] && k8s_bins+=(kubelet kube-proxy)

t_all=$SECONDS
build_kubernetes "${k8s_bins[@]}"
build_etcd
build_installable kwok "$KWOK_VERSION" sigs.k8s.io/kwok/cmd/kwok "-X sigs.k8s.io/kwok/pkg/consts.Version=$KWOK_VERSION"
build_installable helm "$HELM_VERSION" helm.sh/helm/v3/cmd/helm "-X helm.sh/helm/v3/internal/version.version=$HELM_VERSION -X helm.sh/helm/v3/internal/version.gitTreeState=clean"
if [ "$want_node" = 1 ]; then
  build_installable coredns "$COREDNS_VERSION" github.com/coredns/coredns "-X github.com/coredns/coredns/coremain.GitCommit=$COREDNS_VERSION"
fi
istio_crds
ln -sf "$tools/istio-crds-$ISTIO_API_VERSION.yaml" "$tools/istio-crds.yaml"
log "all tools ready in $bin ($((SECONDS - t_all)) s)"
if [ "$print_bin" = 1 ]; then echo "$bin"; fi
