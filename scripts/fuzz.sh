#!/usr/bin/env bash
# Run every libFuzzer target of tests/fuzz for a while (issue 15,
# acceptance 4): CI runs a short pass after the sanitizer tests, a person
# runs longer ones on demand.
#
#   scripts/fuzz.sh [--seconds N] [--jobs J] [TARGET...]
#
# N seconds per target (default 60). Builds build-fuzz with clang and
# -DFLINC_FUZZ=ON, then runs each target from a copy of its committed
# corpus (tests/fuzz/corpus/TARGET/, which stays untouched). Fails on the
# first crash, leak, timeout or broken invariant: the input that did it is
# in build-fuzz/fuzz-artifacts/TARGET/ and the line to keep it as a test
# is printed (fix the bug, then commit the input into the corpus, where
# ctest unit.fuzz_TARGET replays it in every build). Prints execs/s and
# the coverage reached per target.
set -euo pipefail
cd "$(dirname "$0")/.."

seconds=60
targets=()
while [ $# -gt 0 ]; do
  case "$1" in
    --seconds) seconds="$2"; shift 2 ;;
    --seconds=*) seconds="${1#*=}"; shift ;;
    -h|--help) sed -n '2,16p' "$0"; exit 0 ;;
    -*) echo "fuzz.sh: unknown option $1" >&2; exit 2 ;;
    *) targets+=("$1"); shift ;;
  esac
done

if ! command -v clang >/dev/null 2>&1; then
  echo "fuzz.sh: clang is missing (scripts/install-deps.sh installs it)" >&2
  exit 1
fi

build=build-fuzz
cmake -S . -B "$build" -G Ninja -DCMAKE_C_COMPILER=clang -DCMAKE_BUILD_TYPE=RelWithDebInfo -DFLINC_FUZZ=ON >/dev/null
cmake --build "$build" --target fuzz -j "$(nproc 2>/dev/null || echo 2)"

if [ ${#targets[@]} -eq 0 ]; then
  for d in tests/fuzz/corpus/*/; do targets+=("$(basename "$d")"); done
fi

status=0
for t in "${targets[@]}"; do
  bin="$build/tests/fuzz/$t"
  if [ ! -x "$bin" ]; then
    echo "fuzz.sh: no fuzz target '$t' ($bin)" >&2
    exit 2
  fi
  work="$build/fuzz-corpus/$t"
  art="$build/fuzz-artifacts/$t"
  rm -rf "$work" "$art"
  mkdir -p "$work" "$art"
  cp tests/fuzz/corpus/"$t"/* "$work"/ 2>/dev/null || true
  log="$build/fuzz-$t.log"
  echo "== fuzz $t: ${seconds}s =="
  rc=0
  ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
    "$bin" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 -max_len=65536 -print_final_stats=1 \
    -artifact_prefix="$art/" "$work" >"$log" 2>&1 || rc=$?
  grep -E '^(#[0-9]+ +DONE|stat::number_of_executed_units|stat::average_exec_per_sec|stat::peak_rss_mb)' "$log" || true
  cov=$(grep -E '^#[0-9]+' "$log" | tail -1 || true)
  [ -n "$cov" ] && echo "last: $cov"
  if [ "$rc" -ne 0 ] || compgen -G "$art/*" >/dev/null; then
    tail -40 "$log"
    echo "fuzz.sh: $t FAILED; the input is in $art/:" >&2
    ls -1 "$art" >&2
    for f in "$art"/*; do
      [ -f "$f" ] && echo "  after the fix: cp $f tests/fuzz/corpus/$t/regress-$(sha1sum "$f" | cut -c1-12)" >&2
    done
    status=1
  fi
done
exit $status
