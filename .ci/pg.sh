# shellcheck shell=bash
# Throwaway PostgreSQL cluster for CI and local test runs.
# Sourced by .ci/run after .ci/lib.sh; defines pg_install, pg_start and pg_stop.
#
# Why a private cluster instead of the Debian one: CI has no systemd, the
# Debian cluster may or may not exist (or already listen on 5432) depending on
# how the machine was set up, and a fresh data dir per run means no state leaks
# from one run into the next.
#
# After pg_start succeeds these are set (DATABASE_URL and APP_DATABASE_URL are exported):
#   PG_BIN  PG_TMP  PG_DATA  PG_PORT  DATABASE_URL  APP_DATABASE_URL  BYPASS_DATABASE_URL
#   SUPERUSER_DATABASE_URL

PG_DB_USER=tenant
PG_DB_PASSWORD=tenant
PG_DB_NAME=tenant_test
# The application role of the row-level security tests: owns nothing, bypasses nothing.
PG_APP_USER=tenant_app
PG_APP_PASSWORD=tenant_app
# A role with BYPASSRLS, for the test that shows the isolation audit refuses it.
PG_BYPASS_USER=tenant_bypass
PG_BYPASS_PASSWORD=tenant_bypass
PG_FIRST_PORT=54329   # away from 5432 so a running system cluster never collides
PG_PORT_TRIES=50
PG_READY_TIMEOUT=30   # seconds

PG_BIN=""
PG_TMP=""
PG_DATA=""
PG_PORT=""
PG_OS_USER=""

# Newest installed server's bin dir. Look for initdb, not just the dir:
# postgresql-client-NN alone also creates /usr/lib/postgresql/NN/bin (psql only).
_pg_find_bin() {
  local initdb
  # sort -V so that e.g. 16 wins over 9.6; an unmatched glob stays literal
  # and fails the -x test.
  initdb=$(printf '%s\n' /usr/lib/postgresql/*/bin/initdb | sort -V | tail -n 1)
  [ -x "$initdb" ] && dirname "$initdb"
}

pg_install() {
  # Exported for the fault tests, which start private clusters with these binaries
  # (test-support's PgServer); they look in the same place when it is unset.
  export PG_BIN
  PG_BIN=$(_pg_find_bin) || true
  if [ -n "$PG_BIN" ]; then
    echo "PostgreSQL server already installed: $PG_BIN"
    pg_install_tenant_rls
    return
  fi
  echo "PostgreSQL server not found; installing the Debian package"
  # Without this, the package's postinst runs initdb for a 'main' cluster we
  # never use (and, where no policy-rc.d blocks it, starts it on 5432).
  mkdir -p /etc/postgresql-common/createcluster.d
  echo "create_main_cluster = off" > /etc/postgresql-common/createcluster.d/zz-ci-no-main.conf
  ci_apt_install postgresql postgresql-contrib
  rm -f /etc/postgresql-common/createcluster.d/zz-ci-no-main.conf
  rmdir --ignore-fail-on-non-empty /etc/postgresql-common/createcluster.d
  PG_BIN=$(_pg_find_bin) || {
    echo "ERROR: installed postgresql but found no /usr/lib/postgresql/*/bin/initdb" >&2
    return 1
  }
  echo "Installed: $PG_BIN"
  pg_install_tenant_rls
}

