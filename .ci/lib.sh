# shellcheck shell=bash
# Plumbing shared by the throwaway servers of .ci/pg.sh, .ci/redis.sh and
# .ci/temporal.sh. Sourced by .ci/run before them.
#
# It exists because each server script had grown its own copy of the same port
# probe, port search, readiness wait, stop-by-pid and apt-get steps, and the
# copies had started to drift (different timeout accounting, one stop path
# warning before SIGKILL and another not, apt-get update run by every install).
# Fixes belong here, once.
#
# Every function reports failure through its exit status and never exits, so
# it behaves the same under `set -e` (.ci/run) and without it (local use).

# Is something already listening on 127.0.0.1:PORT? bash's /dev/tcp, so the
# machine needs neither ss nor python.
ci_port_busy() {
  (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
}

# ci_free_port FIRST TRIES [WIDTH]
# Print the first port P of FIRST, FIRST+WIDTH, ... (TRIES candidates) with
# P..P+WIDTH-1 all free; WIDTH is for servers that also bind the next port(s).
# Only a hint: someone may bind P before the caller does.
ci_free_port() {
  local port=$1 tries=$2 width=${3:-1} i
  while [ "$tries" -gt 0 ]; do
    for ((i = 0; i < width; i++)); do
      ! ci_port_busy $((port + i)) || break
    done
    if [ "$i" -eq "$width" ]; then
      echo "$port"
      return 0
    fi
    port=$((port + width))
    tries=$((tries - 1))
  done
  return 1
}

# ci_start_on_free_port NAME FIRST TRIES START_CMD...
# Probing then binding is racy (another job can grab the port in between), so
# rather than trusting ci_free_port, run `START_CMD... PORT` on each free port
# of FIRST..FIRST+TRIES-1 until it works. START_CMD must return 0 once the
# server is up (and record the port itself), 2 when it lost the port to someone
# else (then the next free port is tried), anything else to give up at once,
# after saying why. It runs on the left of `||`, where bash suspends `set -e`,
# so it has to check its own commands.
ci_start_on_free_port() {
  local name=$1 first=$2 tries=$3
  shift 3
  local port=$first last=$((first + tries)) rc
  while port=$(ci_free_port "$port" $((last - port))); do
    rc=0
    "$@" "$port" || rc=$?
    case $rc in
      0) return 0 ;;
      2) echo "port $port was taken meanwhile, trying the next one" >&2 ;;
      *) return "$rc" ;;
    esac
    port=$((port + 1))
  done
  echo "ERROR: could not start $name on any port in $first..$((last - 1))" >&2
  return 1
}

# Microseconds since the epoch. Strips whatever decimal separator the locale
# gives EPOCHREALTIME.
_ci_now_us() {
  echo "${EPOCHREALTIME//[!0-9]/}"
}

# ci_wait_until TIMEOUT_SECONDS DESCRIPTION CMD...
# Poll CMD every 0.1 s until it succeeds. The deadline is wall-clock time, not
# a count of polls, because CMD itself may take a while (a CLI start-up, a
# connect timeout) and the timeout is meant as the time CI will wait. Callers
# that must stop early (the server died, lost its port) fold that into CMD and
# tell the cases apart afterwards.
ci_wait_until() {
  local timeout=$1 what=$2
  shift 2
  local deadline
  deadline=$(( $(_ci_now_us) + timeout * 1000000 ))
  until "$@"; do
    if [ "$(_ci_now_us)" -ge "$deadline" ]; then
      echo "ERROR: $what not ready after ${timeout}s" >&2
      return 1
    fi
    sleep 0.1
  done
}

# ci_stop_pid PID NAME [GRACE_TENTHS]
# TERM first so the server can shut down cleanly; KILL after the grace period
# (default 10 s) so CI never leaves a server running on a deleted directory.
ci_stop_pid() {
  local pid=$1 name=$2 grace=${3:-100} i
  kill -TERM "$pid" 2>/dev/null || return 0
  for ((i = 0; i < grace; i++)); do
    kill -0 "$pid" 2>/dev/null || return 0
    sleep 0.1
  done
  if kill -0 "$pid" 2>/dev/null; then
    echo "WARNING: $name $pid did not stop on TERM; killing it" >&2
    kill -KILL "$pid" 2>/dev/null || true
  fi
}

# ci_apt_install PKG...
# A fresh machine may have empty package lists, so update is not optional; but
# once per run is enough, and it is the slow half.
ci_apt_install() {
  if [ -z "${_ci_apt_updated:-}" ]; then
    DEBIAN_FRONTEND=noninteractive apt-get update -qq || return
    _ci_apt_updated=1
  fi
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$@" >/dev/null
}
