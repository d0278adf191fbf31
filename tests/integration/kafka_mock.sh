#!/usr/bin/env bash
# flinc-kafka-mock: usage errors are one line and exit 2; a 3-broker cluster
# with a 4-partition topic prints bootstrap.servers first, kcat writes and
# reads through it, and SIGTERM stops it with status 0.
set -uo pipefail
build=$1
mock="$build/bin/flinc-kafka-mock"
fails=0
check() { if eval "$2"; then echo "  ok: $1"; else echo "  FAIL: $1"; fails=$((fails + 1)); fi; }

for bad in "--brokers 0" "--brokers x" "--topic nocolon" "--topic a:0" "--bogus" "--brokers"; do
  err=$("$mock" $bad 2>&1 >/dev/null); rc=$?
  check "'$bad' refused with one line" '[ $rc -eq 2 ] && [ $(printf "%s\n" "$err" | wc -l) -eq 1 ]'
done
check "--help exits 0" '"$mock" --help | grep -q "^usage: flinc-kafka-mock"'

out=$(mktemp); errf=$(mktemp)
"$mock" --brokers 3 --topic in:4 >"$out" 2>"$errf" &
pid=$!
trap 'kill $pid 2>/dev/null; rm -f "$out" "$errf"' EXIT
for _ in $(seq 100); do [ -s "$out" ] && break; sleep 0.05; done
line=$(head -1 "$out")
check "first line is bootstrap.servers with 3 brokers" '[[ "$line" =~ ^bootstrap\.servers=127\.0\.0\.1:[0-9]+,127\.0\.0\.1:[0-9]+,127\.0\.0\.1:[0-9]+$ ]]'
bs=${line#bootstrap.servers=}
parts=$(kcat -L -b "$bs" -t in -m 5 2>/dev/null | grep -c "partition ")
check "topic in has 4 partitions" '[ "$parts" -eq 4 ]'
seq 1 200 | kcat -P -b "$bs" -t in 2>/dev/null
got=$(kcat -C -b "$bs" -t in -o beginning -e -q -m 10 2>/dev/null | sort -n | tr '\n' ' ')
check "200 records written and read with kcat" '[ "$got" = "$(seq 1 200 | tr "\n" " ")" ]'
kill -TERM $pid; wait $pid; rc=$?
check "SIGTERM stops it with 0" '[ $rc -eq 0 ]'
echo "$(( 11 - fails )) passed, $fails failed"
[ $fails -eq 0 ]
