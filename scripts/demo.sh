#!/usr/bin/env bash
# The README's demo command: the seed platform on one machine.
#
#   scripts/demo.sh [start]   install what is missing, build, and start the demo
#   scripts/demo.sh stop      stop everything the demo started
#   scripts/demo.sh status    what runs
#
# start: the embedded Kafka (flinc-kafka-mock), a job manager and two task
# managers (deploy/start-cluster.sh), three generators writing live streams
# to Kafka (flinc-gen transactions, user-events and iot), and the three seed
# jobs reading them (fraud.so, aggregation.so, anomaly.so) and writing their
# alerts and aggregates back to Kafka. It prints the web UI's address and
# the first output of each job, then shows recovery: a task manager is
# killed with kill -9, the jobs restart on the other one and a replacement,
# and the alerts go on; then a savepoint: the anomaly job is stopped with a
# savepoint and started again from it. Everything keeps running until
# `scripts/demo.sh stop`.
#
# Environment: FLINC_DEMO_DIR (default /tmp/flinc-demo: logs, pid files,
# checkpoints, savepoints), FLINC_DEMO_PORT (REST and web UI, default 8081),
# FLINC_DEMO_RPC_PORT (the job manager's RPC port, default 6123),
# FLINC_DEMO_RATE (records/s of each generator, default 200),
# FLINC_DEMO_NO_BUILD=1 to use build/ as it is (tests).
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
dir=${FLINC_DEMO_DIR:-/tmp/flinc-demo}
port=${FLINC_DEMO_PORT:-8081}
rpc_port=${FLINC_DEMO_RPC_PORT:-6123}
rate=${FLINC_DEMO_RATE:-200}
bin=$root/build/bin
jobs=$root/build/jobs

say() { printf '\n== %s ==\n' "$*"; }
die() { echo "demo.sh: $*" >&2; exit 1; }

# kill -TERM the pid in file $1 if it is still a process of ours, then KILL.
stop_pidfile() {
  local f=$1 pid
  [ -f "$f" ] || return 0
  pid=$(tr -d '[:space:]' <"$f")
  if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; then
    kill -TERM "$pid" 2>/dev/null || true
    for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$pid" 2>/dev/null || true
  fi
  rm -f "$f"
}

stop_all() {
  [ -d "$dir" ] || { echo "demo.sh: nothing to stop ($dir does not exist)"; return 0; }
  for f in "$dir"/gen-*.pid; do stop_pidfile "$f"; done
  FLINC_LOG_DIR=$dir/log FLINC_PID_DIR=$dir "$root/deploy/stop-cluster.sh" >/dev/null 2>&1 || true
  for f in "$dir"/*.pid; do stop_pidfile "$f"; done
  rm -rf "$dir"
  echo "demo.sh: stopped; $dir removed"
}

status() {
  [ -d "$dir" ] || { echo "demo.sh: not running"; return 0; }
  for f in "$dir"/*.pid; do
    [ -f "$f" ] || continue
    pid=$(tr -d '[:space:]' <"$f")
    if kill -0 "$pid" 2>/dev/null; then s=running; else s=gone; fi
    printf '%-32s pid %-8s %s\n' "$(basename "$f" .pid)" "$pid" "$s"
  done
  "$bin/flinc" -m "127.0.0.1:$port" list 2>/dev/null || true
}

# The first N lines of a topic (from its beginning), waiting up to T seconds.
topic_head() {
  local topic=$1 n=$2 t=$3
  timeout "$t" kcat -C -b "$bootstrap" -t "$topic" -o beginning -c "$n" -q -f '%s\n' 2>/dev/null || true
}
# Distinct alert ids in a topic: a job that restarts from a checkpoint writes
# the alerts since then again (at-least-once to Kafka), with the same ids.
topic_count() {
  timeout 20 kcat -C -b "$bootstrap" -t "$1" -o beginning -e -q -f '%s\n' 2>/dev/null |
    sed -n 's/^{"alertId":"\([0-9a-f]*\)".*/\1/p' | sort -u | wc -l
}

wait_running() { # all N jobs RUNNING, within T seconds
  local n=$1 t=$2 end=$((SECONDS + $2))
  while [ $SECONDS -lt $end ]; do
    [ "$("$bin/flinc" -m "127.0.0.1:$port" list 2>/dev/null | grep -c RUNNING || true)" -ge "$n" ] && return 0
    sleep 0.5
  done
  return 1
}

