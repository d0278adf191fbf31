#!/usr/bin/env bash
# Installing works as documented: `cmake --install BUILD --prefix TMP` puts
# every program, the deploy scripts, the headers, flinc.pc (naming TMP) and
# the CMake package under TMP. A job plugin copied out of the tree (the
# wordcount job, renamed) builds against that install with
# `pkg-config --cflags flinc` and with find_package(flinc) +
# flinc::flinc_api, and against the build tree before any install
# (PKG_CONFIG_PATH=BUILD/pkgconfig, CMAKE_PREFIX_PATH=BUILD); the installed
# `flinc local` runs it, and the installed start-cluster.sh starts a cluster
# from the installed programs that runs it too.
#
#   install_sdk.sh BUILD_DIR SOURCE_DIR C_COMPILER CMAKE_GENERATOR
set -u
build=$(cd "$1" && pwd)
src=$(cd "$2" && pwd)
cc=$3
generator=$4
tmp=$(mktemp -d /tmp/flinc-install-test.XXXXXX)
prefix=$tmp/prefix
cleanup() {
  if [ -d "$tmp/log" ] && [ -x "$prefix/share/flinc/deploy/stop-cluster.sh" ]; then
    FLINC_LOG_DIR=$tmp/log "$prefix/share/flinc/deploy/stop-cluster.sh" >/dev/null 2>&1
  fi
  rm -rf "$tmp"
}
trap cleanup EXIT
fails=0
fail() {
  echo "FAIL: $*"
  fails=$((fails + 1))
}
ok() { echo "ok: $*"; }

# The input, and the output wordcount must give for it (word<TAB>count each
# time a count grows; the order across words depends on the parallelism).
printf 'The cat, the DOG.\nthe end\n' >"$tmp/in.txt"
printf 'cat\t1\ndog\t1\nend\t1\nthe\t1\nthe\t2\nthe\t3\n' >"$tmp/want.txt"

# The job's source, copied out of the tree and renamed so the runs below
# prove they loaded the plugin built here, not build/jobs/wordcount.so.
mkdir -p "$tmp/job"
sed 's/^FLINC_PLUGIN("wordcount",/FLINC_PLUGIN("wordcount-oot",/' "$src/jobs/wordcount/wordcount.c" >"$tmp/job/wordcount.c"
grep -q 'FLINC_PLUGIN("wordcount-oot"' "$tmp/job/wordcount.c" || { echo "FAIL: cannot rename the copied job"; exit 1; }
cat >"$tmp/job/CMakeLists.txt" <<'EOF'
cmake_minimum_required(VERSION 3.25)
project(wordcount_oot C)
find_package(flinc 0.1 REQUIRED)
add_library(wordcount_oot MODULE wordcount.c)
target_link_libraries(wordcount_oot PRIVATE flinc::flinc_api)
set_target_properties(wordcount_oot PROPERTIES PREFIX "" C_STANDARD 11)
target_compile_options(wordcount_oot PRIVATE -Wall -Wextra -Werror)
EOF

# run_local FLINC PLUGIN WHAT: run the plugin with that flinc on the input,
# output to stdout; compare with the expected counts and check the job that
# ran is the renamed copy.
run_local() {
  local flinc=$1 plugin=$2 what=$3
  if ! "$flinc" local -p 2 "$plugin" --input "$tmp/in.txt" --output - >"$tmp/out" 2>"$tmp/err"; then
    fail "$what: flinc local exited $?: $(tail -1 "$tmp/err")"
  elif ! grep -q "job 'wordcount-oot' FINISHED" "$tmp/err"; then
    fail "$what: not the plugin built here: $(tail -1 "$tmp/err")"
  elif ! LC_ALL=C sort "$tmp/out" | cmp -s - "$tmp/want.txt"; then
    fail "$what: wrong output:"
    sed 's/^/    /' "$tmp/out"
  else
    ok "$what: $(wc -l <"$tmp/out") counts as expected ($(grep -o "job 'wordcount-oot' FINISHED" "$tmp/err"))"
  fi
}

