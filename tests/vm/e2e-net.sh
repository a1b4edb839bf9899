#!/bin/bash
# tests/vm/e2e-net.sh - a dump over the network, end to end under QEMU (TCG):
# a Debian kernel panics, our agent (in an image made by `salvage mkinitramfs
# --target net:10.0.2.100:7440 --key --receiver-key`, armed by `salvage arm`)
# loads virtio_net through its modalias, gets an address from QEMU's DHCP
# server with its own client, and sends the dump to `salvage receive` on the
# host's 127.0.0.1.  QEMU's user network is restricted (restrict=on): the
# guest reaches only the one guestfwd rule to the receiver's loopback port,
# and no packet leaves the host (restricted, QEMU's DHCP server names no router).
#
# usage: e2e-net.sh [options] BUILD
#   BUILD            build directory with salvage and salvage-capture
#   --agent PATH     agent binary (default BUILD/salvage-capture)
#   --kver KVER      kernel ABI version (default: resolved; env SALVAGE_KVER)
#   --flavour F      kernel flavour (default cloud-amd64)
#   --out DIR        keep the console log, the receiver's log and the dumps in DIR
#   --timeout S      bound for the QEMU run (default 600)
#
# After the agent, the crash kernel's wrapper copies /proc/vmcore raw to a
# virtio disk, so the host can make a local capture of the same vmcore with
# the same options: the received dump must equal it byte for byte, and
# `salvage dmesg` on it must show the panic.
set -euo pipefail

. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/e2e-lib.sh"

e2e_args "$@"
e2e_start net qemu-system-x86_64 apt-cache timeout truncate "$SV_PYTHON"

sv_use_kernel "$flavour"

# 1. keys and the receiver, on 127.0.0.1 only
"$build/salvage" keygen -o "$work/rx" --label receiver >/dev/null
"$build/salvage" keygen -o "$work/agent" --label e2e-guest >/dev/null
cp "$work/agent.pub" "$work/authorized"
rm -rf "${out:?}/received"
mkdir -p "$out/received"
"$build/salvage" receive --listen 127.0.0.1:0 --port-file "$work/rx.port" --dir "$out/received" \
	--key "$work/rx" --authorized-keys "$work/authorized" --min-free 64M --timeout 900 \
	2>"$out/receive.log" &
rxpid=$!
E2E_NET_RXPID=$rxpid
stop_rx() { kill "$E2E_NET_RXPID" 2>/dev/null || true; }
T_EXIT_HOOK_PREV=$T_EXIT_HOOK
T_EXIT_HOOK=e2e_net_exit
e2e_net_exit() { stop_rx; $T_EXIT_HOOK_PREV; }
for _ in $(seq 100); do [ -s "$work/rx.port" ] && break; sleep 0.1; done
[ -s "$work/rx.port" ] || sv_die "salvage receive did not start: $(cat "$out/receive.log")"
port=$(cat "$work/rx.port")

# 2. the crash initramfs: ours, then a wrapper (busybox) that runs the agent
# and copies /proc/vmcore raw to /dev/vda for the host's comparison
"$build/salvage" mkinitramfs -o "$work/crash-agent.img" --kver "$kver" --moddir "$SV_KROOT" \
	--target net:10.0.2.100:7440 --key "$work/agent" --receiver-key "$work/rx.pub" \
	--agent "$agent" --timeout 400 --set net_wait=60 | sed 's/^/[vm]   /' >&2
sv_stage crash-wrap
cp "$agent" "$SV_STAGE/bin/salvage-capture"
sv_write_init "$SV_STAGE" <<'EOF'
# salvage e2e-net crash kernel: the agent, then a raw copy of /proc/vmcore.
say "crash kernel $(uname -r) up $(up)s"
/bin/salvage-capture --init --set action=exit --set failure_action=exit
say "agent rc=$? at $(up)s"
i=0
while [ ! -b /dev/vda ] && [ $i -lt 300 ]; do sleep 0.1; i=$((i + 1)); done
dd if=/proc/vmcore of=/dev/vda bs=4M oflag=direct 2>/tmp/dd.err || dd if=/proc/vmcore of=/dev/vda bs=1M 2>/tmp/dd.err
rc=$?
sync
say "capture done rc=$rc at $(up)s"
poweroff -f
sleep 5
EOF
sv_pack "$SV_STAGE" "$work/crash-wrap.img"
# the kernel finds a second archive only at a 4-byte boundary: zero padding
truncate -s %512 "$work/crash-agent.img"
cat "$work/crash-agent.img" "$work/crash-wrap.img" >"$work/crash.img"
e2e_build_first_initramfs "$SV_VMLINUZ" "$work/crash.img" "$build/salvage" "" "$work/first.img"

