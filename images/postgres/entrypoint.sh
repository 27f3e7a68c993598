#!/bin/sh
# Storefront's PostgreSQL entrypoint. On the first start (no PG_VERSION in $PGDATA) it creates
# the cluster with superuser $POSTGRES_USER and password $POSTGRES_PASSWORD (required), creates
# $POSTGRES_DB, and runs /docker-entrypoint-initdb.d/*.sh and *.sql against a server that listens
# only on its Unix socket; then it starts PostgreSQL on every address, password (scram-sha-256)
# required except on the local socket. Only shell built-ins and PostgreSQL's own programs: the
# image has no coreutils.
set -eu

case "${1:-}" in
  '' | -*) set -- postgres "$@" ;;
esac
if [ "$1" != postgres ]; then
  exec "$@"
fi

: "${PGDATA:=/var/lib/postgresql/data}"
: "${POSTGRES_USER:=postgres}"
: "${POSTGRES_DB:=$POSTGRES_USER}"
export PGDATA POSTGRES_USER POSTGRES_DB

say() { printf 'entrypoint: %s\n' "$*" >&2; }

if [ ! -s "$PGDATA/PG_VERSION" ]; then
  if [ -z "${POSTGRES_PASSWORD:-}" ]; then
    say "the database is not initialised and POSTGRES_PASSWORD is empty; set it (e.g. in an env file)"
    exit 1
  fi
  say "initialising $PGDATA (superuser $POSTGRES_USER)"
  printf '%s\n' "$POSTGRES_PASSWORD" | initdb --username="$POSTGRES_USER" --pwfile=/dev/stdin \
    --auth-local=trust --auth-host=scram-sha-256 --encoding=UTF8 --locale=C.UTF-8 \
    --data-checksums -D "$PGDATA" >/dev/null
  printf '\nlisten_addresses = '"'*'"'\n' >>"$PGDATA/postgresql.conf"
  printf 'host all all all scram-sha-256\n' >>"$PGDATA/pg_hba.conf"

  pg_ctl -D "$PGDATA" -o "-c listen_addresses=''" -w -t 60 start >/dev/null
  if [ "$POSTGRES_DB" != postgres ]; then
    # psql interpolates :"db" (quoted as an identifier) in its input, not in -c.
    printf 'CREATE DATABASE :"db";\n' | psql -v ON_ERROR_STOP=1 --username "$POSTGRES_USER" \
      --dbname postgres --set db="$POSTGRES_DB" -q
  fi
  for f in /docker-entrypoint-initdb.d/*; do
    case "$f" in
      *.sh)
        say "running $f"
        if [ -x "$f" ]; then "$f"; else . "$f"; fi
        ;;
      *.sql)
        say "running $f"
        psql -v ON_ERROR_STOP=1 --username "$POSTGRES_USER" --dbname "$POSTGRES_DB" -q -f "$f"
        ;;
      */\*) ;;
      *) say "ignoring $f" ;;
    esac
  done
  pg_ctl -D "$PGDATA" -m fast -w stop >/dev/null
  say "initialised; starting PostgreSQL"
fi

exec "$@"
