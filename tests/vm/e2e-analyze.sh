#!/usr/bin/env bash
# The analyzer on the dump our agent captured in the QEMU end-to-end test
# (tests/vm/e2e-disk.sh --out DIR), against the reference tools:
#   - salvage dmesg equals makedumpfile --dump-dmesg line for line (on a zlib
#     copy: Debian's makedumpfile 1.7.2 cannot read the agent's zstd dump);
#   - bt, ps, sys, sym through tests/az-real.sh: bt without vmlinux vs the
#     kernel's own call trace and crash's bt, ps vs drgn, sys vs crash.
# The vmlinux is the one e2e-disk.sh fetched for its crash check.
#   tests/vm/e2e-analyze.sh BUILD OUTDIR
set -uo pipefail
. "$(dirname "$0")/../lib.sh"
t_init e2e-analyze "${1:?usage: e2e-analyze.sh BUILD OUTDIR}"
OUTDIR=${2:?usage: e2e-analyze.sh BUILD OUTDIR}
t_need_built "$BUILD/salvage" "$BUILD/salvage-capture"
t_need_makedumpfile
dump=$(find "$OUTDIR" -name vmcore | sort | tail -1)
[ -n "$dump" ] || { t_fail "e2e-analyze" "no dump under $OUTDIR (tests/vm/e2e-disk.sh --out $OUTDIR makes it)"; t_summary; }
rel=$("$BUILD/salvage" info --json "$dump" | "$PY" -c 'import json,sys; print(json.load(sys.stdin)["osrelease"])')
vmlinux=${SALVAGE_CACHE:-/var/cache/salvage}/kernels/$rel/vmlinux
[ -f "$vmlinux" ] || { t_fail "e2e-analyze" "no vmlinux for $rel at $vmlinux (e2e-disk.sh fetches it)"; t_summary; }
work=$T_OUT
rm -rf "${work:?}"/*
if ! "$BUILD/salvage-capture" --progress=off --message-level 4 -c -d 31 "$dump" "$work/zlib.kdump" >"$work/capture.log" 2>&1; then
	t_fail "salvage-capture -c -d 31" "$(tail -n 1 "$work/capture.log")"
elif ! "$MDF" --dump-dmesg "$work/zlib.kdump" "$work/mdf.dmesg" >"$work/mdf.log" 2>&1; then
	t_fail "makedumpfile --dump-dmesg" "$(grep -v '^$' "$work/mdf.log" | tail -n 1)"
elif ! "$BUILD/salvage" dmesg "$dump" >"$work/salvage.dmesg" 2>"$work/salvage.err"; then
	t_fail "salvage dmesg" "$(head -n 1 "$work/salvage.err")"
elif t_diff "salvage dmesg (makedumpfile --dump-dmesg)" "$work/mdf.dmesg" "$work/salvage.dmesg" 5; then
	t_ok "salvage dmesg = makedumpfile --dump-dmesg ($(wc -l <"$work/salvage.dmesg") lines)"
	echo "e2e-analyze: salvage dmesg = makedumpfile --dump-dmesg ($(wc -l <"$work/salvage.dmesg") lines)"
fi
# bt, ps, sys, sym: counted in az-real's own closing line (and tally), so
# only its exit status comes here
az=0
bash "$T_HERE/az-real.sh" "$BUILD" "$dump:$vmlinux" || az=1
(t_summary)
rc=$?
[ $az = 0 ] || { echo "e2e-analyze: az-real.sh failed (above)"; rc=1; }
exit $rc
