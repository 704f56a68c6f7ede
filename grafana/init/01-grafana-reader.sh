#!/usr/bin/env bash
# Creates the login role Grafana uses, as a member of the read-only pushloss_reader role.
#
# Runs once, as the postgres image's init step: mount this directory at
# /docker-entrypoint-initdb.d. The image runs it as the superuser against $POSTGRES_DB (the
# pushloss database), before pushloss has migrated, so it creates pushloss_reader too (NOLOGIN,
# the same definition as migration 0003, which then finds it and only grants the views to it).
# Re-running it is harmless: it updates the password and keeps everything else.
#
# Environment of the postgres container:
#   PUSHLOSS_READER_PASSWORD   password for the Grafana login (required)
#   PUSHLOSS_GRAFANA_USER      its name (default pushloss_grafana)
#   BUCKET_TZ                  optional: the collector's time zone, so the BI views count days in
#                              it (sets pushloss.bucket_tz on the database; default Asia/Shanghai)
set -euo pipefail

: "${PUSHLOSS_READER_PASSWORD:?set PUSHLOSS_READER_PASSWORD to the password Grafana logs in with}"
export PUSHLOSS_GRAFANA_USER="${PUSHLOSS_GRAFANA_USER:-pushloss_grafana}"
export BUCKET_TZ="${BUCKET_TZ:-}"

# The password travels through the environment (\getenv), never on a command line, and is
# quoted by psql (:'password'), so any character is safe.
psql -v ON_ERROR_STOP=1 --no-psqlrc --username "${POSTGRES_USER:-postgres}" --dbname "${POSTGRES_DB:-pushloss}" <<'SQL'
\getenv password PUSHLOSS_READER_PASSWORD
\getenv login PUSHLOSS_GRAFANA_USER
\getenv bucket_tz BUCKET_TZ

select 'create role pushloss_reader nologin'
 where not exists (select from pg_roles where rolname = 'pushloss_reader') \gexec

select format('create role %I login', :'login')
 where not exists (select from pg_roles where rolname = :'login') \gexec

select format('alter role %I with login nosuperuser nocreatedb nocreaterole noreplication password %L', :'login', :'password') \gexec
select format('grant pushloss_reader to %I', :'login') \gexec

-- Belt and braces: even a stray statement from a dashboard cannot write, nor run for ever.
select format('alter role %I set default_transaction_read_only = on', :'login') \gexec
select format('alter role %I set statement_timeout = %L', :'login', '60s') \gexec

select format('alter database %I set pushloss.bucket_tz = %L', current_database(), :'bucket_tz')
 where :'bucket_tz' <> '' \gexec
SQL
