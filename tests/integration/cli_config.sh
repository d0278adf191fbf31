#!/usr/bin/env bash
# `flinc config get/list` read a configuration as the daemons do: inline
# comments, -D over the file, documented defaults, one-line errors (exit 1
# for a key without a value, 2 for usage errors and files that do not load).
# The defaults it prints agree with deploy/flinc.conf and the docs' tables,
# and deploy/start-cluster.sh, which asks it, starts a cluster from a file
# with inline comments.
#
#   cli_config.sh BUILD_DIR SOURCE_DIR
set -u
build=$1
src=$2
flinc=$build/bin/flinc
tmp=$(mktemp -d /tmp/flinc-cli-config.XXXXXX)
cleanup() {
  # A cluster this test started, if a check failed before it was stopped.
  if [ -d "$tmp/log" ]; then FLINC_LOG_DIR=$tmp/log "$src/deploy/stop-cluster.sh" >/dev/null 2>&1; fi
  rm -rf "$tmp"
}
trap cleanup EXIT
fails=0

fail() {
  echo "FAIL: $*"
  fails=$((fails + 1))
}

# check RC STDOUT PATTERN -- COMMAND...: the exit status, stdout exactly
# STDOUT (a trailing newline added), and stderr empty (RC 0) or exactly
# one line matching PATTERN.
check() {
  local want_rc=$1 want_out=$2 pattern=$3
  shift 4
  "$@" >"$tmp/out" 2>"$tmp/err"
  local rc=$? ok=1
  [ "$rc" -eq "$want_rc" ] || ok=0
  if [ "$want_rc" -eq 0 ]; then
    [ "$(cat "$tmp/out")" = "$want_out" ] && [ -s "$tmp/out" ] || ok=0
    [ -s "$tmp/err" ] && ok=0
  else
    [ -s "$tmp/out" ] && ok=0
    [ "$(grep -c '' "$tmp/err")" -eq 1 ] || ok=0
    grep -qE -- "$pattern" "$tmp/err" || ok=0
  fi
  if [ $ok -eq 1 ]; then
    local cmd="$*"
    echo "ok: flinc ${cmd#"$flinc "} -> exit $rc: $(if [ "$rc" -eq 0 ]; then cat "$tmp/out"; else cat "$tmp/err"; fi)"
  else
    fail "$* -> exit $rc (want $want_rc, stdout '$want_out', stderr /$pattern/)"
    sed 's/^/    stdout: /' "$tmp/out"
    sed 's/^/    stderr: /' "$tmp/err"
  fi
}

conf=$tmp/flinc.conf
cat >"$conf" <<'EOF'
# a comment line
   # an indented comment
rest.port: 28081   # the REST port, then an inline comment
taskmanager.count: 3	# a tab before the comment
url.key: http://host/p#frag  # '#' without white space before it is kept
my.job.key: a b # a job's own key
empty.key:
twice.key: 1
twice.key: 2
EOF

echo "== values from the file, inline comments cut"
check 0 28081 '' -- "$flinc" config get rest.port --config "$conf"
check 0 3 '' -- "$flinc" config get taskmanager.count --config "$conf"
check 0 'http://host/p#frag' '' -- "$flinc" config get url.key --config "$conf"
check 0 'a b' '' -- "$flinc" config get my.job.key --config "$conf"
check 0 2 '' -- "$flinc" config get twice.key --config "$conf"
check 0 28081 '' -- "$flinc" config get rest.port --config="$conf"
check 0 28081 '' -- "$flinc" --config "$conf" config get rest.port
# An empty value is a value (an empty line on stdout, exit 0).
"$flinc" config get empty.key --config "$conf" >"$tmp/out" 2>"$tmp/err"
if [ $? -eq 0 ] && [ "$(od -An -c "$tmp/out" | tr -d ' ')" = '\n' ] && [ ! -s "$tmp/err" ]; then
  echo "ok: config get empty.key -> an empty line"
else
  fail "config get empty.key: want one empty line, exit 0"
fi

