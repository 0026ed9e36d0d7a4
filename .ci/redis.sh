# shellcheck shell=bash
# Throwaway Redis server for CI and local test runs.
# Sourced by .ci/run after .ci/lib.sh; defines redis_install, redis_start and
# redis_stop.
#
# Like .ci/pg.sh: a private server on a free port with a fresh directory per
# run (no persistence at all), never the Debian service, which CI cannot start
# without systemd anyway.
#
# After redis_start succeeds these are set (and REDIS_URL is exported):
#   REDIS_TMP  REDIS_PORT  REDIS_URL

REDIS_FIRST_PORT=63790   # away from 6379 so a running system server never collides
REDIS_PORT_TRIES=50
REDIS_READY_TIMEOUT=30   # seconds

REDIS_TMP=""
REDIS_PORT=""

redis_install() {
  if command -v redis-server >/dev/null 2>&1 && command -v redis-cli >/dev/null 2>&1; then
    echo "Redis server already installed: $(command -v redis-server)"
    return 0
  fi
  echo "Redis server not found; installing the Debian package"
  # The package's postinst tries to start its service; without systemd (CI) or
  # with a policy-rc.d it does not, and we never use that instance anyway.
  ci_apt_install redis-server
  command -v redis-server >/dev/null 2>&1 || {
    echo "ERROR: installed redis-server but it is not on PATH" >&2
    return 1
  }
  echo "Installed: $(command -v redis-server)"
}

_redis_pid() {
  [ -n "$REDIS_TMP" ] && [ -s "$REDIS_TMP/redis.pid" ] && head -n 1 "$REDIS_TMP/redis.pid"
}

_redis_lost_port() {
  grep -q 'Address already in use' "$REDIS_TMP/redis.log" 2>/dev/null
}

# --daemonize returns before the bind; the attempt has only settled once the
# server answers PING or its log says the port was taken.
_redis_settled() {
  [ "$(redis-cli -h 127.0.0.1 -p "$1" ping 2>/dev/null)" = PONG ] || _redis_lost_port
}

# One start attempt on port $1, for ci_start_on_free_port (0 up, 2 port lost).
_redis_try_start() {
  local port=$1 pid
  : >"$REDIS_TMP/redis.log"
  redis-server --bind 127.0.0.1 --port "$port" --save "" --appendonly no \
    --daemonize yes --pidfile "$REDIS_TMP/redis.pid" --dir "$REDIS_TMP" \
    --logfile "$REDIS_TMP/redis.log" >/dev/null || return 2
  ci_wait_until "$REDIS_READY_TIMEOUT" "Redis on 127.0.0.1:$port" _redis_settled "$port" || {
    tail -n 20 "$REDIS_TMP/redis.log" >&2 || true
    return 1
  }
  # Checked before trusting PONG: after losing the bind, a PONG on this port
  # comes from whoever won it, not from our server.
  if ! _redis_lost_port; then
    REDIS_PORT=$port
    return 0
  fi
  # The losing daemon exits on its own; make sure.
  if pid=$(_redis_pid); then kill "$pid" 2>/dev/null || true; fi
  rm -f "$REDIS_TMP/redis.pid"
  return 2
}

redis_start() {
  command -v redis-server >/dev/null 2>&1 || { echo "ERROR: no redis-server installed" >&2; return 1; }
  REDIS_TMP=$(mktemp -d /tmp/ci-redis.XXXXXX)

  ci_start_on_free_port Redis "$REDIS_FIRST_PORT" "$REDIS_PORT_TRIES" _redis_try_start || {
    redis_stop
    return 1
  }

  export REDIS_URL="redis://127.0.0.1:$REDIS_PORT/"
}

# Safe to call at any point, including when redis_start failed half-way, never
# ran, or already stopped the server.
redis_stop() {
  [ -n "$REDIS_TMP" ] || return 0
  local pid
  if pid=$(_redis_pid) && kill -0 "$pid" 2>/dev/null; then
    echo "==> stopping Redis"
    ci_stop_pid "$pid" Redis 100
  fi
  rm -rf "$REDIS_TMP"
  REDIS_TMP=""
  REDIS_PORT=""
}
