#!/usr/bin/env bash
# The README's demo command: install what is missing, build, and run the main
# demo job in local mode on its built-in input (Nexmark q5 over the Nexmark
# generator), showing the first results and the run summary. The results go
# to a temporary folder that is removed when the script ends, however it ends.
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/install-deps.sh
cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build build -j "$(nproc 2>/dev/null || echo 2)"

# The traps come first, so an interrupted demo leaves nothing behind either
# (the signal traps exit, which runs the EXIT trap).
out=""
trap '[ -z "$out" ] || rm -rf "$out"' EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
out=$(mktemp -d /tmp/flinc-demo.XXXXXX)

echo
echo "== flinc local -p 2 nexmark.so --query 5 --events 5000000 (hot items, 10 s windows sliding by 2 s) =="
build/bin/flinc local -p 2 build/jobs/nexmark.so --query 5 --events 5000000 --output "$out"

# Committed part files only (in-progress files start with a dot). awk reads
# the files itself: no `cat | head` pipe whose writer dies of SIGPIPE (exit
# 141 under pipefail) when head has seen enough.
shopt -s nullglob
parts=("$out"/part-*)
shopt -u nullglob
echo
if [ ${#parts[@]} -eq 0 ]; then
  echo "no committed results in $out" >&2
  exit 1
fi
echo "== first results =="
awk 'NR > 10 { exit } { print }' "${parts[@]}"
echo "..."
echo "$(awk 'END { print NR }' "${parts[@]}") result lines in ${#parts[@]} part file(s)"