echo "== -D wins over the file; the last -D wins"
check 0 9000 '' -- "$flinc" config get rest.port --config "$conf" -D rest.port=9000
check 0 9001 '' -- "$flinc" config get -Drest.port=9001 --config "$conf" rest.port
check 0 9003 '' -- "$flinc" config get rest.port -D rest.port=9002 --config "$conf" -D rest.port=9003
check 0 'x = y' '' -- "$flinc" config get new.key --config "$conf" -D 'new.key = x = y'
check 0 9004 '' -- "$flinc" config get rest.port -D rest.port=9004

echo "== documented defaults when unset"
check 0 8081 '' -- "$flinc" config get rest.port
check 0 128 '' -- "$flinc" config get pipeline.max-parallelism --config "$conf"
check 0 1 '' -- "$flinc" config get taskmanager.count
check 0 hashmap '' -- "$flinc" config get state.backend

echo "== unset keys without a default: exit 1, one line"
check 1 '' 'config: foo\.bar is not set, and it is not a key flinc knows' -- "$flinc" config get foo.bar --config "$conf"
check 1 '' 'config: rest\.auth\.token is not set and has no fixed default' -- "$flinc" config get rest.auth.token
check 1 '' 'config: state\.checkpoints\.dir is not set.*no checkpoints' -- "$flinc" config get state.checkpoints.dir

echo "== files that do not load, usage errors: exit 2, one line"
check 2 '' "config $tmp/missing\\.conf: No such file or directory" -- "$flinc" config get rest.port --config "$tmp/missing.conf"
check 2 '' "config $tmp/missing\\.conf: No such file" -- "$flinc" config list --config "$tmp/missing.conf"
printf 'rest.port: 1\nno colon here\n' >"$tmp/bad.conf"
check 2 '' "bad\\.conf:2: expected 'key: value'" -- "$flinc" config get rest.port --config "$tmp/bad.conf"
check 2 '' "missing 'get KEY' or 'list'" -- "$flinc" config
check 2 '' "unknown subcommand 'set'" -- "$flinc" config set rest.port 1
check 2 '' 'config get: missing KEY' -- "$flinc" config get --config "$conf"
check 2 '' "unexpected argument 'b'" -- "$flinc" config get a b
check 2 '' "unexpected argument 'rest.port'" -- "$flinc" config list rest.port
check 2 '' "-D 'rest.port' is not key=value" -- "$flinc" config get rest.port -D rest.port
check 2 '' '-D needs key=value' -- "$flinc" config get rest.port -D
check 2 '' '--config needs a file' -- "$flinc" config get rest.port --config
check 2 '' "unknown option '--nope'" -- "$flinc" config get rest.port --nope

echo "== config list"
if "$flinc" config list --config "$conf" -D a.b=c -D rest.port=9005 >"$tmp/list" 2>"$tmp/err" && [ ! -s "$tmp/err" ]; then
  cut -d: -f1 "$tmp/list" | LC_ALL=C sort -c 2>/dev/null || fail "config list is not sorted by key"
  grep -vqE '^[^ :#]+: ' "$tmp/list" && fail "config list has a line that is not 'key: value': $(grep -vE '^[^ :#]+: ' "$tmp/list" | head -1)"
  for want in 'a.b: c' 'rest.port: 9005' 'taskmanager.count: 3' 'url.key: http://host/p#frag' \
    'empty.key: ' 'twice.key: 2' 'pipeline.max-parallelism: 128' 'jobmanager.rpc.port: 6123'; do
    grep -qxF -- "$want" "$tmp/list" || fail "config list lacks '$want'"
  done
  grep -q '^rest\.auth\.token:' "$tmp/list" && fail "config list shows rest.auth.token, which has no value"
  [ "$(cut -d: -f1 "$tmp/list" | sort | uniq -d)" = "" ] || fail "config list repeats a key"
  # Its output is a configuration file that loads to the same values.
  "$flinc" config list --config "$tmp/list" >"$tmp/list2" 2>&1
  cmp -s "$tmp/list" "$tmp/list2" || fail "config list, read back with --config, differs: $(diff "$tmp/list" "$tmp/list2" | head -3)"
  echo "ok: config list: $(wc -l <"$tmp/list") sorted 'key: value' lines, reloading it gives the same list"
