#!/usr/bin/env bash
# Install every Debian package flinc's build, demo and tests need, when missing.
# Safe to run again: it only calls apt-get when something is absent.
set -euo pipefail

pkgs=(
  build-essential cmake ninja-build pkg-config git python3 curl procps
  libnng-dev libmbedtls-dev openssl libprotobuf-c-dev protobuf-c-compiler
  librocksdb-dev libmsgpack-dev libjansson-dev libcmocka-dev librdkafka-dev
  libsimdjson-dev
  # XXH3, the key hash (state/fl_state.h)
  libxxhash-dev
  # the store sinks (docs/sinks.md): libpq for postgresql://, and the
  # servers their tests start on loopback (tests/integration/store_sinks.py)
  libpq-dev postgresql influxdb
  # checkpoints on S3 (base/store_s3.c): libcurl's AWS SigV4
  libcurl4-openssl-dev
  clang clang-format kcat
  chromium prometheus
  iproute2 nftables
  # the deploy checks (tests/deploy): python3-yaml parses the compose and
  # Kubernetes files; systemd-analyze (systemd) verifies the units
  python3-yaml systemd
)
# libmbedtls-dev: flinc's TLS engine for nng (runtime/src/tls.c; nng's own
# TLS is built on the same library); openssl: scripts/make-test-ca.sh makes
# the certificates of the TLS tests.
# iproute2 and nftables: the multi-host tests (tests/netns/) make hosts
# with ip netns and drop packets with nft. The web UI's build (npm ci && npm
# run build, run by CMake) and its browser test (playwright-core driving
# Debian's chromium); `promtool check metrics` (prometheus) checks
# GET /metrics. Debian's nodejs and npm only when no npm is on the PATH.
if ! command -v npm >/dev/null 2>&1; then pkgs+=(nodejs npm); fi
# Java for the test and benchmark peers (Apache Flink, Kafka), resolved by
# Maven from Maven Central: only when no JDK 17+ and Maven are on the PATH.
if ! command -v mvn >/dev/null 2>&1; then pkgs+=(maven); fi
if ! command -v javac >/dev/null 2>&1; then pkgs+=(openjdk-17-jdk-headless); fi

missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done

if [ ${#missing[@]} -gt 0 ]; then
  echo "install-deps: installing ${missing[*]}"
  SUDO=""
  [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  export DEBIAN_FRONTEND=noninteractive
  $SUDO apt-get update -qq
  $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
else
  echo "install-deps: all packages present"
fi

# libFuzzer and clang's sanitizer runtimes (scripts/fuzz.sh): Debian ships
# them apart from clang, in a package named after its major version.
if command -v clang >/dev/null 2>&1; then
  rt="libclang-rt-$(clang -dumpversion | cut -d. -f1)-dev"
  if ! dpkg-query -W -f='${Status}' "$rt" 2>/dev/null | grep -q 'install ok installed'; then
    SUDO=""
    [ "$(id -u)" -eq 0 ] || SUDO="sudo"
    export DEBIAN_FRONTEND=noninteractive
    $SUDO apt-get update -qq
    if apt-cache show "$rt" >/dev/null 2>&1; then
      echo "install-deps: installing $rt"
      $SUDO apt-get install -y -qq --no-install-recommends "$rt"
    else
      echo "install-deps: no package $rt: scripts/fuzz.sh will not link" >&2
    fi
  fi
fi

# The Apache Kafka broker of the connector tests (tests/peers/kafka/pom.xml):
# resolved by Maven once, its classpath cached in ~/.cache/flinc, so no test
# resolves at run time.
python3 "$(dirname "$0")/../tests/peers/kafka/broker.py" classpath >/dev/null
# s3proxy, the S3-compatible server of the checkpoint-on-S3 tests
# (tests/peers/s3proxy/pom.xml), the same way.
python3 "$(dirname "$0")/../tests/peers/s3proxy/s3proxy.py" classpath >/dev/null