case ${1:-start} in
  stop) stop_all; exit 0 ;;
  status) status; exit 0 ;;
  start) ;;
  -h|--help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
  *) die "unknown command '$1' (start, stop, status)" ;;
esac

[ -e "$dir/started" ] && die "the demo runs already ($dir); scripts/demo.sh stop first"
if [ "${FLINC_DEMO_NO_BUILD:-}" != 1 ]; then
  scripts/install-deps.sh
  cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
  cmake --build build -j "$(nproc 2>/dev/null || echo 2)"
fi
for j in fraud aggregation anomaly; do
  [ -f "$jobs/$j.so" ] || die "build/jobs/$j.so is missing (the build did not make it)"
done
mkdir -p "$dir/log"
: >"$dir/started"
# A start that fails half-way stops what it started.
trap 'rc=$?; if [ $rc -ne 0 ]; then echo "demo.sh: start failed; stopping what it started" >&2; stop_all >&2; fi' EXIT

say "embedded Kafka (flinc-kafka-mock)"
"$bin/flinc-kafka-mock" --brokers 1 --topic transactions:2 --topic user-events:2 --topic iot:2 \
  --topic fraud-alerts:1 --topic aggregates:1 --topic anomaly-alerts:1 >"$dir/kafka.out" 2>"$dir/log/kafka.log" &
echo $! >"$dir/kafka.pid"
for _ in $(seq 100); do grep -q '^bootstrap.servers=' "$dir/kafka.out" 2>/dev/null && break; sleep 0.1; done
bootstrap=$(sed -n 's/^bootstrap.servers=//p' "$dir/kafka.out" | head -1)
[ -n "$bootstrap" ] || die "flinc-kafka-mock did not start: $(cat "$dir/log/kafka.log")"
echo "bootstrap.servers=$bootstrap"
echo "$bootstrap" >"$dir/bootstrap"

say "a job manager and two task managers"
FLINC_LOG_DIR=$dir/log FLINC_PID_DIR=$dir FLINC_BIN_DIR=$bin "$root/deploy/start-cluster.sh" -n 2 \
  -D rest.port="$port" -D jobmanager.rpc.port="$rpc_port" -D taskmanager.numberOfTaskSlots=3 \
  -D state.checkpoints.dir="$dir/checkpoints" -D state.savepoints.dir="$dir/savepoints" \
  -D execution.checkpointing.interval=2s
flinc=("$bin/flinc" -m "127.0.0.1:$port")

say "generators: the last minutes as history (simulated time), then live streams of $rate records/s"
# History ends now: 30,000 records at the modes' default event rates
# start as long ago as they span, so the live stream continues them without
# a jump in event time. The live IoT stream has the
# history's seed (the same sensors); the live transactions and user events
# another seed (new ids) with the history's population (--population-seed:
# the same users at the same homes, so a user's first live transaction is
# no "impossible travel" from their history).
now_ms=$(($(date +%s) * 1000))
# The span of a history is measured (a dry run from the epoch, its last
# timestamp): sessions and sensors keep their own clocks, so 30,000 user
# events cover about 35 minutes, not 300 s; a history that ended in the
# future would put the watermark ahead of the live stream and make it late.
for g in transactions user-events iot; do
  case $g in
    transactions|user-events) live=(--seed 2 --population-seed 1) hist=() ;;
    *) live=(--seed 1 --sensors 100) hist=(--sensors 100) ;; # a reading per sensor every 0.5 s
  esac
  last=$("$bin/flinc-gen" "$g" --count 30000 --seed 1 "${hist[@]}" --start-time 0 --output - 2>/dev/null | tail -1 |
    sed -n 's/^{"timestamp":"1970-01-01T\([0-9:.]*\)Z".*/\1/p')
  [ -n "$last" ] || die "flinc-gen $g: no history span"
  span=$(echo "$last" | awk -F: '{ printf "%d", ($1 * 3600 + $2 * 60 + $3) * 1000 + 1000 }')
  "$bin/flinc-gen" "$g" --count 30000 --seed 1 "${hist[@]}" --start-time $((now_ms - span)) \
    --output "kafka://$bootstrap/$g" >"$dir/log/gen-$g-history.log" 2>&1 ||
    die "flinc-gen $g could not write to Kafka: $(cat "$dir/log/gen-$g-history.log")"
  "$bin/flinc-gen" "$g" --rate "$rate" "${live[@]}" --output "kafka://$bootstrap/$g" >"$dir/log/gen-$g.log" 2>&1 &
  echo $! >"$dir/gen-$g.pid"
