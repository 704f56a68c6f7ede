#!/usr/bin/env bash
# STAND-IN for the official postgres image's entrypoint (test infrastructure, never shipped):
# what docker-compose.yml and testcontainers rely on.
#
# First start (no cluster in PGDATA): create it with POSTGRES_USER (default postgres) as the
# superuser, whose password POSTGRES_PASSWORD (required) is asked for over TCP; create
# POSTGRES_DB (default POSTGRES_USER); run /docker-entrypoint-initdb.d/*.sh (executed if
# executable, else sourced) and *.sql, in name order, as the official image does. Meanwhile the
# server listens on its Unix socket only, so health checks and clients over TCP see the database
# only once it is ready. Every start: run postgres as the postgres user, as PID 1.
set -Eeuo pipefail
shopt -s nullglob

if [ "${1:0:1}" = - ]; then set -- postgres "$@"; fi
if [ "$1" != postgres ]; then exec "$@"; fi

if [ "$(id -u)" = 0 ]; then
  # A fresh volume may belong to root: hand it to postgres, then start over as postgres.
  mkdir -p "$PGDATA" /var/run/postgresql
  chown postgres:postgres "$PGDATA" /var/run/postgresql
  chmod 700 "$PGDATA"
  exec setpriv --reuid=postgres --regid=postgres --init-groups "$0" "$@"
fi

if [ ! -s "$PGDATA/PG_VERSION" ]; then
  : "${POSTGRES_PASSWORD:?the postgres stand-in needs POSTGRES_PASSWORD, as the official image does}"
  export POSTGRES_USER="${POSTGRES_USER:-postgres}"
  export POSTGRES_DB="${POSTGRES_DB:-$POSTGRES_USER}"
  # The password goes through a pipe, never on a command line.
  initdb --username="$POSTGRES_USER" --pwfile=<(printf '%s\n' "$POSTGRES_PASSWORD") \
    --encoding=UTF8 --locale=C.UTF-8 --auth-local=trust --auth-host=scram-sha-256
  echo 'host all all all scram-sha-256' >>"$PGDATA/pg_hba.conf"
  echo "listen_addresses = '*'" >>"$PGDATA/postgresql.conf"

  pg_ctl --pgdata="$PGDATA" --options="-c listen_addresses=''" --wait start
  if [ "$POSTGRES_DB" != postgres ]; then
    psql -v ON_ERROR_STOP=1 --no-psqlrc --username="$POSTGRES_USER" --dbname=postgres \
      --set=db="$POSTGRES_DB" <<<'create database :"db"'
  fi
  for file in /docker-entrypoint-initdb.d/*; do
    case "$file" in
      *.sh)
        echo "$0: running $file"
        # shellcheck disable=SC1090 # the scripts are the user's, known only at run time
        if [ -x "$file" ]; then "$file"; else . "$file"; fi
        ;;
      *.sql)
        echo "$0: running $file"
        psql -v ON_ERROR_STOP=1 --no-psqlrc --username="$POSTGRES_USER" --dbname="$POSTGRES_DB" -f "$file"
        ;;
      *) echo "$0: ignoring $file" ;;
    esac
  done
  pg_ctl --pgdata="$PGDATA" --mode=fast --wait stop
  echo "$0: PostgreSQL init process complete; ready for start up."
fi

exec "$@"
