#!/usr/bin/env bash
# flinc info/local refuse bad plugins and invalid graphs with one clear line
# on stderr and exit 1; usage errors exit 2.
set -u
build=$1
flinc=$build/bin/flinc
plugins=$build/tests/plugins
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fails=0

# expect EXIT PATTERN -- COMMAND...: exit status, exactly one stderr line
# matching PATTERN, nothing on stdout.
expect() {
  local want=$1 pattern=$2
  shift 3
  "$@" >"$tmp/out" 2>"$tmp/err"
  local rc=$?
  local lines
  lines=$(grep -c . "$tmp/err")
  if [ "$rc" -ne "$want" ] || ! grep -qE -- "$pattern" "$tmp/err" || [ -s "$tmp/out" ]; then
    echo "FAIL: $* -> exit $rc (want $want), stderr:"; sed 's/^/    /' "$tmp/err"
    fails=$((fails + 1))
  elif [ "$lines" -ne 1 ] && [ "$want" -ne 1 -o "$lines" -gt 2 ]; then
    echo "FAIL: $* -> $lines stderr lines (want one):"; sed 's/^/    /' "$tmp/err"
    fails=$((fails + 1))
  else
    echo "ok: $* -> exit $rc: $(head -1 "$tmp/err")"
  fi
}

echo "not a plugin" >"$tmp/notaplugin.so"
expect 1 'not a job plugin \(not an ELF' -- "$flinc" info "$tmp/notaplugin.so"
expect 1 'No such file' -- "$flinc" info "$tmp/missing.so"
expect 1 "no 'flinc_plugin_entry' symbol" -- "$flinc" info "$plugins/bad_noentry.so"
expect 1 'ABI version 999.*ABI version 1' -- "$flinc" info "$plugins/bad_abi.so"
expect 1 'invalid job: the job has no sink' -- "$flinc" info "$plugins/bad_graph.so" --case nosink
expect 1 'invalid job: the job refuses to build' -- "$flinc" info "$plugins/bad_graph.so" --case fail
expect 1 'invalid job: unknown argument --bogus' -- "$flinc" info "$plugins/bad_graph.so" --case nosink --bogus 1
expect 1 'needs a keyed stream' -- "$flinc" local "$plugins/bad_graph.so" --case nokey
expect 1 'invalid job: the job has no sink' -- "$flinc" local "$plugins/bad_graph.so" --case nosink
# Plugins that crash or cut short: one line, exit 1, never a signal of
# flinc (info inspects in a helper process; local checks the ELF headers
# before it loads).
if [ -f "$build/jobs/wordcount.so" ]; then
  head -c 1000 "$build/jobs/wordcount.so" >"$tmp/cut.so"
  expect 1 'cut.so: truncated \(1000 bytes, the ELF header says at least [0-9]+\)' -- "$flinc" info "$tmp/cut.so"
  expect 1 'cut.so: truncated \(1000 bytes' -- "$flinc" local "$tmp/cut.so"
fi
expect 1 "the plugin's build\(\) killed the inspection with SIGSEGV" -- "$flinc" info "$plugins/hostile_build_segv.so"
expect 1 "the plugin's constructor killed the inspection with SIGABRT" -- "$flinc" info "$plugins/hostile_ctor_abort.so"
expect 1 "did not finish within 500 ms" -- "$flinc" info -D jobmanager.plugin-inspection.timeout=500ms "$plugins/hostile_build_hang.so"
expect 2 "jobmanager.plugin-inspection.timeout: '1ms' is not a duration" -- "$flinc" info -D jobmanager.plugin-inspection.timeout=1ms "$plugins/hostile_build_hang.so"
expect 2 'unknown command' -- "$flinc" frobnicate
expect 2 "-p 'x' is not a parallelism" -- "$flinc" local -p x "$plugins/bad_graph.so"
expect 2 'missing JOB.so' -- "$flinc" info
expect 2 "unknown option '--nope'" -- "$flinc" local --nope "$plugins/bad_graph.so"

# The graph JSON of a valid job has vertices with id, uid, name,
# parallelism and edges with their partitioning.
if [ -f "$build/jobs/wordcount.so" ]; then
  printf 'a b\n' >"$tmp/in.txt"
  if "$flinc" info -p 3 "$build/jobs/wordcount.so" --input "$tmp/in.txt" >"$tmp/graph.json" 2>"$tmp/err" &&
     python3 - "$tmp/graph.json" <<'PY'
import json, sys
g = json.load(open(sys.argv[1]))
assert g["vertices"], "no vertices"
for v in g["vertices"]:
    for k in ("id", "uid", "name", "parallelism"):
        assert k in v, f"vertex without {k}: {v}"
    assert v["parallelism"] == 3, v
parts = {e["partitioning"] for e in g["edges"]}
assert "HASH" in parts, parts
ids = {v["id"] for v in g["vertices"]}
for e in g["edges"]:
    assert e["source"] in ids and e["target"] in ids, e
print("ok: flinc info wordcount.so: %d vertices, partitionings %s" % (len(g["vertices"]), sorted(parts)))
PY
  then :; else echo "FAIL: flinc info wordcount.so"; cat "$tmp/err"; fails=$((fails + 1)); fi
fi

if [ "$fails" -gt 0 ]; then echo "$fails check(s) failed"; exit 1; fi
echo "all checks passed"
