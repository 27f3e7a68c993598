#!/usr/bin/env bash
# Builds every Storefront image on this machine without pulling anything (no registry needed):
#
#   runtime    the services' base: the files of Debian's libc6, libgcc-s1, ca-certificates,
#              tzdata and netbase (dpkg-deb -x, no maintainer scripts, no shell, no package
#              manager), /etc/passwd with uid 65532 nonroot, imported with `docker import`
#   <service>  runtime + the host's `cargo build --release` binary as /app (the registry
#              Dockerfile's labels, USER 65532, entrypoint) + /probe for Docker health checks
#   postgres   Debian's PostgreSQL 15 with an entrypoint that reads POSTGRES_USER, POSTGRES_PASSWORD,
#              POSTGRES_DB and PGDATA and runs /docker-entrypoint-initdb.d on first start (uid 70)
#   redis      Debian's Redis 7.0 with redis-cli, the upstream image's argument handling (uid 999)
#   jaeger     Jaeger v2 built from Go modules (scripts/container-tools.sh), on runtime (uid 10001)
#
#   scripts/offline-images.sh                 all of them
#   scripts/offline-images.sh gateway postgres   only these (and the base they need)
#   scripts/images.sh --offline ...           the same
#
# Environment: REGISTRY (default ghcr.io/storefront-dev/storefront), VERSION (default: the
# workspace version), STOREFRONT_CACHE (the .deb files and rootfs tarballs, default
# ~/.cache/storefront), CARGO_TARGET_DIR (where cargo's binaries are), PROFILE (release, the
# default, or debug: the tests use the debug build they already have), SKIP_CARGO=1 (use the
# binaries already built). Prints each image's size at the end.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

REGISTRY="${REGISTRY:-ghcr.io/storefront-dev/storefront}"
VERSION="${VERSION:-$(sed -n 's/^version = "\(.*\)"/\1/p' Cargo.toml | head -n1)}"
REVISION="$(git rev-parse HEAD 2>/dev/null || echo unknown)"
CREATED="$(date -u +%Y-%m-%dT%H:%M:%SZ)"
SOURCE="${SOURCE:-https://github.com/storefront-dev/storefront}"
cache=${STOREFRONT_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/storefront}
debs="$cache/debs"
rootfs_cache="$cache/rootfs"
target="${CARGO_TARGET_DIR:-$ROOT/target}"
# Which cargo profile's binaries go into the images: release for `make images`; the tests use
# the debug build `make test` has already made (PROFILE=debug SKIP_CARGO=1).
PROFILE="${PROFILE:-release}"
case "$PROFILE" in dev|debug) PROFILE=dev profile_dir=debug ;; *) profile_dir=$PROFILE ;; esac
# The tags of the store images say what is inside: Debian bookworm's PostgreSQL and Redis.
POSTGRES_TAG=15-bookworm
REDIS_TAG=7.0-bookworm

