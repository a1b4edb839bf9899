# shellcheck shell=bash
# tests/interop/lib.sh - sourced by the interop scripts that need makedumpfile.
#
# interop_makedumpfile NAME -> sets mdf to $MAKEDUMPFILE, else to makedumpfile
# found on PATH or in the sbin directories; when there is none, says "NAME:
# skipped: makedumpfile not installed" and exits 77.
interop_makedumpfile() {
    mdf=${MAKEDUMPFILE:-}
    if [ -z "$mdf" ]; then
        mdf=$(PATH=/usr/sbin:/usr/bin:/sbin:/bin:$PATH command -v makedumpfile || true)
    fi
    if [ -z "$mdf" ] || [ ! -x "$mdf" ]; then
        echo "$1: skipped: makedumpfile not installed" >&2
        exit 77
    fi
}
