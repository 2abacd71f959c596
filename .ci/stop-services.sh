#!/usr/bin/env bash
# Stops what services.sh started: bash .ci/stop-services.sh (reads AUTHD_SERVICES_DIR).
set -u
D=${AUTHD_SERVICES_DIR:?AUTHD_SERVICES_DIR not set}
PGBIN=${PGBIN:-/usr/lib/postgresql/15/bin}
if [ -d "$D/pg/data" ]; then
  if [ "$(id -u)" = 0 ]; then
    (cd "$D/pg" && setpriv --reuid=nobody --regid=nogroup --clear-groups "$PGBIN/pg_ctl" -D "$D/pg/data" -m immediate stop >/dev/null 2>&1)
  else
    "$PGBIN/pg_ctl" -D "$D/pg/data" -m immediate stop >/dev/null 2>&1
  fi
fi
[ -f "$D/redis.pid" ] && kill "$(cat "$D/redis.pid")" 2>/dev/null
rm -rf "$D"
