#!/usr/bin/env bash
# A throwaway Postgres 15 for tests: pg.sh start DIR PORT | pg.sh stop DIR
# Runs as the postgres user when started as root (the server refuses root).
# PG_CRON=1 pg.sh start ...: with pg_cron loaded (see below).
set -euo pipefail
PGBIN=${PGBIN:-/usr/lib/postgresql/15/bin}
cmd=$1 dir=$2
as_pg() { if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi; }
case "$cmd" in
  start)
    port=$3
    mkdir -p "$dir"
    [ "$(id -u)" = 0 ] && chown postgres "$dir"
    as_pg "$PGBIN/initdb" -D "$dir/data" -A trust -U postgres --no-sync >"$dir/initdb.log" 2>&1
    opts="-p $port -k $dir -c listen_addresses=127.0.0.1 -c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=300"
    # PG_CRON=1: with pg_cron (Debian's postgresql-15-cron) loaded, its scheduler
    # running jobs in the postgres database. Each job runs over a libpq
    # connection the scheduler opens to cron.host (pg_cron's default way, not
    # cron.use_background_workers): the socket directory, so the connection
    # takes the cluster's trust auth over the unix socket and does not depend
    # on what "localhost" (the default) resolves to.
    if [ "${PG_CRON:-}" = 1 ]; then
      opts+=" -c shared_preload_libraries=pg_cron -c cron.database_name=postgres -c cron.host=$dir"
    fi
    as_pg "$PGBIN/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w -t 30 -o "$opts" start >/dev/null
    ;;
  stop)
    as_pg "$PGBIN/pg_ctl" -D "$dir/data" -m immediate -w stop >/dev/null 2>&1 || true
    ;;
  *) echo "usage: pg.sh start DIR PORT | pg.sh stop DIR" >&2; exit 2 ;;
esac
