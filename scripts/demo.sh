#!/usr/bin/env bash
# The README's demo command: install what is missing, build, and run the main
# demo job in local mode on its built-in input (Nexmark q5 over the Nexmark
# generator), showing the first results and the run summary.
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/install-deps.sh
cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build build -j "$(nproc 2>/dev/null || echo 2)"

out=$(mktemp -d /tmp/flinc-demo.XXXXXX)
echo
echo "== flinc local -p 2 nexmark.so --query 5 --events 5000000 (hot items, 10 s windows sliding by 2 s) =="
build/bin/flinc local -p 2 build/jobs/nexmark.so --query 5 --events 5000000 --output "$out"
echo
echo "== first results (committed files in $out) =="
cat "$out"/part-* | head -n 10
echo "..."
echo "$(cat "$out"/part-* | wc -l) result lines in $out"
