#!/bin/sh
# First start of the compose stack's PostgreSQL: one role and one database per service, as the
# operator's init script makes them (operator/src/build/database.rs). The passwords come from
# .secrets/postgres.env (alphanumeric, written by scripts/compose-secrets.sh).
set -eu
create() {
  psql -v ON_ERROR_STOP=1 --username "$POSTGRES_USER" --dbname postgres <<SQL
CREATE ROLE $1 LOGIN PASSWORD '$2';
CREATE DATABASE $1 OWNER $1;
SQL
}
create users "$USERS_DB_PASSWORD"
create catalog "$CATALOG_DB_PASSWORD"
create inventory "$INVENTORY_DB_PASSWORD"
create payments "$PAYMENTS_DB_PASSWORD"
create orders "$ORDERS_DB_PASSWORD"
create notifications "$NOTIFICATIONS_DB_PASSWORD"
