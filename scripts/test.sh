#!/usr/bin/env bash
# The README's test command: install what is missing, build with warnings as
# errors, run every test; then build again with AddressSanitizer and
# UndefinedBehaviorSanitizer and run the unit and integration tests there.
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

echo "== tests under sanitizers =="
ctest --test-dir build-asan --output-on-failure -j "$jobs" -L 'unit|integration'

echo "== tests (release) =="
ctest --test-dir build --output-on-failure -j "$jobs"