else
  fail "config list exit/stderr: $(cat "$tmp/err")"
fi

echo "== the defaults flinc config prints are the documented ones"
# deploy/flinc.conf shows every key commented out with its default:
# '# key: value'. docs tables: | `key` | default | ... with a one-word default
# (not '(none)').
{
  sed -nE 's/^# ([a-zA-Z][a-zA-Z0-9_.-]*\.[a-zA-Z0-9_.-]+): ([^ ]+)$/\1 \2 deploy\/flinc.conf/p' "$src/deploy/flinc.conf"
  for doc in config.md checkpoints.md state.md; do
    sed -nE 's/^\| `([a-zA-Z][a-zA-Z0-9_.-]*)` \| `?([^ `|(]+)`? \|.*/\1 \2 docs\/'"$doc"'/p' "$src/docs/$doc"
  done
} >"$tmp/documented"
n=0
while read -r key value where; do
  got=$("$flinc" config get "$key" 2>&1)
  if [ "$got" != "$value" ]; then fail "$where says $key defaults to '$value'; flinc config get says '$got'"; fi
  n=$((n + 1))
done <"$tmp/documented"
if [ "$n" -lt 30 ]; then fail "only $n documented defaults found (the patterns no longer match the files?)"; fi
echo "ok: $n documented defaults agree with flinc config get"
# The shipped file changes nothing: every key in it is commented out.
if [ "$("$flinc" config list --config "$src/deploy/flinc.conf")" = "$("$flinc" config list)" ]; then
  echo "ok: config list --config deploy/flinc.conf = the defaults"
else
  fail "deploy/flinc.conf sets a key: $(diff <("$flinc" config list) <("$flinc" config list --config "$src/deploy/flinc.conf") | head -3)"
fi

echo "== start-cluster.sh reads the file through flinc config (inline comments)"
free_port() { python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
rest=$(free_port)
rpc=$(free_port)
while [ "$rpc" = "$rest" ]; do rpc=$(free_port); done
cat >"$tmp/cluster.conf" <<EOF
rest.port: $rest   # the REST port; start-cluster.sh polls it
jobmanager.rpc.port: $rpc	# task managers connect here
taskmanager.count: 2 # two task managers
EOF
export FLINC_LOG_DIR=$tmp/log FLINC_BIN_DIR=$build/bin FLINC_START_TIMEOUT=60
if "$src/deploy/start-cluster.sh" --config "$tmp/cluster.conf" >"$tmp/start.out" 2>&1; then
  if grep -qF "cluster up: job manager at http://127.0.0.1:$rest with 2 task manager(s)" "$tmp/start.out"; then
    echo "ok: start-cluster.sh: $(tail -1 "$tmp/start.out")"
  else
    fail "start-cluster.sh said: $(tail -1 "$tmp/start.out")"
  fi
else
  fail "start-cluster.sh with inline comments failed:"
  sed 's/^/    /' "$tmp/start.out"
fi
if "$src/deploy/stop-cluster.sh" >"$tmp/stop.out" 2>&1 && grep -q 'stopped 3 daemon(s)' "$tmp/stop.out"; then
  echo "ok: stop-cluster.sh: $(tail -1 "$tmp/stop.out")"
else
  fail "stop-cluster.sh: $(cat "$tmp/stop.out")"
fi
# A bad -D is refused before anything starts.
"$src/deploy/start-cluster.sh" --config "$tmp/cluster.conf" -D rest.port >"$tmp/start.out" 2>&1
rc=$?
if [ $rc -eq 0 ]; then
  fail "start-cluster.sh -D rest.port started"
  "$src/deploy/stop-cluster.sh" >/dev/null 2>&1
elif [ $rc -eq 2 ] && grep -q "^start-cluster.sh: config: -D 'rest.port' is not key=value$" "$tmp/start.out"; then
  echo "ok: start-cluster.sh -D rest.port -> exit 2: $(cat "$tmp/start.out")"
else
  fail "start-cluster.sh -D rest.port: $(cat "$tmp/start.out")"
fi

if [ "$fails" -gt 0 ]; then
  echo "$fails check(s) failed"
  exit 1
fi
echo "all checks passed"
