#!/usr/bin/env bash
# stop-cluster.sh - stop the daemons start-cluster.sh started on this host.
#
#   deploy/stop-cluster.sh
#
# Reads the pid files in $FLINC_PID_DIR (default $FLINC_LOG_DIR, default log/
# at the top of the source tree, or ~/.local/state/flinc/log for an installed
# copy: the same folder start-cluster.sh chose, see flinc-paths.sh): the task
# managers first, then the job manager.
# Each gets SIGTERM (it cancels its tasks and exits); one still running after
# $FLINC_STOP_TIMEOUT seconds (default 10) gets SIGKILL. A pid file whose
# process is gone, or is not a flinc daemon any more, is just removed.
# Exit status 0 when every daemon is stopped.
set -uo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=flinc-paths.sh
. "$here/flinc-paths.sh"
case ${1:-} in
  -h|--help) sed -n '2,/^set -uo/p' "${BASH_SOURCE[0]}" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
  '') ;;
  *) echo "stop-cluster.sh: unknown argument '$1' (see --help)" >&2; exit 2 ;;
esac
piddir=$flinc_piddir
bound=${FLINC_STOP_TIMEOUT:-10}

# Is pid a running flinc daemon? (a recycled pid must not be killed)
is_daemon() {
  local pid=$1 comm
  kill -0 "$pid" 2>/dev/null || return 1
  comm=$(tr '\0' ' ' </proc/"$pid"/cmdline 2>/dev/null) || return 0 # no /proc: trust the pid file
  case $comm in *flinc-jobmanager*|*flinc-taskmanager*) return 0 ;; *) return 1 ;; esac
}

stopped=0
failed=0
# stop_all PIDFILE...: SIGTERM to all, then wait for all, then SIGKILL stragglers.
stop_all() {
  local f pid pids=() files=() deadline
  for f in "$@"; do
    [ -e "$f" ] || continue
    pid=$(tr -d '[:space:]' <"$f")
    if [ -n "$pid" ] && is_daemon "$pid"; then
      kill -TERM "$pid" 2>/dev/null && { pids+=("$pid"); files+=("$f"); echo "stopping $(basename "$f" .pid) (pid $pid)"; }
    else
      echo "$(basename "$f" .pid): not running (stale pid file removed)"
      rm -f "$f"
    fi
  done
  [ ${#pids[@]} -gt 0 ] || return 0
  deadline=$((SECONDS + bound))
  while [ $SECONDS -lt $deadline ]; do
    local any=0
    for pid in "${pids[@]}"; do kill -0 "$pid" 2>/dev/null && any=1; done
    [ $any -eq 0 ] && break
    sleep 0.1
  done
  local i
  for i in "${!pids[@]}"; do
    pid=${pids[$i]}
    if kill -0 "$pid" 2>/dev/null; then
      echo "$(basename "${files[$i]}" .pid) (pid $pid) still running after ${bound}s: SIGKILL" >&2
      kill -KILL "$pid" 2>/dev/null
      sleep 0.2
      if kill -0 "$pid" 2>/dev/null; then failed=$((failed + 1)); continue; fi
    fi
    rm -f "${files[$i]}"
    stopped=$((stopped + 1))
  done
}

shopt -s nullglob
stop_all "$piddir"/flinc-taskmanager-*.pid
stop_all "$piddir"/flinc-jobmanager.pid

if [ $failed -gt 0 ]; then
  echo "stop-cluster.sh: $failed daemon(s) could not be stopped" >&2
  exit 1
fi
if [ $stopped -eq 0 ]; then echo "no flinc daemon was running (pid files in $piddir)"; else echo "stopped $stopped daemon(s)"; fi