# build_pc PKG_CONFIG_PATH OUT.so WHAT: cc with pkg-config's flags only.
build_pc() {
  local pcpath=$1 out=$2 what=$3 cflags
  if ! cflags=$(PKG_CONFIG_PATH=$pcpath pkg-config --cflags flinc 2>"$tmp/err"); then
    fail "$what: pkg-config --cflags flinc: $(cat "$tmp/err")"
    return 1
  fi
  # shellcheck disable=SC2086 # the flags are words
  if ! "$cc" -std=c11 -O2 -Wall -Wextra -Werror -fPIC -shared $cflags "$tmp/job/wordcount.c" -o "$out" \
       >"$tmp/err" 2>&1; then
    fail "$what: cc $cflags failed:"
    sed 's/^/    /' "$tmp/err"
    return 1
  fi
  ok "$what: cc \$(pkg-config --cflags flinc) = $cflags"
}

# build_cmake PREFIX_PATH BUILD_DIR WANT_FLINC_DIR WHAT: the CMake project
# above with CMAKE_PREFIX_PATH, which must find flinc in WANT_FLINC_DIR.
build_cmake() {
  local pp=$1 bdir=$2 want=$3 what=$4 got
  if ! cmake -S "$tmp/job" -B "$bdir" -G "$generator" -DCMAKE_C_COMPILER="$cc" -DCMAKE_PREFIX_PATH="$pp" \
       -DCMAKE_FIND_USE_PACKAGE_REGISTRY=OFF >"$tmp/err" 2>&1 ||
     ! cmake --build "$bdir" >>"$tmp/err" 2>&1; then
    fail "$what: the CMake project does not build:"
    tail -20 "$tmp/err" | sed 's/^/    /'
    return 1
  fi
  got=$(sed -n 's/^flinc_DIR:[A-Z]*=//p' "$bdir/CMakeCache.txt")
  if [ "$(cd "$got" && pwd)" != "$(cd "$want" && pwd)" ]; then
    fail "$what: find_package(flinc) found $got, not $want"
    return 1
  fi
  ok "$what: find_package(flinc) -> flinc_DIR=$got"
}

echo "== cmake --install $build --prefix $prefix"
if ! cmake --install "$build" --prefix "$prefix" >"$tmp/install.log" 2>&1; then
  echo "FAIL: cmake --install:"
  cat "$tmp/install.log"
  exit 1
fi
for f in bin/flinc bin/flinc-jobmanager bin/flinc-taskmanager bin/flinc-gen \
         share/flinc/deploy/start-cluster.sh share/flinc/deploy/stop-cluster.sh; do
  [ -x "$prefix/$f" ] || fail "not installed (or not executable): $f"
done
for f in share/flinc/deploy/flinc.conf share/flinc/deploy/flinc-paths.sh include/flinc/flinc.h \
         include/flinc/codec.h lib/pkgconfig/flinc.pc lib/cmake/flinc/flincConfig.cmake \
         lib/cmake/flinc/flincConfigVersion.cmake lib/flinc/jobs/wordcount.so; do
  [ -f "$prefix/$f" ] || fail "not installed: $f"
done
ok "installed: $(cd "$prefix" && find . -type f | sort | tr '\n' ' ')"
"$prefix/bin/flinc-gen" nexmark --events 10 --seed 1 --output - >"$tmp/gen.out" 2>&1 && [ -s "$tmp/gen.out" ] ||
  fail "installed flinc-gen does not run: $(head -1 "$tmp/gen.out")"

echo "== flinc.pc names the prefix installed to"
pc_prefix=$(PKG_CONFIG_PATH=$prefix/lib/pkgconfig pkg-config --variable=prefix flinc)
if [ "$pc_prefix" = "$prefix" ]; then ok "pkg-config --variable=prefix flinc = $pc_prefix"; else
  fail "installed flinc.pc: prefix '$pc_prefix', want $prefix"; fi
pc_bindir=$(PKG_CONFIG_PATH=$prefix/lib/pkgconfig pkg-config --variable=bindir flinc)
[ "$pc_bindir" = "$prefix/bin" ] || fail "installed flinc.pc: bindir '$pc_bindir', want $prefix/bin"

echo "== a plugin built against the install"
if build_pc "$prefix/lib/pkgconfig" "$tmp/wc-pc.so" "pkg-config (installed)"; then
  grep -q -- "-I$prefix/include" <<<"$(PKG_CONFIG_PATH=$prefix/lib/pkgconfig pkg-config --cflags flinc)" ||
    fail "installed flinc.pc does not point at $prefix/include"
  run_local "$prefix/bin/flinc" "$tmp/wc-pc.so" "installed flinc local, pkg-config plugin"