log() { printf '[images %s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
die() { printf 'images: %s\n' "$*" >&2; exit 1; }

for tool in docker dpkg-deb apt-get ldconfig; do
  command -v "$tool" >/dev/null 2>&1 || die "$tool is not installed (STOREFRONT_TEST_TOOLS=1 scripts/setup.sh)"
done
if [ -z "${DOCKER_HOST:-}" ]; then
  DOCKER_HOST="$("$ROOT/scripts/docker-engine.sh" start)" || die "no Docker engine (scripts/docker-engine.sh start)"
  export DOCKER_HOST
fi
# The legacy builder: the Docker CLI here has no buildx plugin, and nothing below needs BuildKit.
export DOCKER_BUILDKIT=0

# PACKAGE, DESCRIPTION, SERVICES and RELEASE_PACKAGES: the one list of images.
. "$ROOT/scripts/image-list.sh"
STORES=(postgres redis jaeger)

names=("$@")
[ ${#names[@]} -gt 0 ] || names=("${SERVICES[@]}" "${STORES[@]}")
for name in "${names[@]}"; do
  case " ${SERVICES[*]} ${STORES[*]} " in
    *" $name "*) ;;
    *) die "unknown image '$name' (one of: ${SERVICES[*]} ${STORES[*]})" ;;
  esac
done

# --- Debian packages -------------------------------------------------------------------------

# The .deb files apt would install for $@ on an empty system (dependencies included, no
# recommends), minus the packages named in $EXCLUDE; downloaded once into $debs.
fetch_debs() {
  local status="$debs/empty-status" uris
  mkdir -p "$debs"
  : >"$status"
  uris=$(apt-get install --print-uris -qq -o Dir::State::status="$status" \
           -o APT::Install-Recommends=false "$@")
  local url file package exclude
  # shellcheck disable=SC2086
  exclude=" $(echo $EXCLUDE) "
  while read -r url file _; do
    url=${url//\'/}
    package=${file%%_*}
    case "$exclude" in *" $package "*) continue ;; esac
    if [ ! -s "$debs/$file" ]; then
      log "downloading $file"
      curl -fsSL --retry 3 -o "$debs/$file.part" "$url" && mv "$debs/$file.part" "$debs/$file"
    fi
    echo "$debs/$file"
  done <<<"$uris"
}

# Packages a container never runs: the package manager, maintainer-script helpers, Perl (only
# Debian's wrappers such as pg_ctlcluster use it), PAM modules, locales (C.UTF-8 is built into glibc),
# and LLVM (PostgreSQL's optional JIT, 100 MB).
COMMON_EXCLUDE="debconf dpkg tar perl perl-base perl-modules-5.36 libperl5.36 libjson-perl
  libnumber-compare-perl libtext-glob-perl libfile-find-rule-perl usrmerge init-system-helpers
  sysvinit-utils adduser passwd libpam-modules libpam-modules-bin libpam-runtime
  libsemanage-common libsemanage2 libsepol2 lsb-base
  sensible-utils ucf libc-bin libc-l10n locales libdb5.3 libgdbm6 libgdbm-compat4 openssl"

# Unpacks the given .deb files into a fresh directory and removes what no container reads.
unpack() { # dir deb...
  local dir=$1; shift
  rm -rf "$dir"
  mkdir -p "$dir"
  for deb in "$@"; do dpkg-deb -x "$deb" "$dir"; done
  rm -rf "$dir"/usr/share/{doc,man,info,lintian,locale,bug,bash-completion,doc-base,menu} \
         "$dir"/etc/{init.d,logrotate.d,cron.d,systemd} "$dir"/lib/systemd "$dir"/usr/lib/systemd
  mkdir -p "$dir"/{etc,tmp,run,var/tmp,usr/local/bin} "$dir/etc/ld.so.conf.d"
  chmod 1777 "$dir/tmp" "$dir/var/tmp"
  ln -sfn /run "$dir/var/run"
  echo 'include /etc/ld.so.conf.d/*.conf' >"$dir/etc/ld.so.conf"
  cp /usr/lib/os-release "$dir/etc/os-release"
  # ca-certificates builds its bundle in a maintainer script; this is the same concatenation.
  if [ -d "$dir/usr/share/ca-certificates" ]; then
    mkdir -p "$dir/etc/ssl/certs"
    find "$dir/usr/share/ca-certificates" -name '*.crt' | sort | xargs cat >"$dir/etc/ssl/certs/ca-certificates.crt"
  fi
  ln -sfn /usr/share/zoneinfo/Etc/UTC "$dir/etc/localtime"
  echo Etc/UTC >"$dir/etc/timezone"
  printf 'hosts: files dns\n' >"$dir/etc/nsswitch.conf"
}

# passwd/group with root, nobody and the given users ("name:uid:home" ...).
accounts() { # dir user...
  local dir=$1; shift
  {
    echo 'root:x:0:0:root:/root:/sbin/nologin'
    echo 'nobody:x:65534:65534:nobody:/nonexistent:/sbin/nologin'
    for u in "$@"; do IFS=: read -r n id home <<<"$u"; echo "$n:x:$id:$id:$n:$home:/sbin/nologin"; done
  } >"$dir/etc/passwd"
  {
    echo 'root:x:0:'
    echo 'nogroup:x:65534:'
    for u in "$@"; do IFS=: read -r n id _ <<<"$u"; echo "$n:x:$id:"; done
  } >"$dir/etc/group"
}

# Fails when an ELF file under the given directories needs a shared library the rootfs lacks
# (the exclusions above must never remove one a program loads).
check_libraries() { # dir subdir...
  local dir=$1 missing=0 lib; shift
  local libdirs=("$dir/lib/x86_64-linux-gnu" "$dir/usr/lib/x86_64-linux-gnu" "$dir/lib64" "$dir/usr/lib")
  while IFS= read -r -d '' file; do
    while read -r lib; do
      local found=0 d
      for d in "${libdirs[@]}"; do [ -e "$d/$lib" ] && found=1 && break; done
      if [ "$found" = 0 ]; then
        echo "images: ${file#"$dir"} needs $lib, which no package in the rootfs provides" >&2
        missing=1
      fi
    done < <(readelf -d "$file" 2>/dev/null | sed -n 's/.*(NEEDED).*\[\(.*\)\]/\1/p')
  done < <(find "${@/#/$dir/}" -type f \( -perm -u+x -o -name '*.so*' \) -print0)
  [ "$missing" = 0 ] || die "missing shared libraries in $(basename "$dir")"
}

# The key of a rootfs: the .deb files it is made of and the files of this script that shape it.
rootfs_key() { # files...
  { printf '%s\n' "$@"; cat "$0" images/postgres/entrypoint.sh images/redis/entrypoint.sh; } | sha256sum | cut -c1-16
}

# Whether $ref is an imported rootfs with this key (then nothing needs unpacking again).
have_rootfs() { # ref key
  [ "$(docker image inspect --format '{{index .Config.Labels "dev.storefront.rootfs"}}' "$1" 2>/dev/null)" = "$2" ]
}

# Tars a rootfs reproducibly and imports it as a one-layer image labelled with its key. Every
# file is root's in the archive except the given directories ("path:uid", empty, owned by that
# uid and gid), so no chown is needed and the script runs without root too.
import_rootfs() { # dir ref key [path:uid]...
  local dir=$1 ref=$2 key=$3 tarball owned excludes=()
  shift 3
  ldconfig -r "$dir" 2>/dev/null || true
  mkdir -p "$rootfs_cache"
  tarball="$rootfs_cache/$(basename "$dir").tar"
  for owned in "$@"; do excludes+=("--exclude=./${owned%%:*}"); done
  tar --sort=name --mtime=@0 --owner=0 --group=0 --numeric-owner "${excludes[@]}" \
    -C "$dir" -cf "$tarball" .
  for owned in "$@"; do
    tar --mtime=@0 --owner="${owned##*:}" --group="${owned##*:}" --numeric-owner --no-recursion \
      -C "$dir" -rf "$tarball" "./${owned%%:*}"
  done
  docker import --message "storefront offline rootfs" --change "LABEL dev.storefront.rootfs=$key" \
    "$tarball" "$ref" >/dev/null
  log "imported $ref ($(du -h "$tarball" | cut -f1) uncompressed)"
  rm -rf "$dir" "$tarball"
}

# docker build with its output kept back unless it fails (the legacy builder is chatty).
build_image() { # docker build args...
  local out
  if ! out=$(docker build "$@" 2>&1); then
    printf '%s\n' "$out" >&2
    die "docker build $* failed"
  fi
}

# The bases live under $REGISTRY too, so removing a registry prefix's images removes them.
RUNTIME_REF="$REGISTRY/offline-base:runtime"
POSTGRES_BASE="$REGISTRY/offline-base:postgres-$POSTGRES_TAG"
REDIS_BASE="$REGISTRY/offline-base:redis-$REDIS_TAG"

build_runtime() {
  local dir="$rootfs_cache/runtime" files key
  log "runtime base from Debian packages: libc6 libgcc-s1 ca-certificates tzdata netbase"
  files=$(EXCLUDE="$COMMON_EXCLUDE libssl3" fetch_debs libc6 libgcc-s1 ca-certificates tzdata netbase)
  # shellcheck disable=SC2086
  key=$(rootfs_key $files)
  if have_rootfs "$RUNTIME_REF" "$key"; then log "$RUNTIME_REF is current"; return 0; fi
  # shellcheck disable=SC2086
  unpack "$dir" $files
  # glibc's iconv modules (8 MB): no Storefront binary converts character sets.
  rm -rf "$dir/usr/lib/x86_64-linux-gnu/gconv"
  accounts "$dir" nonroot:65532:/home/nonroot jaeger:10001:/tmp
  mkdir -p "$dir/home/nonroot"
  import_rootfs "$dir" "$RUNTIME_REF" "$key" home/nonroot:65532
}

# --- images ----------------------------------------------------------------------------------

built=()
context=$(mktemp -d)
trap 'rm -rf "$context"' EXIT

oci_labels() { # title description version
  printf -- '--label\0org.opencontainers.image.%s\0' \
    "title=$1" "description=$2" "source=$SOURCE" "version=$3" "revision=$REVISION" \
    "created=$CREATED" "licenses=Apache-2.0" "vendor=Storefront"
}

build_service() { # name
  local name=$1 package=${PACKAGE[$1]} ref="$REGISTRY/$1:$VERSION" dir="$context/$1"
  mkdir -p "$dir"
  local bin
  for bin in "$package" storefront-probe; do
    [ -x "$target/$profile_dir/$bin" ] || die "$target/$profile_dir/$bin is missing: build it first (cargo build, or leave SKIP_CARGO unset)"
  done
  install -m 0555 "$target/$profile_dir/$package" "$dir/app"
  install -m 0555 "$target/$profile_dir/storefront-probe" "$dir/probe"
  cp images/service.Dockerfile "$dir/Dockerfile"
  local labels=()
  while IFS= read -r -d '' item; do labels+=("$item"); done < <(oci_labels "$package" "${DESCRIPTION[$name]}" "$VERSION")
  log "building $ref"
  build_image --build-arg "BASE=$RUNTIME_REF" "${labels[@]}" --tag "$ref" "$dir"
  built+=("$ref")
}

build_postgres() {
  local dir="$rootfs_cache/postgres" ref="$REGISTRY/postgres:$POSTGRES_TAG" files key
  log "PostgreSQL rootfs from Debian packages (postgresql-15, dash)"
  files=$(EXCLUDE="$COMMON_EXCLUDE postgresql-common postgresql-client-common ssl-cert libllvm14 libz3-4 tzdata-legacy" \
            fetch_debs postgresql-15 dash)
  # shellcheck disable=SC2086
  key=$(rootfs_key $files)
  if have_rootfs "$POSTGRES_BASE" "$key"; then
    log "$POSTGRES_BASE is current"
  else
    postgres_rootfs "$dir" "$key" $files
  fi
  local labels=()
  while IFS= read -r -d '' item; do labels+=("$item"); done < <(oci_labels postgres "PostgreSQL 15 from Debian bookworm's packages, for Storefront's local runs" "$POSTGRES_TAG")
  log "building $ref"
  build_image --build-arg "BASE=$POSTGRES_BASE" "${labels[@]}" --tag "$ref" -f images/postgres/Dockerfile images/postgres
  built+=("$ref")
}

postgres_rootfs() { # dir key deb...
  local dir=$1 key=$2; shift 2
  unpack "$dir" "$@"
  # initdb's C.UTF-8 locale: glibc does not build it in; Debian ships it compiled in libc-bin.
  local libc_bin
  libc_bin=$(EXCLUDE="" fetch_debs libc-bin | grep '/libc-bin_')
  dpkg-deb --fsys-tarfile "$libc_bin" | tar -x -C "$dir" ./usr/lib/locale/C.utf8
  # The JIT needs the LLVM libraries left out above; without these files PostgreSQL runs with jit off.
  rm -rf "$dir"/usr/lib/postgresql/15/lib/{llvmjit.so,llvmjit_types.bc,bitcode}
  ln -sfn dash "$dir/bin/sh"
  check_libraries "$dir" usr/lib/postgresql/15
  accounts "$dir" postgres:70:/var/lib/postgresql
  install -d -m 0700 "$dir/var/lib/postgresql/data"
  install -d -m 2775 "$dir/run/postgresql"
  install -d -m 0755 "$dir/docker-entrypoint-initdb.d"
  install -m 0555 images/postgres/entrypoint.sh "$dir/usr/local/bin/docker-entrypoint.sh"
  import_rootfs "$dir" "$POSTGRES_BASE" "$key" var/lib/postgresql/data:70 run/postgresql:70
}

build_redis() {
  local dir="$rootfs_cache/redis" ref="$REGISTRY/redis:$REDIS_TAG" files key
  log "Redis rootfs from Debian packages (redis-server, redis-tools, dash)"
  files=$(EXCLUDE="$COMMON_EXCLUDE libpam0g libaudit1 libaudit-common libcap-ng0" fetch_debs redis-server redis-tools dash)
  # shellcheck disable=SC2086
  key=$(rootfs_key $files)
  if have_rootfs "$REDIS_BASE" "$key"; then
    log "$REDIS_BASE is current"
  else
    # shellcheck disable=SC2086
    unpack "$dir" $files
    rm -rf "$dir/etc/redis"
    ln -sfn dash "$dir/bin/sh"
    check_libraries "$dir" usr/bin
    accounts "$dir" redis:999:/data
    install -d -m 0750 "$dir/data"
    install -m 0555 images/redis/entrypoint.sh "$dir/usr/local/bin/docker-entrypoint.sh"
    import_rootfs "$dir" "$REDIS_BASE" "$key" data:999
  fi
  local labels=()
  while IFS= read -r -d '' item; do labels+=("$item"); done < <(oci_labels redis "Redis 7.0 from Debian bookworm's packages, for Storefront's local runs" "$REDIS_TAG")
  log "building $ref"
  build_image --build-arg "BASE=$REDIS_BASE" "${labels[@]}" --tag "$ref" -f images/redis/Dockerfile images/redis
  built+=("$ref")
}

build_jaeger() {
  local bin tag ref dir="$context/jaeger"
  bin="$("$ROOT/scripts/container-tools.sh" jaeger)"
  tag=$("$bin/jaeger" version 2>/dev/null | sed -n 's/.*"gitVersion":"v\([0-9.]*\)".*/\1/p' | head -n1)
  [ -n "$tag" ] || die "$bin/jaeger version does not say its version"
  ref="$REGISTRY/jaeger:$tag"
  mkdir -p "$dir"
  install -m 0555 "$bin/jaeger" "$dir/jaeger"
  install -m 0555 "$target/$profile_dir/storefront-probe" "$dir/probe"
  cp images/jaeger/Dockerfile images/jaeger/config.yaml "$dir/"
  local labels=()
  while IFS= read -r -d '' item; do labels+=("$item"); done < <(oci_labels jaeger "Jaeger v2 (all in one, in-memory) built from Go modules, for Storefront's local runs" "$tag")
  log "building $ref"
  build_image --build-arg "BASE=$RUNTIME_REF" "${labels[@]}" --tag "$ref" "$dir"
  built+=("$ref")
}

t0=$SECONDS
want_services=() want_runtime=0
for name in "${names[@]}"; do
  [ -n "${PACKAGE[$name]:-}" ] && want_services+=("$name")
  case "$name" in jaeger) want_runtime=1 ;; esac
