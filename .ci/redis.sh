# shellcheck shell=bash
# Throwaway Redis server for CI and local test runs.
# Sourced by .ci/run; defines redis_install, redis_start and redis_stop.
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
  # A fresh machine may have empty package lists, so update is not optional.
  # The package's postinst tries to start its service; without systemd (CI) or
  # with a policy-rc.d it does not, and we never use that instance anyway.
  DEBIAN_FRONTEND=noninteractive apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
    redis-server >/dev/null
  command -v redis-server >/dev/null 2>&1 || {
    echo "ERROR: installed redis-server but it is not on PATH" >&2
    return 1
  }
  echo "Installed: $(command -v redis-server)"
}

# Is something already listening on 127.0.0.1:$1? bash's /dev/tcp, as in pg.sh.
_redis_port_busy() {
  (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
}

_redis_pid() {
  [ -n "$REDIS_TMP" ] && [ -s "$REDIS_TMP/redis.pid" ] && head -n 1 "$REDIS_TMP/redis.pid"
}

redis_start() {
  command -v redis-server >/dev/null 2>&1 || { echo "ERROR: no redis-server installed" >&2; return 1; }
  REDIS_TMP=$(mktemp -d /tmp/ci-redis.XXXXXX)

  # Probing then binding is racy (another job could grab the port in between),
  # so on a failed start move on to the next port.
  local port=$REDIS_FIRST_PORT last=$((REDIS_FIRST_PORT + REDIS_PORT_TRIES))
  while [ "$port" -lt "$last" ]; do
    if ! _redis_port_busy "$port"; then
      : >"$REDIS_TMP/redis.log"
      if redis-server --bind 127.0.0.1 --port "$port" --save "" --appendonly no \
           --daemonize yes --pidfile "$REDIS_TMP/redis.pid" --dir "$REDIS_TMP" \
           --logfile "$REDIS_TMP/redis.log" >/dev/null; then
        # --daemonize returns before the bind; wait for PONG or for the log to
        # say the port was taken.
        local waited=0
        while [ "$waited" -lt $((REDIS_READY_TIMEOUT * 10)) ]; do
          if [ "$(redis-cli -h 127.0.0.1 -p "$port" ping 2>/dev/null)" = PONG ]; then
            REDIS_PORT=$port
            break 2
          fi
          if grep -q 'Address already in use' "$REDIS_TMP/redis.log" 2>/dev/null; then
            break
          fi
          sleep 0.1
          waited=$((waited + 1))
        done
        if ! grep -q 'Address already in use' "$REDIS_TMP/redis.log" 2>/dev/null; then
          tail -n 20 "$REDIS_TMP/redis.log" >&2 || true
          echo "ERROR: Redis on 127.0.0.1:$port not ready after ${REDIS_READY_TIMEOUT}s" >&2
          redis_stop
          return 1
        fi
        # Lost the race for this port: the daemon exits on its own; make sure.
        local pid
        pid=$(_redis_pid) && kill "$pid" 2>/dev/null || true
        rm -f "$REDIS_TMP/redis.pid"
      fi
      echo "port $port was taken meanwhile, trying the next one" >&2
    fi
    port=$((port + 1))
  done
  if [ -z "$REDIS_PORT" ]; then
    echo "ERROR: could not start Redis on any port in $REDIS_FIRST_PORT..$((last - 1))" >&2
    redis_stop
    return 1
  fi

  export REDIS_URL="redis://127.0.0.1:$REDIS_PORT/"
}

# Safe to call at any point, including when redis_start failed half-way, never
# ran, or already stopped the server.
redis_stop() {
  [ -n "$REDIS_TMP" ] || return 0
  local pid
  if pid=$(_redis_pid) && kill -0 "$pid" 2>/dev/null; then
    echo "==> stopping Redis"
    kill -TERM "$pid" 2>/dev/null || true
    local waited=0
    while kill -0 "$pid" 2>/dev/null && [ "$waited" -lt 100 ]; do
      sleep 0.1
      waited=$((waited + 1))
    done
    if kill -0 "$pid" 2>/dev/null; then
      echo "WARNING: Redis $pid did not stop on TERM; killing it" >&2
      kill -KILL "$pid" 2>/dev/null || true
    fi
  fi
  rm -rf "$REDIS_TMP"
  REDIS_TMP=""
  REDIS_PORT=""
}
