#!/bin/sh
# Fails when a tracked C file differs from its clang-format canonical form
# (.clang-format at the root). Usage: check_format.sh [SOURCE_DIR]
set -eu
cd "${1:-$(dirname "$0")/../..}"
command -v clang-format >/dev/null || { echo "check_format: clang-format is not installed (scripts/install-deps.sh installs it)" >&2; exit 1; }
bad=0
for f in $(git ls-files '*.c' '*.h'); do
	if ! clang-format --style=file "$f" | cmp -s - "$f"; then
		echo "check_format: $f is not formatted (run: clang-format -i $f)"
		bad=$((bad + 1))
	fi
done
echo "check_format: $(git ls-files '*.c' '*.h' | wc -l) files, $bad not formatted"
[ "$bad" -eq 0 ]
