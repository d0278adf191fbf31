#!/usr/bin/env bash
# Two builds of flinc side by side on one job: the CPU seconds (user +
# system of the whole `flinc local -p 1` process, hashmap state, output
# discarded) of each, run at the same time, one per core (taskset), the
# cores swapped every round, so that both see the same machine.
#
#   tests/bench/seed_ab.sh OLD_BUILD NEW_BUILD JOB INPUT [ROUNDS]
#
# OLD_BUILD/NEW_BUILD: build directories (bin/flinc, jobs/JOB.so), e.g. a
# `git worktree` of the commit before built into its own build/. JOB: a
# job plugin's name (fraud, anomaly, aggregation, ...). INPUT: its input
# file (flinc-gen). ROUNDS: default 4. Prints one line per round and the
# median of each side; an exit status other than 0 when a run failed.
set -euo pipefail

if [ $# -lt 4 ] || [ "${1:-}" = "-h" ] || [ "${1:-}" = "--help" ]; then
  sed -n '2,13p' "$0"
  exit 2
fi
old=$1 new=$2 job=$3 input=$4 rounds=${5:-4}
for b in "$old" "$new"; do
  [ -x "$b/bin/flinc" ] && [ -f "$b/jobs/$job.so" ] || { echo "seed_ab.sh: no $b/bin/flinc or $b/jobs/$job.so" >&2; exit 2; }
done
[ -r "$input" ] || { echo "seed_ab.sh: cannot read $input" >&2; exit 2; }

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

run() { # NAME BUILD CORE
  taskset -c "$3" /usr/bin/time -o "$tmp/$1.t" -f '%U %S' "$2/bin/flinc" local -p 1 -D state.backend=hashmap \
    "$2/jobs/$job.so" --input "$input" --output "" >/dev/null 2>"$tmp/$1.err" ||
    { echo "seed_ab.sh: the $1 build failed:" >&2; tail -3 "$tmp/$1.err" >&2; return 1; }
}

for r in $(seq 1 "$rounds"); do
  co=$(( r % 2 )) cn=$(( (r + 1) % 2 ))
  run old "$old" "$co" & po=$!
  run new "$new" "$cn" & pn=$!
  wait "$po" && wait "$pn"
  o=$(awk '{printf "%.2f", $1 + $2}' "$tmp/old.t")
  n=$(awk '{printf "%.2f", $1 + $2}' "$tmp/new.t")
  echo "$job round $r: old $o CPU s (core $co), new $n CPU s (core $cn)"
  echo "$o" >>"$tmp/old.all"
  echo "$n" >>"$tmp/new.all"
done
med() { sort -n "$1" | awk '{a[NR] = $1} END {print (NR % 2) ? a[(NR + 1) / 2] : (a[NR / 2] + a[NR / 2 + 1]) / 2}'; }
echo "$job median of $rounds: old $(med "$tmp/old.all") CPU s, new $(med "$tmp/new.all") CPU s"
