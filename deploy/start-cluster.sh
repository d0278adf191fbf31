#!/usr/bin/env bash
# start-cluster.sh - start a flinc job manager and N task managers on this host.
#
#   deploy/start-cluster.sh [-n N] [--config FILE] [-D key=value]...
#
#   -n N           task managers to start (default: `taskmanager.count` from
#                  the configuration, else 1)
#   --config FILE  configuration for every daemon (default: flinc.conf next
#                  to this script, when there is one)
#   -D key=value   a configuration value for every daemon; wins over the file
#
# The programs (flinc, flinc-jobmanager, flinc-taskmanager) come from
# $FLINC_BIN_DIR, else the folder of this script, else the installed
# prefix's bin/ (this script in <prefix>/share/flinc/deploy), else build/bin
# of the source tree, else $PATH. The configuration is read by
# `flinc config`, the daemons' own parser, never by this script.
# Logs go to $FLINC_LOG_DIR (default: log/ at the top of the source tree;
# ~/.local/state/flinc/log for an installed copy): flinc-jobmanager.log and
# flinc-taskmanager-<i>.log (their stdout in .out files beside them), with a
# pid file beside each
# (flinc-jobmanager.pid, flinc-taskmanager-<i>.pid; $FLINC_PID_DIR to put
# them elsewhere). Without security.cluster.secret in the configuration, a
# random one is made once in cluster.secret beside the pid files (mode
# 0600; $FLINC_SECRET_FILE to put it elsewhere) and given to every daemon. The script returns once the job manager's REST API
# (/overview) counts all N task managers, or fails after
# $FLINC_START_TIMEOUT seconds (default 30), stopping what it started.
# stop-cluster.sh stops the daemons again.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=flinc-paths.sh
. "$here/flinc-paths.sh"

die() { echo "start-cluster.sh: $*" >&2; exit 1; }
usage() { sed -n '2,/^set -euo/p' "${BASH_SOURCE[0]}" | sed '$d; s/^# \{0,1\}//'; }

count=""
config=""
dargs=()
while [ $# -gt 0 ]; do
  case $1 in
    -h|--help) usage; exit 0 ;;
    -n) [ $# -ge 2 ] || { echo "start-cluster.sh: -n needs a number" >&2; exit 2; }
        count=$2; shift 2 ;;
    -n*) count=${1#-n}; shift ;;
    --config) [ $# -ge 2 ] || { echo "start-cluster.sh: --config needs a file" >&2; exit 2; }
              config=$2; shift 2 ;;
    --config=*) config=${1#--config=}; shift ;;
    -D) [ $# -ge 2 ] || { echo "start-cluster.sh: -D needs key=value" >&2; exit 2; }
        dargs+=("$2"); shift 2 ;;
    -D*) dargs+=("${1#-D}"); shift ;;
    *) echo "start-cluster.sh: unknown argument '$1' (see --help)" >&2; exit 2 ;;
  esac
done

# ---- programs -------------------------------------------------------------
bindir=$(flinc_find_bin) ||
  die "cannot find flinc, flinc-jobmanager and flinc-taskmanager${FLINC_BIN_DIR:+ in FLINC_BIN_DIR=$FLINC_BIN_DIR} (build the tree, or set FLINC_BIN_DIR)"

# ---- configuration --------------------------------------------------------
if [ -z "$config" ] && [ -f "$here/flinc.conf" ]; then config=$here/flinc.conf; fi
if [ -n "$config" ]; then
  [ -r "$config" ] || die "cannot read the configuration file $config"
  config=$(cd "$(dirname "$config")" && pwd)/$(basename "$config")
fi

# The same --config and -D every daemon gets.
common=()
if [ -n "$config" ]; then common+=(--config "$config"); fi
for kv in "${dargs[@]+"${dargs[@]}"}"; do common+=(-D "$kv"); done