# 3. QEMU: restricted user network, one forward to the receiver
mem=768
truncate -s $((mem + 64))M "$work/disk.img"
sv_log "qemu: boot, salvage arm, sysrq crash, agent over the network (timeout ${timeout_s}s)"
t0=$(sv_now)
qrc=0
timeout -k 10 "$timeout_s" qemu-system-x86_64 -accel tcg -cpu max -m "$mem" -smp 1 \
	-nographic -no-reboot \
	-netdev "user,id=n0,restrict=on,guestfwd=tcp:10.0.2.100:7440-tcp:127.0.0.1:$port" \
	-device virtio-net-pci,netdev=n0 \
	-kernel "$SV_VMLINUZ" -initrd "$work/first.img" \
	-append "console=ttyS0 crashkernel=256M panic=1 quiet no_timer_check" \
	-drive "file=$work/disk.img,format=raw,if=virtio" \
	</dev/null >"$out/console.log" 2>"$out/console.log.stderr" || qrc=$?
t_qemu=$(sv_elapsed "$t0")
e2e_guest_lines "$out/console.log" | grep -v -e 'armed:' | sed 's/^/[vm]   guest: /' >&2
sv_log "qemu exited rc=$qrc after ${t_qemu} s"
sed 's/^/[vm]   receive: /' "$out/receive.log" >&2

# 4. checks
grep -aq 'SALVAGE: agent rc=0' "$out/console.log" ||
	{ e2e_show_failure "$out/console.log"; sv_die "the crash kernel's wrapper did not run the agent"; }
grep -aEq 'agent: net: eth[0-9]+ \([0-9a-f:]+\) 10\.0\.2\.15/24 by DHCP.*drivers: .*virtio_net' \
	"$out/console.log" || { e2e_show_failure "$out/console.log"; sv_die "the agent did not bring up virtio-net by DHCP"; }
t_ok "virtio_net by modalias, address by DHCP"
grep -aq 'agent: net: 10.0.2.100:7440: sent' "$out/console.log" ||
	{ e2e_show_failure "$out/console.log"; sv_die "the agent did not send the dump"; }
d=$(find "$out/received" -mindepth 1 -maxdepth 1 -name 'e2e-guest-*' | head -1)
[ -n "$d" ] && [ -f "$d/vmcore" ] && [ -f "$d/meta.json" ] && [ -f "$d/dmesg.txt" ] ||
	sv_die "nothing stored by the receiver: $(tail -3 "$out/receive.log")"
grep -q "receive #.* e2e-guest (.*): stored $out/received/e2e-guest-" "$out/receive.log" ||
	sv_die "no 'stored' line in the receiver's log"
t_ok "salvage receive stored $(basename "$d")"
grep -aq "$SV_CAPTURE_OK" "$out/console.log" || sv_die "the raw copy of /proc/vmcore failed"
extent=$(sv_elf_extent "$work/disk.img") || sv_die "no ELF core on the disk"
truncate -s "$extent" "$work/disk.img"
"$build/salvage-capture" --progress=off "$work/disk.img" "$work/local.kd" >"$work/local.log" 2>&1 ||
	sv_die "local capture failed: $(tail -2 "$work/local.log")"
cmp "$work/local.kd" "$d/vmcore" >&2 || sv_die "the received dump differs from a local capture of the same vmcore"
t_ok "received dump = local capture of the same vmcore ($(stat -c %s "$d/vmcore") bytes)"
"$build/salvage" dmesg "$d/vmcore" >"$out/dmesg.out" 2>&1 || sv_die "salvage dmesg cannot read the received dump"
for want in "$SV_MARKER" 'Kernel panic - not syncing: sysrq triggered crash'; do
	grep -q "$want" "$out/dmesg.out" || sv_die "salvage dmesg lacks '$want'"
	grep -q "$want" "$d/dmesg.txt" || sv_die "the received dmesg.txt lacks '$want'"
done
t_ok "salvage dmesg on the received dump shows the panic"
ok=1
sv_log "e2e-net OK: DHCP, virtio_net by modalias, dump received on 127.0.0.1 equal to a local capture; qemu ${t_qemu}s, total $(sv_elapsed "$t_all")s"
t_summary