done
[ ${#want_services[@]} -eq 0 ] || want_runtime=1

if [ ${#want_services[@]} -gt 0 ] || [ "$want_runtime" = 1 ]; then
  if [ "${SKIP_CARGO:-0}" != 1 ]; then
    # Run from inside `cargo test`, the environment carries the test crate's CARGO, CARGO_PKG_*
    # and CARGO_MANIFEST_DIR; build scripts (ring's) record them, so a build that saw them
    # would rebuild half the tree here and in the next plain build.
    for var in $(compgen -e); do
      case "$var" in
        CARGO_HOME|CARGO_TARGET_DIR|CARGO_TERM_COLOR) ;;
        CARGO|CARGO_*) unset "$var" ;;
      esac
    done
    packages=()
    for package in "${RELEASE_PACKAGES[@]}"; do packages+=(-p "$package"); done
    profile_flag=(--release)
    [ "$PROFILE" = release ] || profile_flag=(--profile "$PROFILE")
    log "cargo build ${profile_flag[*]} ${packages[*]}"
    cargo build "${profile_flag[@]}" --locked "${packages[@]}"
  fi
  build_runtime
fi
for name in "${names[@]}"; do
  case "$name" in
    postgres) build_postgres ;;
    redis) build_redis ;;
    jaeger) build_jaeger ;;
    *) build_service "$name" ;;
  esac
done

log "${#built[@]} image(s) in $((SECONDS - t0)) s"
printf '%-60s %10s\n' IMAGE SIZE
sizes=("${built[@]}")
[ "$want_runtime" = 0 ] || sizes+=("$RUNTIME_REF")
for ref in "${sizes[@]}"; do
  bytes=$(docker image inspect --format '{{.Size}}' "$ref")
  printf '%-60s %7s MB\n' "$ref" "$(awk -v b="$bytes" 'BEGIN { printf "%.1f", b / 1000000 }')"
done
