#!/usr/bin/env bash
# Finds a Docker engine, or starts one of Storefront's own, and prints the DOCKER_HOST to use.
#
#   scripts/docker-engine.sh start    print DOCKER_HOST of a running engine, starting ours if needed
#   scripts/docker-engine.sh stop     stop the engine this script started (no other)
#   scripts/docker-engine.sh status   exit 0 when an engine answers
#
# Order: $DOCKER_HOST if it answers, then /var/run/docker.sock, then our own dockerd from
# Debian's docker.io (STOREFRONT_TEST_TOOLS=1 scripts/setup.sh installs it), started by hand,
# not through systemd, with everything under $STOREFRONT_CACHE/docker (data root, exec root,
# socket, pidfile, log), so it never touches a system engine's state. Needs root to start one.
# Exit status 3 means "no engine and none can be started here" (the tests skip on it).
set -euo pipefail

cache=${STOREFRONT_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/storefront}
dir="$cache/docker"
sock="$dir/docker.sock"
pidfile="$dir/dockerd.pid"
log="$dir/dockerd.log"

answers() { DOCKER_HOST="$1" docker version --format '{{.Server.Version}}' >/dev/null 2>&1; }
say() { printf '[docker-engine] %s\n' "$*" >&2; }

existing() {
  if [ -n "${DOCKER_HOST:-}" ] && answers "$DOCKER_HOST"; then
    echo "$DOCKER_HOST"
  elif answers "unix://$sock"; then
    echo "unix://$sock"
  elif [ -S /var/run/docker.sock ] && answers unix:///var/run/docker.sock; then
    echo unix:///var/run/docker.sock
  else
    return 1
  fi
}

start() {
  if ! command -v docker >/dev/null 2>&1; then
    say "no docker CLI on PATH"
    exit 3
  fi
  if existing; then return 0; fi
  if ! command -v dockerd >/dev/null 2>&1; then
    say "no engine answers and dockerd is not installed (STOREFRONT_TEST_TOOLS=1 scripts/setup.sh installs Debian's docker.io)"
    exit 3
  fi
  if [ "$(id -u)" != 0 ]; then
    say "no engine answers and starting dockerd needs root"
    exit 3
  fi
  mkdir -p "$dir/data" "$dir/exec"
  if [ -f "$pidfile" ] && kill -0 "$(cat "$pidfile")" 2>/dev/null; then
    say "dockerd (pid $(cat "$pidfile")) is running but does not answer yet"
  else
    rm -f "$pidfile" "$sock"
    say "starting dockerd (data root $dir/data, log $log)"
    # setsid: the engine outlives the shell or test that started it, so images and the build
    # cache are reused by the next run; `stop` ends it.
    setsid dockerd --data-root "$dir/data" --exec-root "$dir/exec" \
      --host "unix://$sock" --pidfile "$pidfile" \
      >>"$log" 2>&1 </dev/null &
  fi
  for _ in $(seq 1 120); do
    if answers "unix://$sock"; then
      say "dockerd $(DOCKER_HOST="unix://$sock" docker version --format '{{.Server.Version}}') is up"
      echo "unix://$sock"
      return 0
    fi
    sleep 0.5
  done
  say "dockerd did not answer within 60 s; last lines of $log:"
  tail -n 20 "$log" >&2
  exit 1
}

stop() {
  [ -f "$pidfile" ] || { say "no dockerd of ours is running"; return 0; }
  local pid
  pid=$(cat "$pidfile")
  if kill -0 "$pid" 2>/dev/null; then
    kill -TERM "$pid"
    for _ in $(seq 1 60); do kill -0 "$pid" 2>/dev/null || break; sleep 0.5; done
  fi
  rm -f "$pidfile"
  say "stopped"
}

case "${1:-start}" in
  start) start ;;
  stop) stop ;;
  status) existing >/dev/null ;;
  *) echo "usage: scripts/docker-engine.sh start|stop|status" >&2; exit 2 ;;
esac
