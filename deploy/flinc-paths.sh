# flinc-paths.sh - where the cluster scripts find the programs and keep their
# logs and pid files. Sourced (not run) by start-cluster.sh and
# stop-cluster.sh, after they set `here` to their own folder.
#
# Two layouts are known, so the same scripts work in both:
#   source tree  <top>/deploy/start-cluster.sh, programs in <top>/build/bin,
#                logs in <top>/log
#   installed    <prefix>/share/flinc/deploy/start-cluster.sh (cmake --install),
#                programs in <prefix>/bin, logs in
#                ${XDG_STATE_HOME:-~/.local/state}/flinc/log (a prefix such
#                as /usr/local is not writable by the user who starts the
#                cluster)
# Anything else (the scripts copied next to the programs): programs beside
# the script, logs in log/ one level up.
# $FLINC_BIN_DIR, $FLINC_LOG_DIR and $FLINC_PID_DIR win over all of these.

flinc_root=$(cd "$here/.." && pwd)
flinc_prefix=""
case $here in
  */share/flinc/deploy) flinc_prefix=${here%/share/flinc/deploy} ;;
esac

# flinc_find_bin: print the folder holding flinc, flinc-jobmanager and
# flinc-taskmanager ($FLINC_BIN_DIR, this script's folder, the installed
# prefix's bin/, the source tree's build/bin, then $PATH); fail when none does.
flinc_find_bin() {
  local d p
  for d in ${FLINC_BIN_DIR:+"$FLINC_BIN_DIR"} "$here" ${flinc_prefix:+"$flinc_prefix/bin"} \
           "$flinc_root/build/bin"; do
    if [ -x "$d/flinc" ] && [ -x "$d/flinc-jobmanager" ] && [ -x "$d/flinc-taskmanager" ]; then
      echo "$d"
      return 0
    fi
  done
  [ -z "${FLINC_BIN_DIR:-}" ] || return 1 # an explicit folder that lacks them is an error
  p=$(command -v flinc-jobmanager 2>/dev/null) || return 1
  d=$(dirname "$p")
  if [ -x "$d/flinc" ] && [ -x "$d/flinc-taskmanager" ]; then echo "$d"; return 0; fi
  return 1
}

# The log folder, and the pid folder (default: the log folder).
if [ -n "${FLINC_LOG_DIR:-}" ]; then
  flinc_logdir=$FLINC_LOG_DIR
elif [ -n "$flinc_prefix" ] && [ -n "${XDG_STATE_HOME:-${HOME:-}}" ]; then
  flinc_logdir=${XDG_STATE_HOME:-$HOME/.local/state}/flinc/log
else
  flinc_logdir=$flinc_root/log
fi
flinc_piddir=${FLINC_PID_DIR:-$flinc_logdir}
