#!/usr/bin/env bash
# The agent's configuration, checked from both sides of the image:
#   - every key with each class of invalid value (out of range, not a
#     number, octal or hex spelling, too long, control character, unknown
#     word): `salvage mkinitramfs` refuses it with the very message the
#     agent's own parser gives (salvage-capture --init --print-config);
#   - valid values: mkinitramfs writes them, `--check-config IMAGE` prints
#     what the agent's parser prints for the image's etc/salvage.conf, taken
#     out by tests/tools/cpiols.py (not by our code);
#   - issue 11 finding 7 (timeout, threads, memory, a long comment line with
#     a hostname= tail, level=010, wait=08), finding 1 (-o on a fifo, a
#     symlink, a directory, a device node as root: refused, untouched) and
#     finding 9 (an old dump nested deep is pruned whole), and finding 7's
#     log part (no printk symbols: the reason logged, no empty dmesg.txt).
#   config-test.sh [BUILD]
set -uo pipefail
. "$(dirname "$0")/lib.sh"
t_init config-test "${1:-}"
OUT=$T_OUT
KVER=9.9.9-cfg
AGENT=$BUILD/salvage-capture
rm -rf "${OUT:?}"/*

# a module tree and a stand-in /init (as in kmod-test.sh: an ELF header
# without program headers passes for a static program)
M=$OUT/root/lib/modules/$KVER
mkdir -p "$M/kernel"
for m in virtio_blk ext4; do echo "module $m" >"$M/kernel/$m.ko"; done
printf 'kernel/virtio_blk.ko:\nkernel/ext4.ko:\n' >"$M/modules.dep"
: >"$M/modules.builtin"
"$PY" -c 'import struct, sys
sys.stdout.buffer.write(b"\x7fELF\x02\x01\x01" + bytes(9) +
    struct.pack("<HHIQQQIHHHHHH", 2, 62, 1, 0, 64, 0, 0, 64, 56, 0, 64, 0, 0))' >"$OUT/init"

mk() {   # mk OUTPUT [args...]: mkinitramfs on the tree
	local o=$1
	shift
	"$BUILD/salvage" mkinitramfs -q -o "$o" --agent "$OUT/init" --kver "$KVER" \
		--moddir "$OUT/root" --modules virtio_blk --fs ext4 "$@"
}

# the agent's parser on a file: its refusals ("error: FILE line N: WHY")
# and the configuration it would run with
agent_conf() {
	"$AGENT" --init --config "$1" --cmdline /dev/null --print-config
}

# ---- each key, each class of invalid value ---------------------------------
long() { head -c "$1" /dev/zero | tr '\0' "${2:-a}"; }
TAB=$(printf 'a\tb')
cases=(
	"level=32" "level=-1" "level=abc" "level=0x1f" "level=1e3" "level=3x"
	"xen_domu=5" "xen_domu=2" "xen_domu=yes"
	"xen_domains=0" "xen_domains=3," "xen_domains=a" "xen_domains=32752" "xen_domains=,3" "xen_domains=1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16,17"
	"codec_level=23" "codec_level=-131073" "codec_level=1.5" "codec_level=+3" "codec_level=0x3"
	"keep=100001" "keep=-3" "keep=1k"
	"minfree=1025T" "minfree=4X" "minfree=0x10" "minfree=99999999999999999999"
	"timeout=4294967295" "timeout=9" "timeout=604801" "timeout=1h" "timeout=0x100"
	"wait=3601" "wait=ten" "wait=0x8"
	"progress=3601" "progress=-1"
	"threads=2000" "threads=257" "threads=0x10"
	"memory=16T" "memory=5G" "memory=4X" "memory=0x10"
	"fail_after=2000000T" "fail_after=1Z"
	"format=raw" "format=ELF"
	"codec=gzip" "codec="
	"action=halt" "failure_action=Reboot"
	"target=dir:/$(long 520)" "target=nfs:host:/x" "target=disk:FOO=bar" "target=dir:rel"
	"target=disk:LABEL=x:/a/../b" "target=disk:/dev/$(long 130)" "target=disk:" "fstype=$(long 32)" "modules=$(long 2048 m)"
	"hostname=$(long 80 h)" "hostname=$(long 65 h)" "hostname=$TAB"
	"vmcore=/$(long 256)" "shell=/$(long 256)" "kver=$(long 65 k)"
	"nosuchkey=1"
)
n=0
for kv in "${cases[@]}"; do
	n=$((n + 1))
	key=${kv%%=*}
	printf '%s\n' "$kv" >"$OUT/bad.conf"
	amsg=$(agent_conf "$OUT/bad.conf" | sed -n 's/^error: [^ ]* line 1: //p')
	if [ -z "$amsg" ]; then
		t_fail "invalid $key #$n" "the agent accepts '${kv:0:60}'"
		continue
	fi
	rm -f "$OUT/bad.img"
	mk "$OUT/bad.img" --target dir:/var/crash --set "$kv" 2>"$OUT/bad.err" >/dev/null
	rc=$?
	mmsg=$(sed -n 's/^salvage mkinitramfs: //p' "$OUT/bad.err" | head -1)
	if [ $rc -eq 0 ] || [ -e "$OUT/bad.img" ]; then
		t_fail "invalid $key #$n" "mkinitramfs accepts '${kv:0:60}' (the agent: $amsg)"
	elif [ "$key" = nosuchkey ]; then
		# the agent's file says "unknown key"; mkinitramfs points to the list
		case $mmsg in *"unknown key"*) t_ok "unknown key" ;;
		*) t_fail "unknown key" "mkinitramfs: $mmsg" ;; esac
	elif [ "$amsg" != "$mmsg" ]; then
		t_fail "invalid $key #$n" "messages differ: agent '$amsg', mkinitramfs '$mmsg'"
	else
		t_ok "invalid $key #$n"
	fi
done
# the option spellings go through the same check
mk "$OUT/bad.img" --target dir:/var/crash --hostname "$(long 80 h)" 2>"$OUT/bad.err" &&
	t_fail "--hostname 80 characters" "accepted" ||
	t_check "--hostname 80 characters: the agent's message" \
		grep -q "hostname: value longer than 64 bytes" "$OUT/bad.err"
mk "$OUT/bad.img" --target dir:/var/crash --level 010 --timeout 4294967295 2>"$OUT/bad.err" &&
	t_fail "--timeout 4294967295" "accepted" ||
	t_check "--timeout 4294967295: refused" grep -q "timeout: '4294967295' is not in" "$OUT/bad.err"

# ---- valid values: the image says what the agent will run with ---------------
good=(--target "disk:LABEL=crash dump:/var/crash" --level 010 --wait 08 --timeout 600
	--codec lzo --format elf --action poweroff --failure-action shell --keep 3
	--minfree 1048576 --hostname " web 1 " --set memory=64M --set threads=4
	--set codec_level=-5 --set xen_domu=1 --set xen_domains=3,12 --set progress=0 --set fstype=xfs
	--set 'shell=/bin/"sh"')
if mk "$OUT/good.img" "${good[@]}" --compress none 2>"$OUT/good.err" &&
	mk "$OUT/good-zstd.img" "${good[@]}" 2>>"$OUT/good.err"; then
	t_ok "mkinitramfs with valid values"
	rm -rf "$OUT/x"
	"$PY" "$T_HERE/tools/cpiols.py" "$OUT/good.img" "$OUT/x" >/dev/null
	agent_conf "$OUT/x/etc/salvage.conf" >"$OUT/good.agent"
	for img in good.img good-zstd.img; do
		"$BUILD/salvage" mkinitramfs --check-config "$OUT/$img" >"$OUT/$img.check" 2>&1
		t_check "--check-config $img equals the agent's parser" \
			diff -u "$OUT/good.agent" "$OUT/$img.check"
	done
	for want in level=10 wait=8 timeout=600 codec=lzo format=elf action=poweroff \
		failure_action=shell keep=3 minfree=1M "hostname= web 1 " memory=64M \
		threads=4 codec_level=-5 xen_domu=1 xen_domains=3,12 progress=0 fstype=xfs 'shell=/bin/"sh"' \
		"target=disk:LABEL=crash dump:/var/crash" "kver=$KVER" modules=virtio_blk; do
		grep -qxF -- "$want" "$OUT/good.agent" && t_ok "agent reads $want" ||
			t_fail "agent reads $want" "$(grep -F "${want%%=*}=" "$OUT/good.agent")"
	done
	grep -q '^error' "$OUT/good.agent" && t_fail "valid image" "agent refuses: $(grep '^error' "$OUT/good.agent")"
else
	t_fail "mkinitramfs with valid values" "$(head -3 "$OUT/good.err")"
fi
printf '\x00\x00' | "$BUILD/salvage" mkinitramfs --check-config /dev/stdin >/dev/null 2>&1 &&
	t_fail "--check-config on garbage" "accepted" || t_ok "--check-config on garbage"

# ---- finding 7: the agent's limits -------------------------------------------
{
	echo "timeout=4294967295"
	echo "threads=2000"
	echo "memory=16T"
	echo "level=010"
	echo "wait=08"
	printf '# %s' "$(long 5000 x)"; echo "hostname=from-a-comment-tail"
	printf 'fstype=%s' "$(long 5000 x)"; echo "kver=from-a-line-tail"
} >"$OUT/f7.conf"
agent_conf "$OUT/f7.conf" >"$OUT/f7.out"
for want in timeout=3600 threads=0 memory=0 level=10 wait=8 hostname= fstype= kver=; do
	grep -qxF "$want" "$OUT/f7.out" && t_ok "finding 7: $want" ||
		t_fail "finding 7: $want" "$(grep -F "${want%%=*}=" "$OUT/f7.out")"
done
for msg in "timeout: '4294967295' is not in" "threads: '2000' is not in 0..256" \
	"memory: '16T' is not in" "line 7: longer than"; do
	grep -qF "$msg" "$OUT/f7.out" && t_ok "finding 7: refused: $msg" ||
		t_fail "finding 7: refused: $msg" "not in the agent's output"
done
grep -q "line 6" "$OUT/f7.out" && t_fail "finding 7: long comment" "reported as an error" ||
	t_ok "finding 7: a long comment is a comment"
# the command line: a word over the limit is refused whole
printf 'salvage.hostname=%s salvage.level=3\n' "$(long 5000 h)" >"$OUT/f7.cmdline"
"$AGENT" --init --config /dev/null --cmdline "$OUT/f7.cmdline" --print-config >"$OUT/f7c.out" 2>&1
grep -qx "hostname=" "$OUT/f7c.out" && grep -qx "level=3" "$OUT/f7c.out" &&
	t_ok "finding 7: long command-line word refused whole" ||
	t_fail "finding 7: long command-line word" "$(grep -E '^(hostname|level)=' "$OUT/f7c.out" | cut -c1-80)"

# ---- finding 1: -o never replaces what is not a regular file --------------------
mkfifo "$OUT/fifo"
t_timeout 20 "$BUILD/salvage" mkinitramfs -q -o "$OUT/fifo" --target dir:/var/crash \
	--agent "$OUT/init" --kver "$KVER" --moddir "$OUT/root" --modules virtio_blk --fs ext4 \
	2>"$OUT/f1.err" && t_fail "finding 1: fifo" "accepted" ||
	{ [ -p "$OUT/fifo" ] && t_ok "finding 1: fifo refused, still a fifo" ||
		t_fail "finding 1: fifo" "replaced"; }
echo precious >"$OUT/victim"
ln -s victim "$OUT/link"
mk "$OUT/link" --target dir:/var/crash 2>"$OUT/f1.err" && t_fail "finding 1: symlink" "accepted" ||
	{ [ -L "$OUT/link" ] && [ "$(cat "$OUT/victim")" = precious ] &&
		t_ok "finding 1: symlink refused, target untouched" ||
		t_fail "finding 1: symlink" "replaced or followed"; }
ln -s nowhere "$OUT/dangling"
mk "$OUT/dangling" --target dir:/var/crash 2>"$OUT/f1.err" &&
	t_fail "finding 1: dangling symlink" "accepted" ||
	{ [ -L "$OUT/dangling" ] && [ ! -e "$OUT/nowhere" ] &&
		t_ok "finding 1: dangling symlink refused, nothing created" ||
		t_fail "finding 1: dangling symlink" "replaced or followed"; }
mkdir -p "$OUT/adir"
mk "$OUT/adir" --target dir:/var/crash 2>"$OUT/f1.err" && t_fail "finding 1: directory" "accepted" ||
	t_ok "finding 1: directory refused"
echo old >"$OUT/regular"
mk "$OUT/regular" --target dir:/var/crash 2>"$OUT/f1.err" && [ "$(head -c 6 "$OUT/regular")" != old ] &&
	t_ok "finding 1: a regular file is replaced" ||
	t_fail "finding 1: regular file" "$(cat "$OUT/f1.err")"
ls -a "$OUT" | grep -q '^\.regular\.' && t_fail "finding 1: temporary" "left behind" ||
	t_ok "finding 1: no temporary left"
# a device node: our own copy of /dev/null (c 1 3), never the real one, which
# a build with the bug would replace for every process on the machine
if [ "$(id -u)" = 0 ] && mknod "$OUT/null" c 1 3 2>/dev/null; then
	mk "$OUT/null" --target dir:/var/crash 2>"$OUT/f1.err" && t_fail "finding 1: device node" "accepted" ||
		{ [ -c "$OUT/null" ] && t_ok "finding 1: device node refused, still a char device" ||
			t_fail "finding 1: device node" "replaced by a regular file"; }
	rm -f "$OUT/null"
else
	t_skip_ok "finding 1: device node" "cannot create one here (not root)"
fi

# ---- finding 9: an old dump nested deep is pruned whole ---------------------------
DUMP=$OUT/src.dump
if "$PY" "$T_HERE/tools/mkdump.py" "$T_HERE/fixtures/elf-linux.desc" "$DUMP" >"$OUT/gen.log" 2>&1; then
	D=$OUT/target
	old=$D/host-20200101T000000Z
	mkdir -p "$old/a/b/c/d/e/f/g/h/i/j" "$old/a/b2"
	echo x >"$old/a/b/c/d/e/f/g/h/i/j/deep"
	echo y >"$old/vmcore"
	echo keep >"$OUT/outside"
	ln -s "$OUT/outside" "$old/a/b/c/d/e/link"
	ln -s "$OUT" "$old/a/b/c/d/e/f/dirlink"
	printf 'target=dir:%s\nvmcore=%s\naction=exit\nfailure_action=exit\nkeep=1\nprogress=0\n' \
		"$(cd "$D" && pwd)" "$DUMP" >"$OUT/f9.conf"
	t_timeout 120 "$AGENT" --init --config "$OUT/f9.conf" --cmdline /dev/null >"$OUT/f9.log" 2>&1
	rc=$?
	if [ ! -e "$old" ] && [ "$(cat "$OUT/outside" 2>/dev/null)" = keep ] && [ -f "$DUMP" ]; then
		t_ok "finding 9: nested dump pruned whole, symlinks not followed"
	else
		t_fail "finding 9: nested dump" "$(grep prune "$OUT/f9.log" | head -2)"
	fi
	[ $rc -eq 0 ] && ls "$D"/*/vmcore >/dev/null 2>&1 && t_ok "finding 9: the new dump is there" ||
		t_fail "finding 9: capture" "exit $rc: $(tail -2 "$OUT/f9.log")"
	# finding 7's log part: this source has no printk symbols; the agent says
	# so (not "Input/output error") and commits no empty dmesg.txt
	if grep -q 'dmesg: no printk ring buffer symbols' "$OUT/f9.log" &&
		! grep -q 'Input/output error' "$OUT/f9.log" && ! ls "$D"/*/dmesg.txt >/dev/null 2>&1 &&
		grep -q '"dmesg": {"file": null' "$D"/*/meta.json; then
		t_ok "finding 7: no log is said, not committed empty"
	else
		t_fail "finding 7: no log" "$(grep dmesg "$OUT/f9.log" | head -2 | tr '\n' ' ')"
	fi
else
	t_skip "finding 9" "generator failed: $(tail -1 "$OUT/gen.log")"
fi

# (the dependency direction is checked once, by scripts/check-layers.sh)

t_summary
