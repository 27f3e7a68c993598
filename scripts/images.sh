#!/usr/bin/env bash
# Builds the Storefront images (the operator and the nine services) from the root Dockerfile.
#
#   scripts/images.sh                         build all, tag $REGISTRY/<name>:$VERSION
#   KIND_CLUSTER=storefront scripts/images.sh build all, then load them into that kind cluster
#   scripts/images.sh catalog gateway         build only these
#   PUSH=1 scripts/images.sh                  build and push
#   scripts/images.sh --offline [names]       build here without any registry instead
#                                             (scripts/offline-images.sh; what `make images` runs)
#
# Environment: REGISTRY (default ghcr.io/storefront-dev/storefront), VERSION (default: the
# workspace version), ENGINE (docker or podman; default whichever is installed, docker first),
# PLATFORM (e.g. linux/arm64), EXTRA_TAGS (more tags for each image, space separated),
# FAULT_VERSION (default 0.0.0-fault: the tag of the deliberately failing catalog the e2e
# suite rolls out; built only when E2E_IMAGES=1).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

if [ "${1:-}" = --offline ]; then
    shift
    exec "$ROOT/scripts/offline-images.sh" "$@"
fi

REGISTRY="${REGISTRY:-ghcr.io/storefront-dev/storefront}"
VERSION="${VERSION:-$(sed -n 's/^version = "\(.*\)"/\1/p' Cargo.toml | head -n1)}"
REVISION="$(git rev-parse HEAD 2>/dev/null || echo unknown)"
CREATED="$(date -u +%Y-%m-%dT%H:%M:%SZ)"
SOURCE="${SOURCE:-https://github.com/storefront-dev/storefront}"
FAULT_VERSION="${FAULT_VERSION:-0.0.0-fault}"

if [ -n "${ENGINE:-}" ]; then
    engine="$ENGINE"
elif command -v docker >/dev/null 2>&1; then
    engine=docker
elif command -v podman >/dev/null 2>&1; then
    engine=podman
else
    echo "images: neither docker nor podman is installed; install one (or set ENGINE)" >&2
    exit 2
fi

# PACKAGE, DESCRIPTION and SERVICES: the one list of images.
. "$ROOT/scripts/image-list.sh"
ALL=("${SERVICES[@]}")

names=("$@")
[ ${#names[@]} -gt 0 ] || names=("${ALL[@]}")
for name in "${names[@]}"; do
    [ -n "${PACKAGE[$name]:-}" ] || { echo "images: unknown image '$name' (one of: ${ALL[*]})" >&2; exit 2; }
done

built=()
build() { # name package bin tag description
    local name="$1" package="$2" bin="$3" tag="$4" description="$5"
    local ref="$REGISTRY/$name:$tag"
    local args=(build --file Dockerfile
        --build-arg "PACKAGE=$package" --build-arg "BIN=$bin"
        --build-arg "VERSION=$tag" --build-arg "REVISION=$REVISION"
        --build-arg "CREATED=$CREATED" --build-arg "SOURCE=$SOURCE"
        --build-arg "DESCRIPTION=$description"
        --tag "$ref")
    [ -z "${PLATFORM:-}" ] || args+=(--platform "$PLATFORM")
    for extra in ${EXTRA_TAGS:-}; do args+=(--tag "$REGISTRY/$name:$extra"); done
    echo "images: building $ref ($bin)"
    DOCKER_BUILDKIT=1 "$engine" "${args[@]}" .
    built+=("$ref")
    for extra in ${EXTRA_TAGS:-}; do built+=("$REGISTRY/$name:$extra"); done
}

for name in "${names[@]}"; do
    build "$name" "${PACKAGE[$name]}" "${PACKAGE[$name]}" "$VERSION" "${DESCRIPTION[$name]}"
done
if [ "${E2E_IMAGES:-0}" = 1 ]; then
    # A catalog that is healthy but answers 500 on every API route: the e2e suite rolls it out
    # as a canary and expects the analysis to roll it back.
    build catalog storefront-e2e storefront-e2e-fault "$FAULT_VERSION" \
        "Storefront e2e fault image: healthy, answers 500 on every API route"
fi

if [ "${PUSH:-0}" = 1 ]; then
    for ref in "${built[@]}"; do "$engine" push "$ref"; done
fi

if [ -n "${KIND_CLUSTER:-}" ]; then
    command -v kind >/dev/null 2>&1 || { echo "images: KIND_CLUSTER is set but kind is not installed" >&2; exit 2; }
    if [ "$engine" = podman ]; then
        export KIND_EXPERIMENTAL_PROVIDER=podman
    fi
    for ref in "${built[@]}"; do
        echo "images: loading $ref into kind cluster $KIND_CLUSTER"
        kind load docker-image --name "$KIND_CLUSTER" "$ref"
    done
fi
echo "images: ${#built[@]} image(s): ${built[*]}"
