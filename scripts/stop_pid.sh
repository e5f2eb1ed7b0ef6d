# Sourced by the bench scripts (bash): stop_pid PID WHAT GRACE stops one process the calling
# script started: SIGTERM, then SIGKILL after GRACE seconds, saying so on stderr under the
# calling script's name. A PID that is already gone is fine.
stop_pid() {
  local pid="$1" what="$2" grace="$3"
  kill -0 "$pid" 2>/dev/null || return 0
  kill -TERM "$pid" 2>/dev/null || true
  for _ in $(seq $((grace * 10))); do
    kill -0 "$pid" 2>/dev/null || return 0
    sleep 0.1
  done
  echo "$(basename "$0"): $what ignored SIGTERM for $grace s; sending SIGKILL" >&2
  kill -KILL "$pid" 2>/dev/null || true
}