fi
if build_cmake "$prefix" "$tmp/cm-installed" "$prefix/lib/cmake/flinc" "find_package (installed)"; then
  run_local "$prefix/bin/flinc" "$tmp/cm-installed/wordcount_oot.so" "installed flinc local, CMake plugin"
fi

echo "== a plugin built against the build tree, before installing"
if build_pc "$build/pkgconfig" "$tmp/wc-tree.so" "pkg-config (PKG_CONFIG_PATH=build/pkgconfig)"; then
  grep -q -- "-I$src/runtime/include" <<<"$(PKG_CONFIG_PATH=$build/pkgconfig pkg-config --cflags flinc)" ||
    fail "build/pkgconfig/flinc.pc does not point at $src/runtime/include"
  run_local "$build/bin/flinc" "$tmp/wc-tree.so" "build-tree flinc local, pkg-config plugin"
fi
if build_cmake "$build" "$tmp/cm-tree" "$build" "find_package (CMAKE_PREFIX_PATH=build)"; then
  run_local "$build/bin/flinc" "$tmp/cm-tree/wordcount_oot.so" "build-tree flinc local, CMake plugin"
fi

echo "== the installed cluster scripts (a configuration with inline comments)"
free_port() { python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
rest=$(free_port)
rpc=$(free_port)
while [ "$rpc" = "$rest" ]; do rpc=$(free_port); done
cat >"$tmp/cluster.conf" <<EOF
rest.port: $rest   # REST
jobmanager.rpc.port: $rpc # RPC
taskmanager.numberOfTaskSlots: 2   # slots
EOF
# No FLINC_BIN_DIR, and a PATH without any flinc: the script must find the
# programs relative to itself.
if env -u FLINC_BIN_DIR PATH=/usr/bin:/bin FLINC_LOG_DIR="$tmp/log" FLINC_START_TIMEOUT=60 \
     "$prefix/share/flinc/deploy/start-cluster.sh" --config "$tmp/cluster.conf" >"$tmp/start.out" 2>&1; then
  ok "installed start-cluster.sh: $(tail -1 "$tmp/start.out")"
  jm_exe=$(readlink "/proc/$(cat "$tmp/log/flinc-jobmanager.pid")/exe")
  tm_exe=$(readlink "/proc/$(cat "$tmp/log/flinc-taskmanager-0.pid")/exe")
  if [ "$jm_exe" = "$prefix/bin/flinc-jobmanager" ] && [ "$tm_exe" = "$prefix/bin/flinc-taskmanager" ]; then
    ok "the daemons are the installed programs ($jm_exe, $tm_exe)"
  else
    fail "the daemons run $jm_exe and $tm_exe, not the programs in $prefix/bin"
  fi
  if "$prefix/bin/flinc" -m "127.0.0.1:$rest" run -p 2 "$tmp/wc-pc.so" --input "$tmp/in.txt" \
       --output "$tmp/out-cluster" >"$tmp/run.out" 2>&1; then
    if find "$tmp/out-cluster" -maxdepth 1 -type f ! -name '.*' -exec cat {} + | LC_ALL=C sort |
       cmp -s - "$tmp/want.txt"; then
      ok "installed cluster ran the installed-SDK plugin: $(grep -o 'job [0-9a-f]* (wordcount-oot) FINISHED' "$tmp/run.out")"
    else
      fail "cluster run: wrong output in $tmp/out-cluster"
    fi
  else
    fail "flinc run on the installed cluster: $(tail -3 "$tmp/run.out")"
  fi
  if FLINC_LOG_DIR=$tmp/log "$prefix/share/flinc/deploy/stop-cluster.sh" >"$tmp/stop.out" 2>&1; then
    ok "installed stop-cluster.sh: $(tail -1 "$tmp/stop.out")"
  else
    fail "installed stop-cluster.sh: $(cat "$tmp/stop.out")"
  fi
else
  fail "installed start-cluster.sh:"
  sed 's/^/    /' "$tmp/start.out"
fi

if [ "$fails" -gt 0 ]; then
  echo "$fails check(s) failed"
  exit 1
fi
echo "all checks passed"
