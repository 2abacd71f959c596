#!/usr/bin/env bash
# Starts a throwaway PostgreSQL (as an unprivileged user when run as root) and
# Redis on free loopback ports, and prints the environment the tests read:
#
#   eval "$(bash .ci/services.sh)"
#
# Installs redis-server from Debian's packages if it is missing. Data lives
# under $AUTHD_SERVICES_DIR (default: a new temp dir) and is thrown away.
set -euo pipefail

PGBIN=${PGBIN:-/usr/lib/postgresql/15/bin}
D=${AUTHD_SERVICES_DIR:-$(mktemp -d /tmp/authd-services.XXXXXX)}
mkdir -p "$D"
chmod 755 "$D" # the unprivileged postgres user must reach its subdirectory

log() { echo "services: $*" >&2; }

free_port() {
  python3 - <<'PY' 2>/dev/null || echo $((20000 + RANDOM % 20000))
import socket
s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()
PY
}

# redis-server for the stores; oathtool, an independent TOTP implementation,
# for the TOTP tests.
missing=""
command -v redis-server >/dev/null 2>&1 || missing="$missing redis-server"
command -v oathtool >/dev/null 2>&1 || missing="$missing oathtool"
if [ -n "$missing" ]; then
  log "installing$missing"
  if [ "$(id -u)" = 0 ]; then
    (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $missing) >&2
  else
    log "missing$missing and not root: install them"; exit 1
  fi
fi
[ -x "$PGBIN/initdb" ] || { log "PostgreSQL binaries not found in $PGBIN"; exit 1; }

# PostgreSQL refuses to run as root: run it as nobody in its own directory.
PGD="$D/pg"
mkdir -p "$PGD"
as_pg() { "$@"; }
if [ "$(id -u)" = 0 ]; then
  chown nobody:nogroup "$PGD"
  as_pg() { (cd "$PGD" && setpriv --reuid=nobody --regid=nogroup --clear-groups env HOME="$PGD" "$@"); }
fi
chmod 700 "$PGD"
PGPORT=$(free_port)
as_pg "$PGBIN/initdb" -D "$PGD/data" -U postgres --auth=trust -E UTF8 --locale=C --no-sync >/dev/null
as_pg "$PGBIN/pg_ctl" -D "$PGD/data" -l "$PGD/log" -w \
  -o "-p $PGPORT -k $PGD -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=300" start >/dev/null
log "postgres on 127.0.0.1:$PGPORT ($PGD)"

REDISPORT=$(free_port)
redis-server --bind 127.0.0.1 --port "$REDISPORT" --save '' --appendonly no --daemonize yes \
  --pidfile "$D/redis.pid" --logfile "$D/redis.log" --dir "$D" >/dev/null
for _ in $(seq 50); do
  redis-cli -p "$REDISPORT" ping >/dev/null 2>&1 && break
  sleep 0.1
done
redis-cli -p "$REDISPORT" ping >/dev/null || { log "redis did not start"; exit 1; }
log "redis on 127.0.0.1:$REDISPORT"

cat <<ENV
export AUTHD_TEST_DATABASE_URL='postgres://postgres@127.0.0.1:$PGPORT/postgres?sslmode=disable'
export AUTHD_TEST_REDIS_URL='redis://127.0.0.1:$REDISPORT/0'
export AUTHD_SERVICES_DIR='$D'
ENV