# The file and the -D values must load before anything starts: a bad line or
# -D is flinc's one-line message (naming the file and line), exit 2.
if ! err=$("$bindir/flinc" config list "${common[@]+"${common[@]}"}" 2>&1 >/dev/null); then
  err=${err#flinc: }
  echo "start-cluster.sh: ${err% (see flinc --help)}" >&2
  exit 2
fi

# conf_get KEY: the value the daemons see (the last -D, else the file's,
# else the documented default), from `flinc config get`; empty when the
# key has none (exit 1 of flinc config get).
conf_get() {
  "$bindir/flinc" config get "$1" "${common[@]+"${common[@]}"}" 2>/dev/null || true
}

if [ -z "$count" ]; then count=$(conf_get taskmanager.count); fi
case $count in ''|*[!0-9]*) echo "start-cluster.sh: the task manager count '$count' is not a number" >&2; exit 2 ;; esac

rest_addr=$(conf_get rest.bind-address)
case $rest_addr in 0.0.0.0|'') rest_addr=127.0.0.1 ;; ::|'[::]') rest_addr='[::1]' ;; esac
case $rest_addr in *:*) case $rest_addr in \[*) ;; *) rest_addr="[$rest_addr]" ;; esac ;; esac
rest_port=$(conf_get rest.port)
# REST over https (security.ssl.rest.enabled): trust the configured CA.
scheme=http
rest_ca=
if [ "$(conf_get security.ssl.rest.enabled)" = true ]; then
  scheme=https
  rest_ca=$(conf_get security.ssl.rest.truststore)
  [ -n "$rest_ca" ] || rest_ca=$(conf_get security.ssl.truststore)
fi
case $rest_port in ''|*[!0-9]*) echo "start-cluster.sh: rest.port '$rest_port' is not a port number" >&2; exit 2 ;; esac
token=$(conf_get rest.auth.token)

logdir=$flinc_logdir
piddir=$flinc_piddir
mkdir -p "$logdir" "$piddir" || die "cannot create $logdir"
timeout=${FLINC_START_TIMEOUT:-30}

# ---- the cluster secret ------------------------------------------------------
# Every RPC, control and data connection proves security.cluster.secret
# (docs/security.md). When the configuration gives none, one is made once:
# 32 random bytes, base64, in $FLINC_SECRET_FILE (default: cluster.secret
# beside the pid files), mode 0600, kept for the next start and for task
# managers started by hand (-D security.cluster.secret=file:THAT_FILE).
if [ -z "$(conf_get security.cluster.secret)" ]; then
  secret_file=${FLINC_SECRET_FILE:-$piddir/cluster.secret}
  if [ ! -s "$secret_file" ]; then
    tmp_secret="$secret_file.tmp.$$"
    (umask 077 && head -c 32 /dev/urandom | base64 >"$tmp_secret") &&
      mv -f "$tmp_secret" "$secret_file" || { rm -f "$tmp_secret"; die "cannot write a cluster secret to $secret_file"; }
    echo "generated a cluster secret in $secret_file (mode 0600)"
  fi
  chmod 600 "$secret_file" || die "cannot chmod 600 $secret_file"
  common+=(-D "security.cluster.secret=file:$secret_file")
fi

# ---- refuse to start twice -------------------------------------------------
alive() { [ -n "$1" ] && kill -0 "$1" 2>/dev/null; }
pidof_file() { [ -f "$1" ] && tr -d '[:space:]' <"$1" || true; }
jm_pidfile=$piddir/flinc-jobmanager.pid
old=$(pidof_file "$jm_pidfile")
if alive "$old"; then
  die "a job manager is already running (pid $old, $jm_pidfile); stop it with deploy/stop-cluster.sh"
fi
for f in "$piddir"/flinc-taskmanager-*.pid; do
  [ -e "$f" ] || continue
  old=$(pidof_file "$f")
  if alive "$old"; then die "a task manager is already running (pid $old, $f); stop it with deploy/stop-cluster.sh"; fi
  rm -f "$f"
done