# The tenant_rls C extension (tenant-sqlx/pg), which RowSecurity::install creates: the server's
# dev package and a compiler if missing, then `make install` from a copy of the sources (PGXS
# builds in place; the work tree stays clean). About a second when nothing is missing.
pg_install_tenant_rls() {
  local src major pgxs server_h build
  src=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)/tenant-sqlx/pg
  major=$(basename "$(dirname "$PG_BIN")")
  pgxs=/usr/lib/postgresql/$major/lib/pgxs/src/makefiles/pgxs.mk
  # pgxs.mk alone proves nothing: postgresql-client ships it without the server headers.
  server_h=$("$PG_BIN/pg_config" --includedir-server 2>/dev/null)/postgres.h
  if [ ! -f "$pgxs" ] || [ ! -f "$server_h" ] || ! command -v gcc >/dev/null ||
    ! command -v make >/dev/null; then
    echo "installing postgresql-server-dev-$major, gcc and make for the tenant_rls extension"
    # The installed server's own version: a newer dev package would upgrade the server's
    # files under any cluster already running, whose new backends then fail to load plpgsql.
    local version
    version=$(dpkg-query -W -f='${Version}' "postgresql-$major" 2>/dev/null) || version=""
    ci_apt_install "postgresql-server-dev-$major${version:+=$version}" gcc make libc6-dev ||
      ci_apt_install "postgresql-server-dev-$major" gcc make libc6-dev || return
  fi
  build=$(mktemp -d)
  cp "$src"/Makefile "$src"/tenant_rls.c "$src"/tenant_rls.control "$src"/*.sql "$build"/
  if ! make -s -C "$build" PG_CONFIG="$PG_BIN/pg_config" install >"$build/make.log" 2>&1; then
    cat "$build/make.log" >&2
    rm -rf "$build"
    echo "ERROR: building the tenant_rls extension failed" >&2
    return 1
  fi
  rm -rf "$build"
  echo "tenant_rls extension installed for PostgreSQL $major"
}

# Run a PostgreSQL binary as the unprivileged OS user (initdb and postgres
# refuse to run as root). cd first: the caller's cwd (often under /root) is not
# readable by that user and initdb/postgres complain about it.
_pg_as_user() {
  (cd "$PG_TMP" && runuser -u "$PG_OS_USER" -- "$@")
}

# One start attempt on port $1, for ci_start_on_free_port (0 up, 2 port lost).
_pg_try_start() {
  local port=$1
  # Fresh log per attempt, so the check below only sees this attempt. Only
  # truncate: pg_ctl creates it as $PG_OS_USER, and a root-owned one would
  # not be writable by the server.
  if [ -f "$PG_TMP/server.log" ]; then : >"$PG_TMP/server.log"; fi
  if _pg_as_user "$PG_BIN/pg_ctl" -D "$PG_DATA" -l "$PG_TMP/server.log" \
       -o "-p $port" -w -t "$PG_READY_TIMEOUT" start >/dev/null; then
    PG_PORT=$port
    return 0
  fi
  # A postmaster that came up but missed the -t deadline must not linger.
  _pg_as_user "$PG_BIN/pg_ctl" -D "$PG_DATA" -m immediate stop >/dev/null 2>&1 || true
  if grep -q 'already in use' "$PG_TMP/server.log" 2>/dev/null; then
    return 2
  fi
  tail -n 20 "$PG_TMP/server.log" >&2 || true
  echo "ERROR: PostgreSQL failed to start (see server log above)" >&2
  return 1
}

pg_start() {
  [ -n "$PG_BIN" ] || PG_BIN=$(_pg_find_bin) || { echo "ERROR: no PostgreSQL server installed" >&2; return 1; }

  # The package creates 'postgres'; fall back to our own user if it is missing
  # (e.g. server binaries present but the user was removed).
  if id -u postgres >/dev/null 2>&1; then
    PG_OS_USER=postgres
  else
    PG_OS_USER=ci-postgres
    id -u "$PG_OS_USER" >/dev/null 2>&1 ||
      useradd --system --no-create-home --home-dir /nonexistent --shell /usr/sbin/nologin "$PG_OS_USER"
  fi

  # Short fixed parent on purpose: the unix socket path lives in here and must
  # stay under ~107 bytes, which a long $TMPDIR could break.
  PG_TMP=$(mktemp -d /tmp/ci-pg.XXXXXX)
  chown "$PG_OS_USER:" "$PG_TMP"
  PG_DATA="$PG_TMP/data"

  printf '%s\n' "$PG_DB_PASSWORD" > "$PG_TMP/pwfile"
  chown "$PG_OS_USER:" "$PG_TMP/pwfile"
  # Local socket: trust (only our setup uses it, and the dir is private).
  # TCP: scram, so the password in DATABASE_URL is really exercised.
  # --no-sync: nothing here needs to survive a crash, and fsync is slow.
  _pg_as_user "$PG_BIN/initdb" -D "$PG_DATA" -U postgres --pwfile="$PG_TMP/pwfile" \
    -E UTF8 --locale=C.UTF-8 --auth-local=trust --auth-host=scram-sha-256 --no-sync \
    >"$PG_TMP/initdb.log" 2>&1 || {
      cat "$PG_TMP/initdb.log" >&2
      echo "ERROR: initdb failed" >&2
      return 1
    }

  # Durability is pointless for a cluster deleted at exit and costs test time.
  # max_connections: parallel test binaries each open their own pools.
  # max_prepared_transactions: the placement test that holds a prepared transaction open across
  # a fence (the move's drain must wait for it); a few slots cost a few kB of shared memory.
  cat >>"$PG_DATA/postgresql.conf" <<EOF
listen_addresses = '127.0.0.1'
unix_socket_directories = '$PG_TMP'
fsync = off
synchronous_commit = off
full_page_writes = off
max_connections = 200
max_prepared_transactions = 8
EOF

  ci_start_on_free_port PostgreSQL "$PG_FIRST_PORT" "$PG_PORT_TRIES" _pg_try_start || return

  # pg_ctl -w checks via the socket; make sure TCP (what the tests use) answers too.
  ci_wait_until "$PG_READY_TIMEOUT" "PostgreSQL on 127.0.0.1:$PG_PORT" \
    "$PG_BIN/pg_isready" -q -h 127.0.0.1 -p "$PG_PORT" -t 1 || {
      tail -n 20 "$PG_TMP/server.log" >&2 || true
      return 1
    }

  # Not a superuser: tests should see the permissions an application role has.
  # CREATEDB for per-test databases (sqlx::test); owning the database lets it
  # create schemas and trusted extensions.
  _pg_as_user "$PG_BIN/psql" -X -q -v ON_ERROR_STOP=1 -h "$PG_TMP" -p "$PG_PORT" -U postgres -d postgres <<EOF
CREATE ROLE $PG_DB_USER LOGIN CREATEDB PASSWORD '$PG_DB_PASSWORD';
CREATE DATABASE $PG_DB_NAME OWNER $PG_DB_USER;
CREATE ROLE $PG_APP_USER LOGIN NOSUPERUSER NOBYPASSRLS NOCREATEDB NOCREATEROLE PASSWORD '$PG_APP_PASSWORD';
CREATE ROLE $PG_BYPASS_USER LOGIN NOSUPERUSER BYPASSRLS NOCREATEDB NOCREATEROLE PASSWORD '$PG_BYPASS_PASSWORD';
EOF

  export DATABASE_URL="postgres://$PG_DB_USER:$PG_DB_PASSWORD@127.0.0.1:$PG_PORT/$PG_DB_NAME"
  export APP_DATABASE_URL="postgres://$PG_APP_USER:$PG_APP_PASSWORD@127.0.0.1:$PG_PORT/$PG_DB_NAME"
  export BYPASS_DATABASE_URL="postgres://$PG_BYPASS_USER:$PG_BYPASS_PASSWORD@127.0.0.1:$PG_PORT/$PG_DB_NAME"
  # The bootstrap superuser (initdb's, password from the same pwfile): only for what a test
  # must set as a superuser, such as `ALTER ROLE .. SET track_activities`.
  export SUPERUSER_DATABASE_URL="postgres://postgres:$PG_DB_PASSWORD@127.0.0.1:$PG_PORT/$PG_DB_NAME"
}

# Safe to call at any point, including when pg_start failed half-way or never ran.
pg_stop() {
  [ -n "$PG_TMP" ] || return 0
  if [ -f "$PG_DATA/postmaster.pid" ]; then
    echo "==> stopping PostgreSQL"
    local pid
    pid=$(head -n 1 "$PG_DATA/postmaster.pid" 2>/dev/null) || true
    if ! _pg_as_user "$PG_BIN/pg_ctl" -D "$PG_DATA" -m fast -w -t 30 stop >/dev/null 2>&1 &&
       ! _pg_as_user "$PG_BIN/pg_ctl" -D "$PG_DATA" -m immediate -w -t 10 stop >/dev/null 2>&1; then
      # Last resort, so CI never leaves a server behind on a deleted data dir.
      echo "WARNING: pg_ctl could not stop PostgreSQL; killing postmaster $pid" >&2
      if [ -n "$pid" ]; then kill -KILL "$pid" 2>/dev/null || true; fi
    fi
  fi
  rm -rf "$PG_TMP"
  PG_TMP=""
}
