#!/usr/bin/env bash
# The README's test command: install what is missing, build with warnings as
# errors, run every test; then build again with AddressSanitizer and
# UndefinedBehaviorSanitizer, and again with ThreadSanitizer, and run the unit
# and integration tests in each; then fuzz the request parsers briefly.
# Ends with ctest's summary line.
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/install-deps.sh

jobs=$(nproc 2>/dev/null || echo 2)

echo "== build (release) =="
cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build build -j "$jobs"

echo "== build (address,undefined sanitizers) =="
cmake -S . -B build-asan -G Ninja -DCMAKE_BUILD_TYPE=Debug -DFLINC_SANITIZER=address,undefined >/dev/null
cmake --build build-asan -j "$jobs"

export ASAN_OPTIONS=detect_leaks=1:abort_on_error=1:strict_string_checks=1
export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1

# Tests labelled heavy (the Kafka commit-window and broker-restart rounds,
# the long netns tests, the browser dashboards: a minute or more each, most
# of it waiting on a broker, a browser or a heartbeat timeout, through code
# the other tests here run too) are left to the release pass, to keep CI's
# time.
echo "== tests under sanitizers =="
ctest --test-dir build-asan --output-on-failure -j "$jobs" -L 'unit|integration|security' -LE heavy

echo "== build (thread sanitizer) =="
cmake -S . -B build-tsan -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DFLINC_SANITIZER=thread >/dev/null
cmake --build build-tsan -j "$jobs"

# Every process of the pass (test binaries, daemons, the CLI) writes its
# reports to tsan-reports/, whether or not its test noticed: a daemon that
# halts on a race at shutdown fails the pass too. ignore_noninstrumented_modules
# and tests/tsan.supp: see that file. Tests labelled heavy run in the
# release pass only, as above.
# Under the thread sanitizer everything runs 5-15x slower, so a test whose
# checks depend on timing (a partition idle after 1 s, a checkpoint before
# a stop) gets one more run when it fails; ctest names each test that
# needed it. A race report fails the pass whatever the tests say, and the
# release and ASan passes give no second run.
# How the tests share the cores (RUN_SERIAL, RESOURCE_LOCK): tests/integration/
# CMakeLists.txt, "Cluster tests".
echo "== tests under the thread sanitizer =="
tsan_reports="$PWD/build-tsan/tsan-reports"
rm -rf "$tsan_reports" && mkdir -p "$tsan_reports"
tsan_start=$(date +%s)
tsan_rc=0
TSAN_OPTIONS="halt_on_error=1 second_deadlock_stack=1 ignore_noninstrumented_modules=1 suppressions=$PWD/tests/tsan.supp log_path=$tsan_reports/report" \
  ctest --test-dir build-tsan --output-on-failure -j "$jobs" -L 'unit|integration' -LE heavy \
  --repeat until-pass:2 || tsan_rc=$?
echo "thread sanitizer pass: $(( $(date +%s) - tsan_start )) s"
if compgen -G "$tsan_reports/report.*" >/dev/null; then
  cat "$tsan_reports"/report.*
  echo "ThreadSanitizer reported the races above" >&2
  exit 1
fi
[ "$tsan_rc" -eq 0 ] || exit "$tsan_rc"

# The parsers that read what clients send, under libFuzzer for a short while
# (a longer run: scripts/fuzz.sh --seconds 600). Fails on any crash.
echo "== fuzzing (${FLINC_FUZZ_SECONDS:-30} s per target) =="
scripts/fuzz.sh --seconds "${FLINC_FUZZ_SECONDS:-30}"

echo "== tests (release) =="
ctest --test-dir build --output-on-failure -j "$jobs"