started=()
started_logs=()
# The lines this run added to the logs of the daemons it started.
show_logs() {
  local log
  for log in "${started_logs[@]+"${started_logs[@]}"}"; do
    echo "---- $log" >&2
    awk '/^==== .* start-cluster.sh: /{n=NR} {l[NR]=$0} END{s=n?n:1; if (NR-s>30) s=NR-30; for(i=s;i<=NR;i++) print l[i]}' "$log" >&2
  done
}
cleanup_on_failure() {
  local p
  for p in "${started[@]+"${started[@]}"}"; do kill -TERM "$p" 2>/dev/null || true; done
  sleep 1
  for p in "${started[@]+"${started[@]}"}"; do kill -KILL "$p" 2>/dev/null || true; done
  rm -f "$jm_pidfile" "$piddir"/flinc-taskmanager-*.pid
}

# start NAME LOGFILE PIDFILE PROGRAM ARGS...: detached, appending its log
# (stderr) to LOGFILE and what it prints (stdout: the `-` sink, a plugin's
# printf) to the .out file beside it, as Flink does; a task manager's .out
# is what GET /taskmanagers/:id/stdout and the UI's Stdout page show.
start() {
  local name=$1 log=$2 pidfile=$3
  shift 3
  { echo "==== $(date -u +%Y-%m-%dT%H:%M:%SZ) start-cluster.sh: $*"; } >>"$log"
  nohup "$@" </dev/null >>"${log%.log}.out" 2>>"$log" &
  local pid=$!
  echo "$pid" >"$pidfile"
  started+=("$pid")
  started_logs+=("$log")
  echo "started $name (pid $pid), log $log"
}

# ---- readiness -------------------------------------------------------------
# Prints /overview's body, or nothing when the REST API does not answer.
overview() {
  local url="$scheme://$rest_addr:$rest_port/overview"
  if command -v curl >/dev/null 2>&1; then
    curl -fsS --max-time 2 ${rest_ca:+--cacert "$rest_ca"} "$url" 2>/dev/null || true
  else
    python3 - "$url" "$rest_ca" <<'PY' 2>/dev/null || true
import ssl, sys, urllib.request
ctx = ssl.create_default_context(cafile=sys.argv[2]) if sys.argv[2] else None
print(urllib.request.urlopen(sys.argv[1], timeout=2, context=ctx).read().decode())
PY
  fi
}
tm_count() { sed -n 's/.*"taskmanagers"[[:space:]]*:[[:space:]]*\([0-9][0-9]*\).*/\1/p'; }

wait_for() {
  local want=$1 what=$2 deadline=$((SECONDS + timeout)) body n
  while :; do
    for p in "${started[@]}"; do
      if ! alive "$p"; then
        echo "start-cluster.sh: a daemon (pid $p) exited while $what; its log says:" >&2
        show_logs
        cleanup_on_failure
        exit 1
      fi
    done
    body=$(overview)
    n=$(printf '%s' "$body" | tm_count)
    if [ -n "$body" ] && { [ "$want" = any ] || [ "${n:-0}" -ge "$want" ]; }; then return 0; fi
    if [ $SECONDS -ge $deadline ]; then
      echo "start-cluster.sh: timed out after ${timeout}s while $what ($scheme://$rest_addr:$rest_port/overview: ${body:-no answer})" >&2
      show_logs
      cleanup_on_failure
      exit 1
    fi
    sleep 0.2
  done
}

start jobmanager "$logdir/flinc-jobmanager.log" "$jm_pidfile" \
  "$bindir/flinc-jobmanager" "${common[@]+"${common[@]}"}"
wait_for any "waiting for the job manager's REST API"

for ((i = 0; i < count; i++)); do
  start "task manager $i" "$logdir/flinc-taskmanager-$i.log" "$piddir/flinc-taskmanager-$i.pid" \
    "$bindir/flinc-taskmanager" "${common[@]+"${common[@]}"}"
done
wait_for "$count" "waiting for $count task manager(s) to register"

echo "cluster up: job manager at $scheme://$rest_addr:$rest_port with $count task manager(s)${token:+ (REST token set)}"
