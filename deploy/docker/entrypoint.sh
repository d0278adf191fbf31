#!/bin/sh
# flinc-entrypoint - start a flinc daemon in a container (deploy/docker/Dockerfile).
#
#   flinc-entrypoint jobmanager [-D key=value]...
#   flinc-entrypoint taskmanager [-D key=value]...
#   flinc-entrypoint COMMAND [ARG]...     anything else runs as it is
#                                         (flinc, flinc-gen, sh, ...)
#
# The daemon replaces this script (exec): it is the child of tini (PID 1),
# which passes it the container's SIGTERM and reaps what it leaves behind;
# it logs to stderr, that is to `docker logs` / `kubectl logs`.
#
# Environment:
#   FLINC_CONF                 the configuration file (default /etc/flinc/flinc.conf)
#   FLINC_CLUSTER_SECRET_FILE  a mounted secret (a Kubernetes Secret, a compose
#                              secret). Mounted secrets are root's or readable by a
#                              group, and the daemons refuse a secret file that group
#                              or others may read (docs/security.md), so the file is
#                              copied to $FLINC_RUNTIME_DIR/cluster.secret, mode 0600,
#                              and given to the daemon as security.cluster.secret.
#   FLINC_RUNTIME_DIR          where that copy goes (default /run/flinc; mount a
#                              memory-backed volume there)
#   FLINC_BIN_DIR              where the daemons are (default /usr/local/bin)
set -eu

die() { echo "flinc-entrypoint: $*" >&2; exit 2; }

[ $# -gt 0 ] || die "usage: flinc-entrypoint jobmanager|taskmanager [-D key=value]... (or a command to run)"
case $1 in
  jobmanager|taskmanager) role=$1; shift ;;
  *) exec "$@" ;;
esac

conf=${FLINC_CONF:-/etc/flinc/flinc.conf}
[ -r "$conf" ] || die "cannot read the configuration file $conf (FLINC_CONF)"

if [ -n "${FLINC_CLUSTER_SECRET_FILE:-}" ]; then
  src=$FLINC_CLUSTER_SECRET_FILE
  [ -r "$src" ] || die "cannot read the secret file $src (FLINC_CLUSTER_SECRET_FILE) as uid $(id -u)"
  dir=${FLINC_RUNTIME_DIR:-/run/flinc}
  umask 077
  mkdir -p "$dir" || die "cannot create $dir (FLINC_RUNTIME_DIR)"
  cat "$src" >"$dir/cluster.secret.tmp" && chmod 600 "$dir/cluster.secret.tmp" &&
    mv -f "$dir/cluster.secret.tmp" "$dir/cluster.secret" ||
    die "cannot copy the secret file to $dir (FLINC_RUNTIME_DIR)"
  # -D wins over the file's value, wherever it stands.
  set -- "$@" -D "security.cluster.secret=file:$dir/cluster.secret"
fi

exec "${FLINC_BIN_DIR:-/usr/local/bin}/flinc-$role" --config "$conf" "$@"
