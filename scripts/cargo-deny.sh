#!/usr/bin/env bash
# Supply-chain checks with cargo-deny (deny.toml): licences, bans (duplicate-version warnings,
# crates we refuse), sources (crates.io only) and advisories (RustSec).
#
# cargo-deny itself is built once into $STOREFRONT_CACHE/cargo-deny (pinned version).
# Advisories need the RustSec database, which cargo-deny clones from GitHub. Where GitHub cannot
# be reached (the offline development machines) that one check is skipped with a message, unless
# STOREFRONT_ADVISORIES=required (the GitHub workflow), where a missing database fails.
#
# Usage: scripts/cargo-deny.sh
set -euo pipefail
cd "$(dirname "$0")/.."

CARGO_DENY_VERSION=0.20.2
cache=${STOREFRONT_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/storefront}
root="$cache/cargo-deny"
deny="$root/bin/cargo-deny"

log() { printf '[cargo-deny %s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }

if [ "${1:-}" = "-h" ] || [ "${1:-}" = "--help" ]; then sed -n '2,10p' "$0"; exit 0; fi

if [ ! -x "$deny" ] || [ "$("$deny" --version 2>/dev/null)" != "cargo-deny $CARGO_DENY_VERSION" ]; then
  log "building cargo-deny $CARGO_DENY_VERSION into $root (once; a few minutes)"
  CARGO_TARGET_DIR="$cache/cargo-deny-target" cargo install --quiet --locked \
    --version "$CARGO_DENY_VERSION" --root "$root" cargo-deny
fi

log "licences, bans and sources"
"$deny" --log-level warn --locked check licenses bans sources

if [ "${STOREFRONT_ADVISORIES:-}" = "required" ]; then
  log "advisories (required here)"
  "$deny" --log-level warn check advisories
elif timeout 15 git ls-remote --exit-code https://github.com/rustsec/advisory-db HEAD >/dev/null 2>&1; then
  log "advisories"
  "$deny" --log-level warn check advisories
else
  log "advisories SKIPPED: the RustSec database (github.com/rustsec/advisory-db) cannot be"
  log "fetched from this machine; the GitHub workflow runs this check as a hard gate"
fi
log "ok"
