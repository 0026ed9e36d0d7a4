# shellcheck shell=bash
# Throwaway PgBouncer in transaction pooling mode, in front of the private
# PostgreSQL of .ci/pg.sh. Sourced by .ci/run after .ci/lib.sh and .ci/pg.sh;
# defines pgbouncer_install, pgbouncer_start and pgbouncer_stop.
#
# Why: the leak class peers see most after a missing filter is tenant state
# surviving on a pooled server connection (a session-level SET, a search path,
# a temporary table, a prepared plan). sqlx's own pool never hands one client's
# session to another; a transaction-pooling PgBouncer does, so the leak search
# and the pooled-connection check run through a real one.
#
# Local use, beside /work/tools/servers.sh or any server named by DATABASE_URL:
#   bash .ci/pgbouncer.sh serve <envfile>   # writes `export ...` lines, waits;
#                                           # SIGTERM stops it
#
# After pgbouncer_start succeeds these are set and exported:
#   PGBOUNCER_DATABASE_URL      the owner role, default pool (4 server connections)
#   PGBOUNCER_APP_DATABASE_URL  the application role (row-level security tests)
#   PGBOUNCER_SINGLE_DATABASE_URL  the owner through a pool of ONE server
#                               connection: every client takes turns on it
# and PGBOUNCER_TMP, PGBOUNCER_PORT.

PGBOUNCER_FIRST_PORT=64320   # away from 6432, the packaged service's port
PGBOUNCER_PORT_TRIES=50
PGBOUNCER_READY_TIMEOUT=30   # seconds

PGBOUNCER_TMP=""
PGBOUNCER_PORT=""
PGBOUNCER_OS_USER=""

pgbouncer_install() {
  if command -v pgbouncer >/dev/null 2>&1 || [ -x /usr/sbin/pgbouncer ]; then
    echo "PgBouncer already installed: $(command -v pgbouncer || echo /usr/sbin/pgbouncer)"
    return 0
  fi
  echo "PgBouncer not found; installing the Debian package"
  # Its postinst tries to start the packaged service; without systemd (CI) it
  # does not, and that instance is never used.
  ci_apt_install pgbouncer
  [ -x /usr/sbin/pgbouncer ] || {
    echo "ERROR: installed pgbouncer but /usr/sbin/pgbouncer is missing" >&2
    return 1
  }
}

_pgbouncer_bin() {
  command -v pgbouncer 2>/dev/null || echo /usr/sbin/pgbouncer
}

_pgbouncer_pid() {
  [ -n "$PGBOUNCER_TMP" ] && [ -s "$PGBOUNCER_TMP/pgbouncer.pid" ] &&
    head -n 1 "$PGBOUNCER_TMP/pgbouncer.pid"
}

_pgbouncer_lost_port() {
  grep -q 'Address already in use' "$PGBOUNCER_TMP/pgbouncer.log" 2>/dev/null
}

_pgbouncer_settled() {
  ci_port_busy "$1" || _pgbouncer_lost_port
}

# One start attempt on port $1, for ci_start_on_free_port (0 up, 2 port lost).
_pgbouncer_try_start() {
  local port=$1 pid
  # Truncated in place, never created here: root would own it, and PgBouncer,
  # running as its own user, could not open it.
  if [ -f "$PGBOUNCER_TMP/pgbouncer.log" ]; then : >"$PGBOUNCER_TMP/pgbouncer.log"; fi
  sed "s/^listen_port = .*/listen_port = $port/" "$PGBOUNCER_TMP/pgbouncer.ini.in" \
    >"$PGBOUNCER_TMP/pgbouncer.ini"
  # PgBouncer refuses to run as root; -d daemonizes after the config is read.
  (cd "$PGBOUNCER_TMP" && runuser -u "$PGBOUNCER_OS_USER" -- "$(_pgbouncer_bin)" -d -q \
    "$PGBOUNCER_TMP/pgbouncer.ini") || {
    tail -n 20 "$PGBOUNCER_TMP/pgbouncer.log" >&2 || true
    _pgbouncer_lost_port && return 2
    return 1
  }
  ci_wait_until "$PGBOUNCER_READY_TIMEOUT" "PgBouncer on 127.0.0.1:$port" \
    _pgbouncer_settled "$port" || {
    tail -n 20 "$PGBOUNCER_TMP/pgbouncer.log" >&2 || true
    return 1
  }
  if ! _pgbouncer_lost_port; then
    PGBOUNCER_PORT=$port
    return 0
  fi
  if pid=$(_pgbouncer_pid); then kill "$pid" 2>/dev/null || true; fi
  rm -f "$PGBOUNCER_TMP/pgbouncer.pid"
  return 2
}

