#!/bin/sh
# Storefront's Redis entrypoint: arguments that start with "-" (or none) are redis-server's, and
# redis-server listens on every address with protected mode off (there is no default user
# password; the network decides who connects), unless the arguments set --protected-mode.
set -eu

case "${1:-}" in
  '' | -*) set -- redis-server "$@" ;;
esac
if [ "$1" = redis-server ]; then
  case " $* " in
    *" --protected-mode "*) ;;
    *) set -- "$@" --protected-mode no ;;
  esac
fi
exec "$@"
