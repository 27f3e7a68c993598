#!/usr/bin/env bash
# Writes the env files compose.yaml reads its secrets from, only those that are missing, with
# fresh random values: postgres.env (superuser and per-service passwords), <service>.env
# (DATABASE_URL) for the six services with a database, jwt.env (STOREFRONT_JWT_SECRET) and
# admin.env (the first admin account). They are never checked in (.gitignore has .secrets/).
#
#   scripts/compose-secrets.sh [DIR]     default DIR: $STOREFRONT_SECRETS or ./.secrets
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
dir="${1:-${STOREFRONT_SECRETS:-$ROOT/.secrets}}"
mkdir -p "$dir"
chmod 0700 "$dir"

# Alphanumeric only: the values end up inside SQL quotes and URLs.
random() { od -An -tx1 -N"$1" /dev/urandom | tr -d ' \n'; }

write() { # file, then lines on stdin
  local file="$dir/$1"
  [ -s "$file" ] && return 0
  (umask 077 && cat >"$file")
}

DATABASES=(users catalog inventory payments orders notifications)
if [ ! -s "$dir/postgres.env" ]; then
  declare -A password
  for db in "${DATABASES[@]}"; do password[$db]=$(random 16); done
  {
    echo "POSTGRES_PASSWORD=$(random 16)"
    for db in "${DATABASES[@]}"; do echo "${db^^}_DB_PASSWORD=${password[$db]}"; done
  } | write postgres.env
  for db in "${DATABASES[@]}"; do
    rm -f "$dir/$db.env"
    echo "DATABASE_URL=postgres://$db:${password[$db]}@postgres:5432/$db" | write "$db.env"
  done
fi
# A database env file missing beside an existing postgres.env: rebuilt from the password that
# postgres.env already holds, so it matches the role in the volume. A database newer than the
# secrets directory gets a password, and the script says what a stack whose PostgreSQL volume
# already exists must run (the init script only runs on an empty volume).
for db in "${DATABASES[@]}"; do
  [ -s "$dir/$db.env" ] && continue
  pw=$(sed -n "s/^${db^^}_DB_PASSWORD=//p" "$dir/postgres.env" | head -n1)
  if [ -z "$pw" ]; then
    pw=$(random 16)
    (umask 077 && echo "${db^^}_DB_PASSWORD=$pw" >>"$dir/postgres.env")
    echo "compose-secrets: added a password for the $db database; if the stack's PostgreSQL volume already exists, create it with:" >&2
    echo "  docker compose exec postgres psql -U postgres -c \"CREATE ROLE $db LOGIN PASSWORD '$pw'\" -c \"CREATE DATABASE $db OWNER $db\"" >&2
  fi
  echo "DATABASE_URL=postgres://$db:$pw@postgres:5432/$db" | write "$db.env"
done
echo "STOREFRONT_JWT_SECRET=$(random 32)" | write jwt.env
printf 'STOREFRONT_ADMIN_EMAIL=%s\nSTOREFRONT_ADMIN_PASSWORD=%s\n' \
  "${STOREFRONT_ADMIN_EMAIL:-admin@storefront.local}" "${STOREFRONT_ADMIN_PASSWORD:-$(random 12)}" | write admin.env
echo "$dir"