# pgbouncer_start: needs DATABASE_URL and APP_DATABASE_URL (pg_start sets them)
# of a server on 127.0.0.1.
pgbouncer_start() {
  [ -n "${DATABASE_URL:-}" ] || { echo "ERROR: pgbouncer_start needs DATABASE_URL" >&2; return 1; }
  [ -x "$(_pgbouncer_bin)" ] || { echo "ERROR: no pgbouncer installed" >&2; return 1; }
  # postgres://user:password@host:port/db — the forms pg.sh writes.
  local re='^postgres(ql)?://([^:@/]+):([^@/]*)@([^:/]+):([0-9]+)/([^?]+)'
  [[ $DATABASE_URL =~ $re ]] || { echo "ERROR: cannot parse DATABASE_URL" >&2; return 1; }
  local owner=${BASH_REMATCH[2]} owner_pw=${BASH_REMATCH[3]} host=${BASH_REMATCH[4]}
  local pg_port=${BASH_REMATCH[5]} db=${BASH_REMATCH[6]}
  local app="" app_pw=""
  if [ -n "${APP_DATABASE_URL:-}" ] && [[ $APP_DATABASE_URL =~ $re ]]; then
    app=${BASH_REMATCH[2]} app_pw=${BASH_REMATCH[3]}
  fi

  if id -u postgres >/dev/null 2>&1; then
    PGBOUNCER_OS_USER=postgres
  else
    PGBOUNCER_OS_USER=ci-pgbouncer
    id -u "$PGBOUNCER_OS_USER" >/dev/null 2>&1 ||
      useradd --system --no-create-home --home-dir /nonexistent --shell /usr/sbin/nologin "$PGBOUNCER_OS_USER"
  fi
  PGBOUNCER_TMP=$(mktemp -d /tmp/ci-pgbouncer.XXXXXX)

  # Plain passwords: PgBouncer answers the client's SCRAM and logs in to the
  # server (scram-sha-256 on TCP, as pg.sh sets it up) with the same secret.
  {
    printf '"%s" "%s"\n' "$owner" "$owner_pw"
    [ -z "$app" ] || printf '"%s" "%s"\n' "$app" "$app_pw"
  } >"$PGBOUNCER_TMP/userlist.txt"
  chmod 600 "$PGBOUNCER_TMP/userlist.txt"

  # transaction pooling: a server connection goes back to the pool at COMMIT,
  # so whatever a client leaves at session level is what the next one gets.
  # The reset after every transaction drops prepared statements only: sqlx 0.9
  # names each persistent statement sqlx_s_N (per client, from 1, never closed
  # with the cache off) and 1.18 tracks none (max_prepared_statements is 1.21),
  # so without it a second client on the server connection fails with 42P05
  # "prepared statement sqlx_s_1 already exists" (seen). Settings, the search
  # path and temporary tables stay: what the checks must see is left as a
  # production pooler leaves it.
  # `<db>_single` has one server connection: every client takes turns on it.
  cat >"$PGBOUNCER_TMP/pgbouncer.ini.in" <<EOF
[databases]
$db = host=$host port=$pg_port dbname=$db
${db}_single = host=$host port=$pg_port dbname=$db pool_size=1
* = host=$host port=$pg_port

[pgbouncer]
listen_addr = 127.0.0.1
listen_port = 0
unix_socket_dir =
auth_type = scram-sha-256
auth_file = $PGBOUNCER_TMP/userlist.txt
pool_mode = transaction
default_pool_size = 4
max_client_conn = 400
server_reset_query = DEALLOCATE ALL
server_reset_query_always = 1
# sqlx sends extra_float_digits; 1.18 refuses unknown startup parameters, so a
# pool's search path goes in SET, never in the options parameter (refused).
ignore_startup_parameters = extra_float_digits
logfile = $PGBOUNCER_TMP/pgbouncer.log
pidfile = $PGBOUNCER_TMP/pgbouncer.pid
EOF
  : >"$PGBOUNCER_TMP/pgbouncer.log"
  chown -R "$PGBOUNCER_OS_USER:" "$PGBOUNCER_TMP"

  ci_start_on_free_port PgBouncer "$PGBOUNCER_FIRST_PORT" "$PGBOUNCER_PORT_TRIES" \
    _pgbouncer_try_start || {
    pgbouncer_stop
    return 1
  }

  export PGBOUNCER_DATABASE_URL="postgres://$owner:$owner_pw@127.0.0.1:$PGBOUNCER_PORT/$db"
  export PGBOUNCER_SINGLE_DATABASE_URL="postgres://$owner:$owner_pw@127.0.0.1:$PGBOUNCER_PORT/${db}_single"
  if [ -n "$app" ]; then
    export PGBOUNCER_APP_DATABASE_URL="postgres://$app:$app_pw@127.0.0.1:$PGBOUNCER_PORT/$db"
  fi
}

# Safe to call at any point, including when pgbouncer_start failed half-way,
# never ran, or already stopped it.
pgbouncer_stop() {
  [ -n "$PGBOUNCER_TMP" ] || return 0
  local pid
  if pid=$(_pgbouncer_pid) && kill -0 "$pid" 2>/dev/null; then
    echo "==> stopping PgBouncer"
    ci_stop_pid "$pid" PgBouncer 100
  fi
  rm -rf "$PGBOUNCER_TMP"
  PGBOUNCER_TMP=""
  PGBOUNCER_PORT=""
}

# `bash .ci/pgbouncer.sh serve <envfile>`: local use in front of DATABASE_URL.
if [ "${BASH_SOURCE[0]}" = "$0" ]; then
  set -uo pipefail
  [ "${1:-}" = serve ] && [ -n "${2:-}" ] || {
    echo "usage: DATABASE_URL=... [APP_DATABASE_URL=...] bash .ci/pgbouncer.sh serve <envfile>" >&2
    exit 2
  }
  envfile=$2
  # shellcheck source=.ci/lib.sh
  source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
  trap 'pgbouncer_stop; rm -f "$envfile"; exit 0' TERM INT HUP EXIT
  pgbouncer_install || exit 1
  pgbouncer_start || exit 1
  for v in PGBOUNCER_DATABASE_URL PGBOUNCER_APP_DATABASE_URL PGBOUNCER_SINGLE_DATABASE_URL; do
    printf 'export %s=%q\n' "$v" "${!v:-}"
  done >"$envfile.tmp" && mv "$envfile.tmp" "$envfile"
  echo "PgBouncer up on 127.0.0.1:$PGBOUNCER_PORT: $envfile"
  while true; do sleep 5; done
fi