done

say "the seed jobs"
submit() { # name input output -> job id
  "${flinc[@]}" run -d -p 2 "$jobs/$1.so" --input "kafka://$bootstrap/$2" --output "kafka://$bootstrap/$3" |
    sed -n 's/.*\([0-9a-f]\{32\}\).*/\1/p' | head -1
}
fraud_id=$(submit fraud transactions fraud-alerts)
agg_id=$(submit aggregation user-events aggregates)
anom_id=$(submit anomaly iot anomaly-alerts)
[ -n "$fraud_id" ] && [ -n "$agg_id" ] && [ -n "$anom_id" ] || die "a job was not submitted"
echo "fraud $fraud_id, aggregation $agg_id, anomaly $anom_id"
wait_running 3 60 || die "the jobs did not reach RUNNING: $("${flinc[@]}" list)"
"${flinc[@]}" list

say "web UI: http://localhost:$port/ (jobs, live output, checkpoints); seed dashboards: http://localhost:$port/#/dashboards"

say "first fraud alerts (within 30 s)"
[ -n "$(topic_head fraud-alerts 3 30 | tee /dev/stderr)" ] || die "no fraud alert within 30 s"
say "first aggregates (within 30 s)"
[ -n "$(topic_head aggregates 3 30 | tee /dev/stderr)" ] || die "no aggregate within 30 s"
say "first anomaly alerts (within 30 s)"
[ -n "$(topic_head anomaly-alerts 3 30 | tee /dev/stderr)" ] || die "no anomaly alert within 30 s"

say "recovery: kill -9 of a task manager"
before=$(topic_count fraud-alerts)
abefore=$(topic_count anomaly-alerts)
victim=$(tr -d '[:space:]' <"$dir/flinc-taskmanager-1.pid")
kill -9 "$victim"
echo "killed task manager 1 (pid $victim); starting a replacement"
"$bin/flinc-taskmanager" -D jobmanager.rpc.address=127.0.0.1 -D jobmanager.rpc.port="$rpc_port" \
  -D security.cluster.secret="file:$dir/cluster.secret" \
  -D taskmanager.numberOfTaskSlots=3 >"$dir/log/flinc-taskmanager-3.out" 2>"$dir/log/flinc-taskmanager-3.log" &
echo $! >"$dir/flinc-taskmanager-3.pid"
sleep 2
wait_running 3 60 || die "the jobs did not recover: $("${flinc[@]}" list)"
"${flinc[@]}" list
end=$((SECONDS + 60))
while [ $SECONDS -lt $end ]; do
  after=$(topic_count fraud-alerts)
  aafter=$(topic_count anomaly-alerts)
  [ "$after" -gt "$before" ] && [ "$aafter" -gt "$abefore" ] && break
  sleep 2
done
echo "distinct fraud alerts: $before before the kill, $after now; anomaly alerts: $abefore before, $aafter now"
[ "$after" -gt "$before" ] && [ "$aafter" -gt "$abefore" ] || die "the alerts did not go on after the kill"

say "savepoint: stop the anomaly job with a savepoint and start it from it"
sp=$("${flinc[@]}" stop --savepoint-path "$dir/savepoints" "$anom_id" | sed -n 's/^Savepoint completed\. Path: //p')
[ -n "$sp" ] || die "no savepoint path"
echo "savepoint $sp"
anom_id=$("${flinc[@]}" run -d -p 2 -s "$sp" "$jobs/anomaly.so" --input "kafka://$bootstrap/iot" \
  --output "kafka://$bootstrap/anomaly-alerts" | sed -n 's/.*\([0-9a-f]\{32\}\).*/\1/p' | head -1)
wait_running 3 60 || die "the restored job did not reach RUNNING"
echo "anomaly restored from the savepoint as $anom_id"
"${flinc[@]}" list

trap - EXIT
say "the demo runs: http://localhost:$port/ ; scripts/demo.sh status ; scripts/demo.sh stop"
