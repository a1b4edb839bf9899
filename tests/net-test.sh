#!/usr/bin/env bash
# Dumps over the network, on 127.0.0.1 only: salvage keygen, salvage receive
# and salvage-capture --target net: (tests/tools/net-relay.py cuts, delays,
# tampers with and records the TCP stream).  A transfer equals a local capture
# byte for byte; a transfer cut twice resumes and still does; refusals (an
# unknown key, a tampered byte, a replayed session, a 10 TB announcement above
# the agent's limit, garbage instead of a handshake) store nothing and log a
# clear line, while a slow agent's transfer and a silent connection go on.
# salvage-capture --target without OUTPUT streams as the agent does and its
# dump equals the local capture; sealed dumps are streamed (salvage-capture
# and the agent), larger than a 16 MiB window and cut twice, and unseal to
# the plain -F capture with at most the window unacknowledged.
set -uo pipefail
. "$(dirname "$0")/lib.sh"
t_init net "${1:-}"
SALVAGE=$BUILD/salvage
CAP=$BUILD/salvage-capture
RELAY=$T_HERE/tools/net-relay.py
t_need_built "$SALVAGE" "$CAP"
W=$(cd "$T_OUT" && pwd)
for m in "$W"/rxf*; do mountpoint -q "$m" 2>/dev/null && umount "$m"; done
rm -rf "${W:?}"/*
mkdir -p "$W/store"
PIDS=() MOUNTS=()
unmount_all() {
	local m
	for m in "${MOUNTS[@]}"; do umount "$m" 2>/dev/null; done
	MOUNTS=()
}
cleanup() {
	local p
	for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null; done
	wait 2>/dev/null
	unmount_all
}
trap cleanup EXIT

# wait_file FILE: up to 10 s for FILE to be non-empty
wait_file() {
	for _ in $(seq 100); do [ -s "$1" ] && return 0; sleep 0.1; done
	return 1
}
# a relay in the background; its port in RPORT
relay() { # name args...
	local name=$1
	shift
	rm -f "$W/$name.port"
	"$PY" "$RELAY" --to "$PORT" --port-file "$W/$name.port" --lifetime 120 "$@" \
		2>"$W/$name.log" &
	PIDS+=($!)
	wait_file "$W/$name.port" || { t_fail "$name relay" "did not start"; return 1; }
	RPORT=$(cat "$W/$name.port")
}
stored() { find "$W/store" -mindepth 1 -maxdepth 1 -type d ! -name .incoming | wc -l; }
incoming() { find "$W/store/.incoming" -mindepth 1 2>/dev/null | wc -l; }
send() { # tag port key dump [more options]: salvage-capture --send
	local tag=$1 port=$2 key=$3 dump=$4
	shift 4
	t_run "$tag" "$CAP" --send "$dump" --target "net:127.0.0.1:$port" --key "$W/$key" \
		--receiver-key "$W/rx.pub" "$@"
}

# ---- keys ----------------------------------------------------------------------
t_case keygen
for k in rx:rx agent:web1 agent2:db2 stranger:web1; do
	"$SALVAGE" keygen -o "$W/${k%%:*}" --label "${k#*:}" >/dev/null 2>"$W/keygen.err" ||
		t_fail keygen "$(cat "$W/keygen.err")"
done
[ "$(stat -c %a "$W/agent")" = 600 ] || t_fail keygen "private key mode $(stat -c %a "$W/agent")"
grep -Eq '^salvage-x25519 [A-Za-z0-9+/=]{44} web1$' "$W/agent.pub" && [ "$(wc -l <"$W/agent.pub")" = 1 ] ||
	t_fail keygen "agent.pub is not one line with the label: $(cat "$W/agent.pub")"
"$SALVAGE" keygen -o "$W/agent" --label web1 >/dev/null 2>&1 && t_fail keygen "overwrote a key"
"$SALVAGE" keygen -o "$W/bad" --label ../x >/dev/null 2>&1 && t_fail keygen "accepted label ../x"
t_case_end
t_case "net: targets in the configuration and mkinitramfs"
for bad in net:host:1 net:1.2.3.4:0 net:1.2.3.4 'net:1.2.3.4:80,,dir:/x'; do
	"$CAP" --init --set target="$bad" --print-config 2>&1 | grep -c "^target=$" >/dev/null ||
		t_fail "net targets" "target=$bad accepted"
done
"$CAP" --init --set target='net:10.0.2.100:7440,disk:LABEL=crash' --print-config 2>&1 |
	grep -q '^target=net:10.0.2.100:7440,disk:LABEL=crash$' || t_fail "net targets" "a net,disk list refused"
"$SALVAGE" mkinitramfs -o "$W/x.img" --target net:10.0.2.100:7440 >/dev/null 2>"$W/mk.err" &&
	t_fail "net targets" "mkinitramfs made an image without keys"
grep -q 'needs --key FILE and --receiver-key FILE' "$W/mk.err" || t_fail "net targets" "mkinitramfs: $(cat "$W/mk.err")"
t_case_end
{ echo "# test agents"; echo "$(cat "$W/agent.pub") limit=1G"; cat "$W/agent2.pub"; } >"$W/auth"

# ---- the receiver --------------------------------------------------------------
"$SALVAGE" receive --listen 127.0.0.1:0 --port-file "$W/rx.port" --dir "$W/store" \
	--key "$W/rx" --authorized-keys "$W/auth" --max-size 5T --min-free 1M --timeout 20 \
	2>"$W/rx.log" &
RXPID=$!
PIDS+=("$RXPID")
if ! wait_file "$W/rx.port"; then
	t_fail receiver "did not start: $(head -3 "$W/rx.log")"
	t_summary
fi
PORT=$(cat "$W/rx.port")

# ---- a transfer equals a local capture -----------------------------------------
t_mkdump mdf-linux "$T_FIX/mdf-linux.desc" "$W/src.core" || t_summary
t_case "transfer equals local capture"
t_run local "$CAP" --progress=off "$W/src.core" "$W/local.kd"
[ "$rc" = 0 ] || t_fail local "exit $rc: $(head -2 "$T_OUT/local.err")"
t_run sent "$CAP" --progress=off "$W/src.core" "$W/sent.kd" --target "net:127.0.0.1:$PORT" \
	--key "$W/agent" --receiver-key "$W/rx.pub"
d=$(find "$W/store" -mindepth 1 -maxdepth 1 -name 'web1-*' | head -1)
if [ "$rc" != 0 ] || [ -z "$d" ]; then
	t_fail "transfer" "exit $rc: $(tail -2 "$T_OUT/sent.err")"
else
	cmp -s "$W/local.kd" "$d/vmcore" || t_fail transfer "stored vmcore differs from the local capture"
	cmp -s "$W/local.kd.dmesg.txt" "$d/dmesg.txt" || t_fail transfer "dmesg.txt differs"
	grep -q '"status": "complete"' "$d/meta.json" || t_fail transfer "meta.json: $(head -c 200 "$d/meta.json")"
	[[ $(basename "$d") =~ ^web1-[0-9]{8}-[0-9]{6}$ ]] || t_fail transfer "directory name $(basename "$d")"
	[ "$(incoming)" = 0 ] || t_fail transfer "parts left in .incoming"
	"$SALVAGE" dmesg "$d/vmcore" >"$W/sent.dmesg" 2>&1 || t_fail transfer "salvage dmesg on the stored dump"
fi
grep -q "stored $W/store/web1-" "$W/rx.log" || t_fail transfer "no 'stored' line in the receiver's log"
if grep -qw aes /proc/cpuinfo && grep -qw pclmulqdq /proc/cpuinfo; then
	grep -q "new transfer: .*records AES-256-GCM$" "$W/rx.log" ||
		t_fail transfer "AES-NI on both sides but the records were not AES-256-GCM"
fi
t_case_end

t_case "XChaCha20-Poly1305 records (an agent without AES-NI) equal local capture"
n0=$(stored)
SALVAGE_NET_CIPHER=xchacha send xchacha "$PORT" agent "$W/local.kd"
d=$(grep -o "stored $W/store/web1-[^:]*" "$W/rx.log" | tail -1 | sed 's/^stored //')
if [ "$rc" != 0 ] || [ "$(stored)" != $((n0 + 1)) ] || [ -z "$d" ]; then
	t_fail xchacha "exit $rc: $(tail -2 "$T_OUT/xchacha.err")"
else
	cmp -s "$W/local.kd" "$d/vmcore" || t_fail xchacha "stored vmcore differs"
	grep -q "new transfer: .*records XChaCha20-Poly1305$" "$W/rx.log" ||
		t_fail xchacha "the receiver did not use XChaCha20-Poly1305"
	rm -rf "$d"
fi
t_case_end

t_case "streamed from salvage-capture (no OUTPUT) equals local capture"
mkdir -p "$W/tmp"
TMPDIR=$W/tmp t_run streamcap "$CAP" --progress=off "$W/src.core" --target "net:127.0.0.1:$PORT" \
	--key "$W/agent" --receiver-key "$W/rx.pub"
line=$(grep -o "stored as web1-[0-9-]*" "$T_OUT/streamcap.err" | tail -1)
d=$W/store/${line#stored as }
if [ "$rc" != 0 ] || [ -z "$line" ] || [ ! -f "$d/vmcore" ]; then
	t_fail "streamed capture" "exit $rc: $(tail -2 "$T_OUT/streamcap.err")"
else
	cmp -s "$W/local.kd" "$d/vmcore" || t_fail "streamed capture" "stored vmcore differs from the local capture"
	cmp -s "$W/local.kd.dmesg.txt" "$d/dmesg.txt" || t_fail "streamed capture" "dmesg.txt differs"
	grep -q "streamed the dump with a 64 MiB window" "$T_OUT/streamcap.err" ||
		t_fail "streamed capture" "not streamed: $(grep 'net:' "$T_OUT/streamcap.err" | head -2)"
	grep -q "\"dump_bytes\": $(stat -c %s "$d/vmcore")," "$d/meta.json" ||
		t_fail "streamed capture" "meta.json's dump_bytes: $(grep dump_bytes "$d/meta.json")"
	[ -z "$(ls -A "$W/tmp")" ] || t_fail "streamed capture" "left in TMPDIR: $(ls "$W/tmp")"
fi
t_case_end

# ---- cut twice, resumed ----------------------------------------------------------
t_case "two cuts, resumed"
t_run big "$CAP" --progress=off -d 0 --compress=none "$W/src.core" "$W/big.kd"
size=$(stat -c %s "$W/big.kd")
relay cut --cut-after 1500000 --cuts 2
n0=$(stored)
send cut "$RPORT" agent2 "$W/big.kd" --net-retries 6
d=$(find "$W/store" -mindepth 1 -maxdepth 1 -name 'db2-*' | head -1)
if [ "$rc" != 0 ] || [ -z "$d" ]; then
	t_fail "two cuts" "exit $rc: $(tail -3 "$T_OUT/cut.err")"
else
	cmp -s "$W/big.kd" "$d/vmcore" || t_fail "two cuts" "stored vmcore ($size bytes) differs"
	r=$(grep -c 'db2 .*resuming transfer at offset [1-9]' "$W/rx.log")
	[ "$r" -ge 2 ] || t_fail "two cuts" "$r resumptions in the receiver's log"
	c=$(grep -c 'reconnecting' "$T_OUT/cut.err")
	[ "$c" -ge 2 ] || t_fail "two cuts" "$c reconnections in the agent's log"
	grep -q 'db2 .*connection lost at offset' "$W/rx.log" || t_fail "two cuts" "no 'connection lost' line"
	[ "$(stored)" = $((n0 + 1)) ] || t_fail "two cuts" "$(stored) directories, not $((n0 + 1))"
fi
t_case_end

# ---- refusals while another agent is served --------------------------------------
# a slow agent (about 6 s through a delaying relay) and a silent connection
# run across all the refusals below
relay slow --delay 0.05
"$CAP" --send "$W/sent.kd" --target "net:127.0.0.1:$RPORT" --key "$W/agent2" \
	--receiver-key "$W/rx.pub" >"$W/slow.out" 2>"$W/slow.err" &
SLOWPID=$!
t_timeout 30 "$PY" "$RELAY" --to "$PORT" --silent 15 >/dev/null 2>&1 &
SILENTPID=$!
PIDS+=("$SLOWPID" "$SILENTPID")
sleep 1
base=$(stored)

refused() { # what log-pattern: nothing new stored and the pattern in the log
	local what=$1 pat=$2
	[ "$rc" != 0 ] || t_fail "$what" "the agent's send succeeded"
	grep -Eq "$pat" "$W/rx.log" || t_fail "$what" "no log line matching '$pat'"
	[ "$(stored)" = "$base" ] || t_fail "$what" "something was stored"
}

t_case "refused: unknown key"
send unknown "$PORT" stranger "$W/sent.kd" --net-retries 2
refused "unknown key" 'refused: unknown agent key [0-9a-f]{16}'
grep -q 'refused this agent' "$T_OUT/unknown.err" || t_fail "unknown key" "agent: $(tail -1 "$T_OUT/unknown.err")"
t_case_end

t_case "refused: tampered byte"
relay flip --flip-at 300000
send flip "$RPORT" agent "$W/sent.kd" --net-retries 2
refused "tampered byte" 'web1 .*refused: record [0-9]+ does not verify \(tampered stream\); the transfer is discarded'
t_case_end

t_case "refused: replayed session"
relay rec --record "$W/session.bin"
send recorded "$RPORT" agent "$W/sent.kd"
[ "$rc" = 0 ] || t_fail "replayed session" "the recorded session failed: $(tail -1 "$T_OUT/recorded.err")"
base=$(stored)
t_timeout 30 "$PY" "$RELAY" --to "$PORT" --replay "$W/session.bin" >"$W/replay.out" 2>&1
rc=1
refused "replayed session" "refused: the agent's proof does not verify \(replayed or forged session\)"
t_case_end

t_case "refused: 10 TB above the limit"
truncate -s 10T "$W/huge.kd" 2>/dev/null || t_fail "10 TB" "cannot make a sparse 10 TB file here"
send huge "$PORT" agent "$W/huge.kd" --net-retries 2
refused "10 TB" 'web1 .*refused: announces 10995116277[0-9]{3} bytes, above its limit of 1073741824'
grep -q 'refused: announces' "$T_OUT/huge.err" || t_fail "10 TB" "agent: $(tail -1 "$T_OUT/huge.err")"
rm -f "$W/huge.kd"
t_case_end

t_case "refused: garbage"
t_timeout 30 "$PY" "$RELAY" --to "$PORT" --garbage >/dev/null 2>&1
rc=1
refused garbage 'refused: not a salvage handshake'
t_case_end

t_case "refused by name: an agent of protocol version 2"
t_timeout 30 "$PY" "$RELAY" --to "$PORT" --hello-version 2 >"$W/v2.out" 2>&1
rc=1
refused "version 2" 'refused: protocol version 2 not supported \(this side speaks 3\)'
grep -qx 'answer: SLVG version 3' "$W/v2.out" || t_fail "version 2" "the receiver did not name its version: $(cat "$W/v2.out")"
t_case_end
last_refusal=$(grep -n 'refused: protocol version 2 not supported' "$W/rx.log" | tail -1 | cut -d: -f1)

t_case "another agent served meanwhile"
t_timeout 60 tail --pid=$SLOWPID -f /dev/null
wait $SLOWPID
src=$?
d=$(grep -o "db2 .*stored $W/store/[^:]*" "$W/rx.log" | tail -1 | sed 's/.*stored //')
slow_line=$(grep -n "db2 .*stored $W/store/" "$W/rx.log" | tail -1 | cut -d: -f1)
if [ "$src" != 0 ] || [ -z "$d" ]; then
	t_fail "served meanwhile" "slow agent exit $src: $(tail -2 "$W/slow.err")"
else
	cmp -s "$W/sent.kd" "$d/vmcore" || t_fail "served meanwhile" "slow agent's dump differs"
	[ "${slow_line:-0}" -gt "${last_refusal:-0}" ] ||
		t_fail "served meanwhile" "the slow transfer ended before the refusals"
fi
kill -0 "$RXPID" 2>/dev/null || t_fail "served meanwhile" "the receiver died"
[ "$(incoming)" = 0 ] || t_fail "served meanwhile" "parts left in .incoming: $(ls "$W/store/.incoming")"
t_case_end

# ---- the crash-kernel agent's net: targets (net=none: this host's network) ----
agent() { # tag target...
	local tag=$1
	shift
	t_run "$tag" "$CAP" --init --set vmcore="$W/src.core" --set net=none --set net_wait=5 \
		--set net_stage="$W/stage" --set net_key="$W/agent" --set receiver_key="$W/rx.pub" \
		--set action=exit --set failure_action=exit --set hostname=h1 --set progress=0 "$@"
}
t_case "agent: net target equals a local capture"
agent agent-net --set target="net:127.0.0.1:$PORT"
line=$(grep -o "stored as web1-[0-9-]*" "$T_OUT/agent-net.err" | tail -1)
d=$W/store/${line#stored as }
if [ "$rc" != 0 ] || [ -z "$line" ] || [ ! -f "$d/vmcore" ]; then
	t_fail "agent net" "exit $rc: $(tail -2 "$T_OUT/agent-net.err")"
else
	cmp -s "$W/local.kd" "$d/vmcore" || t_fail "agent net" "the agent's dump differs from salvage-capture's"
	grep -q '"status": "ok"' "$d/meta.json" || t_fail "agent net" "meta.json: $(head -c 300 "$d/meta.json")"
	[ -z "$(ls -A "$W/stage")" ] || t_fail "agent net" "the staged copy was not removed"
fi
t_case_end
t_case "agent: fallback to the next target"
mkdir -p "$W/fallback"
agent agent-fb --set target="net:127.0.0.1:1,dir:$W/fallback"
if [ "$rc" != 0 ]; then
	t_fail "agent fallback" "exit $rc: $(tail -2 "$T_OUT/agent-fb.err")"
else
	grep -q 'target: trying the next one, dir:' "$T_OUT/agent-fb.err" || t_fail "agent fallback" "no fallback line"
	f=$(find "$W/fallback" -name vmcore | head -1)
	[ -n "$f" ] && cmp -s "$W/local.kd" "$f" || t_fail "agent fallback" "no identical vmcore in the fallback directory"
fi
t_case_end

t_case "agent: a streamed dump larger than the window, cut twice"
# 40 MiB of RAM, captured uncompressed: the stream is well over the 16 MiB
# window, and each cut falls after the window has wrapped
sed 's/^ram 0x100000 0x500000$/ram 0x100000 0x2800000/' "$T_FIX/mdf-linux.desc" >"$W/big.desc"
if t_mkdump mdf-big "$W/big.desc" "$W/big.core"; then
	t_run bigloc "$CAP" --progress=off -d 0 --compress=none "$W/big.core" "$W/big40.kd"
	relay acut --cut-after 12000000 --cuts 2
	SALVAGE_NET_WINDOW=16 agent agent-cut --set vmcore="$W/big.core" --set level=0 \
		--set codec=none --set net_wait=20 --set target="net:127.0.0.1:$RPORT"
	line=$(grep -o "stored as web1-[0-9-]*" "$T_OUT/agent-cut.err" | tail -1)
	d=$W/store/${line#stored as }
	size=$(stat -c %s "$W/big40.kd")
	peak=$(sed -n 's/.*streamed the dump with a 16 MiB window, at most \([0-9]*\) bytes.*/\1/p' \
		"$T_OUT/agent-cut.err")
	if [ "$rc" != 0 ] || [ -z "$line" ] || [ ! -f "$d/vmcore" ]; then
		t_fail "streamed, cut" "exit $rc: $(tail -2 "$T_OUT/agent-cut.err")"
	else
		cmp -s "$W/big40.kd" "$d/vmcore" || t_fail "streamed, cut" "the stored dump differs from the local capture"
		[ "$size" -gt $((2 * 16 << 20)) ] || t_fail "streamed, cut" "dump of $size bytes, not above twice the window"
		[ -n "$peak" ] && [ "$peak" -le $((16 << 20)) ] ||
			t_fail "streamed, cut" "unacknowledged bytes: '${peak}' (window 16 MiB)"
		c=$(grep -c 'reconnecting' "$T_OUT/agent-cut.err")
		[ "$c" -ge 2 ] || t_fail "streamed, cut" "$c reconnections in the agent's log"
		r=$(grep -c "$(basename "$d" | cut -d- -f1) .*resuming transfer at offset [1-9]" "$W/rx.log")
		[ "$r" -ge 2 ] || t_fail "streamed, cut" "$r resumptions in the receiver's log"
		[ -z "$(ls -A "$W/stage")" ] || t_fail "streamed, cut" "the staging directory is not empty"
	fi
fi
t_case_end

t_case "sealed, streamed larger than the window, cut twice (salvage-capture and agent)"
# the sealed file is streamed as it is made (never staged): resumed at an
# offset of the sealed file, unsealed it equals the plain -F capture, and at
# most the window is unacknowledged
if [ -f "$W/big.core" ]; then
	t_run bigflat "$CAP" --progress=off -d 0 --compress=none -F "$W/big.core"
	cp "$T_OUT/bigflat.out" "$W/big.flat"
	rm -f "$T_OUT/bigflat.out"
	for who in cap agent; do
		relay "scut$who" --cut-after 12000000 --cuts 2
		r0=$(grep -c "web1 .*resuming transfer at offset [1-9]" "$W/rx.log")
		if [ $who = cap ]; then
			SALVAGE_NET_WINDOW=16 t_run "sstream-$who" "$CAP" --progress=off -d 0 --compress=none \
				"$W/big.core" --seal-to "$W/rx.pub" --target "net:127.0.0.1:$RPORT" \
				--key "$W/agent" --receiver-key "$W/rx.pub" --net-retries 6
		else
			SALVAGE_NET_WINDOW=16 agent "sstream-$who" --set vmcore="$W/big.core" --set level=0 \
				--set codec=none --set format=kdump --set net_wait=20 --set seal_to="$W/rx.pub" \
				--set target="net:127.0.0.1:$RPORT"
		fi
		e=$T_OUT/sstream-$who.err
		line=$(grep -o "stored as web1-[0-9-]*" "$e" | tail -1)
		d=$W/store/${line#stored as }
		peak=$(sed -n 's/.*streamed the dump with a 16 MiB window, at most \([0-9]*\) bytes.*/\1/p' "$e")
		if [ "$rc" != 0 ] || [ -z "$line" ] || [ ! -f "$d/vmcore" ]; then
			t_fail "sealed streamed ($who)" "exit $rc: $(tail -2 "$e")"
			continue
		fi
		[ "$(head -c 8 "$d/vmcore")" = SLVGSEAL ] || t_fail "sealed streamed ($who)" "stored dump not sealed"
		"$SALVAGE" unseal --key "$W/rx" "$d/vmcore" - 2>/dev/null | cmp -s - "$W/big.flat" ||
			t_fail "sealed streamed ($who)" "does not unseal to the plain -F capture"
		size=$(stat -c %s "$d/vmcore")
		[ "$size" -gt $((2 * 16 << 20)) ] || t_fail "sealed streamed ($who)" "$size bytes, not above twice the window"
		[ -n "$peak" ] && [ "$peak" -le $((16 << 20)) ] ||
			t_fail "sealed streamed ($who)" "unacknowledged bytes: '${peak}' (window 16 MiB)"
		grep -Eq "\"(dump_)?bytes\": $size[,}]" "$d/meta.json" ||
			t_fail "sealed streamed ($who)" "meta.json does not give the stored size $size"
		c=$(grep -c 'reconnecting' "$e")
		[ "$c" -ge 2 ] || t_fail "sealed streamed ($who)" "$c reconnections in the log"
		r=$(grep -c "web1 .*resuming transfer at offset [1-9]" "$W/rx.log")
		[ $((r - r0)) -ge 2 ] || t_fail "sealed streamed ($who)" "$((r - r0)) resumptions in the receiver's log"
	done
	[ -z "$(ls -A "$W/stage")" ] || t_fail "sealed streamed" "the staging directory is not empty"
	rm -f "$W/big.flat"
else
	t_fail "sealed streamed" "no big.core (its generator failed above)"
fi
t_case_end

# ---- sealed dumps ---------------------------------------------------------------
t_case "sealed: unreadable without the key, equal after unseal"
t_run flat "$CAP" --progress=off -F "$W/src.core"
cp "$T_OUT/flat.out" "$W/plain.flat"
t_run sealcap "$CAP" --progress=off "$W/src.core" "$W/sealed.kd" --seal-to "$W/rx.pub"
if [ "$rc" != 0 ]; then
	t_fail sealed "exit $rc: $(tail -2 "$T_OUT/sealcap.err")"
else
	[ "$(head -c 8 "$W/sealed.kd")" = SLVGSEAL ] && [ "$(head -c 8 "$W/sealed.kd.dmesg.txt")" = SLVGSEAL ] ||
		t_fail sealed "dump or dmesg.txt not sealed"
	grep -q "Linux version" "$W/sealed.kd" "$W/sealed.kd.dmesg.txt" && t_fail sealed "kernel log text in the clear"
	t_run sealinfo "$SALVAGE" info "$W/sealed.kd"
	[ "$rc" = 1 ] && grep -q 'sealed (to key [0-9a-f]\{16\})' "$T_OUT/sealinfo.err" ||
		t_fail sealed "salvage info: exit $rc: $(head -1 "$T_OUT/sealinfo.err")"
	"$SALVAGE" unseal --key "$W/rx" "$W/sealed.kd" "$W/unsealed.kd" 2>"$W/unseal.err" ||
		t_fail sealed "unseal: $(cat "$W/unseal.err")"
	cmp -s "$W/plain.flat" "$W/unsealed.kd" || t_fail sealed "unsealed dump differs from the plain -F capture"
	"$SALVAGE" unseal --key "$W/rx" "$W/sealed.kd.dmesg.txt" - >"$W/unsealed.dmesg" 2>/dev/null &&
		cmp -s "$W/local.kd.dmesg.txt" "$W/unsealed.dmesg" || t_fail sealed "unsealed dmesg.txt differs"
	"$SALVAGE" dmesg "$W/unsealed.kd" >/dev/null 2>&1 || t_fail sealed "salvage dmesg on the unsealed dump"
	"$SALVAGE" dmesg "$W/unsealed.kd" >"$W/dmesg.plain" 2>&1
	"$SALVAGE" dmesg --key "$W/rx" "$W/sealed.kd" >"$W/dmesg.key" 2>&1 &&
		cmp -s "$W/dmesg.plain" "$W/dmesg.key" || t_fail sealed "salvage dmesg --key on the sealed dump"
	"$SALVAGE" info --key "$W/rx" "$W/sealed.kd" 2>/dev/null | grep -c 'kdump-flattened' >/dev/null ||
		t_fail sealed "salvage info --key on the sealed dump"
	"$SALVAGE" info --key "$W/agent" "$W/sealed.kd" >/dev/null 2>&1 && t_fail sealed "info --key with the wrong key succeeded"
fi
t_case_end
t_case "sealed: wrong key, altered byte, cut file refused"
"$SALVAGE" unseal --key "$W/agent" "$W/sealed.kd" "$W/x.kd" 2>"$W/u1.err" && t_fail "unseal refusals" "opened with another key"
grep -q 'not to this one' "$W/u1.err" || t_fail "unseal refusals" "wrong key: $(cat "$W/u1.err")"
cp "$W/sealed.kd" "$W/altered.kd"
"$PY" -c 'import sys; f = open(sys.argv[1], "r+b"); f.seek(500000); b = f.read(1); f.seek(500000); f.write(bytes([b[0] ^ 0xFF]))' "$W/altered.kd"
"$SALVAGE" unseal --key "$W/rx" "$W/altered.kd" "$W/x.kd" 2>"$W/u2.err" && t_fail "unseal refusals" "altered file opened"
grep -q 'does not verify' "$W/u2.err" || t_fail "unseal refusals" "altered: $(cat "$W/u2.err")"
head -c 1048000 "$W/sealed.kd" >"$W/cut.kd"
"$SALVAGE" unseal --key "$W/rx" "$W/cut.kd" "$W/x.kd" 2>"$W/u3.err" && t_fail "unseal refusals" "cut file opened"
grep -q 'cut short\|does not verify' "$W/u3.err" || t_fail "unseal refusals" "cut: $(cat "$W/u3.err")"
[ ! -e "$W/x.kd" ] && [ ! -e "$W/x.kd.tmp" ] || t_fail "unseal refusals" "an output was left"
t_case_end
t_case "sealed dump over the network"
t_run sealnet "$CAP" --progress=off "$W/src.core" "$W/sealed2.kd" --seal-to "$W/rx.pub" \
	--target "net:127.0.0.1:$PORT" --key "$W/agent" --receiver-key "$W/rx.pub"
line=$(grep -o "stored as web1-[0-9-]*" "$T_OUT/sealnet.err" | tail -1)
d=$W/store/${line#stored as }
if [ "$rc" != 0 ] || [ -z "$line" ]; then
	t_fail "sealed net" "exit $rc: $(tail -2 "$T_OUT/sealnet.err")"
else
	cmp -s "$W/sealed2.kd" "$d/vmcore" || t_fail "sealed net" "stored dump differs from the sealed file"
	grep -q '"sealed_to": "[0-9a-f]\{16\}"' "$d/meta.json" || t_fail "sealed net" "meta.json: $(cat "$d/meta.json")"
	"$SALVAGE" unseal --key "$W/rx" "$d/vmcore" - 2>/dev/null | cmp -s - "$W/plain.flat" ||
		t_fail "sealed net" "the received dump does not unseal to the plain capture"
fi
t_case_end

t_case "agent: sealed dump over the network"
agent agent-seal --set target="net:127.0.0.1:$PORT" --set seal_to="$W/rx.pub"
line=$(grep -o "stored as web1-[0-9-]*" "$T_OUT/agent-seal.err" | tail -1)
d=$W/store/${line#stored as }
if [ "$rc" != 0 ] || [ -z "$line" ]; then
	t_fail "agent sealed" "exit $rc: $(tail -2 "$T_OUT/agent-seal.err")"
else
	[ "$(head -c 8 "$d/vmcore")" = SLVGSEAL ] && [ "$(head -c 8 "$d/dmesg.txt")" = SLVGSEAL ] ||
		t_fail "agent sealed" "stored files not sealed"
	grep -q '"sealed_to": "[0-9a-f]\{16\}"' "$d/meta.json" || t_fail "agent sealed" "meta.json does not name the key"
	"$SALVAGE" unseal --key "$W/rx" "$d/vmcore" - 2>/dev/null | cmp -s - "$W/plain.flat" ||
		t_fail "agent sealed" "does not unseal to the plain capture"
	grep -q "net: streamed the dump with a" "$T_OUT/agent-seal.err" ||
		t_fail "agent sealed" "the sealed dump was not streamed"
fi
t_case_end

# ---- a second receiver: stale parts pruned, keys reloaded on SIGHUP -------------
t_case "receiver: stale .incoming pruned, SIGHUP reloads the keys"
mkdir -p "$W/store2/.incoming/0123456789abcdef-00112233445566778899aabbccddeeff" \
	"$W/store2/.incoming/fedcba9876543210-00112233445566778899aabbccddeeff"
old=$W/store2/.incoming/0123456789abcdef-00112233445566778899aabbccddeeff
new=$W/store2/.incoming/fedcba9876543210-00112233445566778899aabbccddeeff
echo x >"$old/vmcore.part"; echo x >"$old/state"; echo x >"$new/state"
touch -d '3 hours ago' "$old/vmcore.part" "$old/state" "$old"
cp "$W/agent.pub" "$W/auth2"
"$SALVAGE" receive --listen 127.0.0.1:0 --port-file "$W/rx2.port" --dir "$W/store2" \
	--key "$W/rx" --authorized-keys "$W/auth2" --min-free 1M --timeout 20 \
	--incoming-max-age 7200 2>"$W/rx2.log" &
RX2=$!
PIDS+=("$RX2")
if ! wait_file "$W/rx2.port"; then
	t_fail "prune, SIGHUP" "the second receiver did not start: $(head -3 "$W/rx2.log")"
else
	P2=$(cat "$W/rx2.port")
	[ ! -e "$old" ] && grep -q "pruned the stale transfer .incoming/0123456789abcdef-" "$W/rx2.log" ||
		t_fail "prune, SIGHUP" "the 3-hour-old transfer was not pruned and logged"
	[ -e "$new/state" ] || t_fail "prune, SIGHUP" "a recent transfer was pruned"
	send hup1 "$P2" agent2 "$W/sent.kd"
	[ "$rc" != 0 ] && grep -q 'unknown agent key' "$W/rx2.log" ||
		t_fail "prune, SIGHUP" "db2's key accepted before it was added (exit $rc)"
	cat "$W/agent2.pub" >>"$W/auth2"
	kill -HUP "$RX2"
	for _ in $(seq 50); do grep -q 'SIGHUP: 2 authorized' "$W/rx2.log" && break; sleep 0.1; done
	grep -q 'SIGHUP: 2 authorized agent key(s) reloaded' "$W/rx2.log" ||
		t_fail "prune, SIGHUP" "no reload line: $(tail -2 "$W/rx2.log")"
	send hup2 "$P2" agent2 "$W/sent.kd"
	d=$(find "$W/store2" -mindepth 1 -maxdepth 1 -name 'db2-*' | head -1)
	[ "$rc" = 0 ] && [ -n "$d" ] && cmp -s "$W/sent.kd" "$d/vmcore" ||
		t_fail "prune, SIGHUP" "db2 after the reload: exit $rc: $(tail -2 "$T_OUT/hup2.err")"
	kill -0 "$RX2" 2>/dev/null || t_fail "prune, SIGHUP" "the receiver died"
fi
t_case_end

# ---- --archive DB: each stored dump indexed after DONE, or logged why not ---------
# rx_archive NAME DB: a receiver on store-NAME with --archive DB; its port in AP
rx_archive() {
	mkdir -p "$W/store-$1"
	"$SALVAGE" receive --listen 127.0.0.1:0 --port-file "$W/$1.port" --dir "$W/store-$1" \
		--key "$W/rx" --authorized-keys "$W/auth" --min-free 1M --timeout 20 \
		--archive "$2" 2>"$W/$1.log" &
	PIDS+=($!)
	wait_file "$W/$1.port" || { t_fail "$1" "receiver did not start: $(head -3 "$W/$1.log")"; return 1; }
	AP=$(cat "$W/$1.port")
}
# wait_log FILE PATTERN: up to 20 s for PATTERN in FILE
wait_log() { for _ in $(seq 200); do grep -q "$2" "$1" && return 0; sleep 0.1; done; return 1; }
t_case "receive --archive: the stored dump is indexed"
if rx_archive rxa "$W/arch.db"; then
	send arch "$AP" agent "$W/sent.kd"
	d=$(find "$W/store-rxa" -mindepth 1 -maxdepth 1 -name 'web1-*' | head -1)
	if [ "$rc" != 0 ] || [ -z "$d" ]; then
		t_fail "receive --archive" "exit $rc: $(tail -2 "$T_OUT/arch.err")"
	elif ! wait_log "$W/rxa.log" "web1 .*archived $(basename "$d"): id 1, host "; then
		t_fail "receive --archive" "no 'archived' line: $(tail -2 "$W/rxa.log")"
	else
		"$SALVAGE" archive --db "$W/arch.db" list --json >"$W/arch.json" 2>"$W/arch.lerr" ||
			t_fail "receive --archive" "archive list: $(head -2 "$W/arch.lerr")"
		"$SALVAGE" triage --json "$d/vmcore" >"$W/arch-tri.json" 2>/dev/null
		# the host: the dump's utsname nodename, as the fixture tools write it
		host=salvage-test
		want="1 $(realpath "$d/vmcore") $host v2 $("$PY" -c 'import json,sys; print(json.load(open(sys.argv[1]))["signature"])' "$W/arch-tri.json")"
		got=$("$PY" -c 'import json,sys; d=json.load(open(sys.argv[1])); print(len(d), d[0]["path"], d[0]["host"], d[0]["signature"])' "$W/arch.json" 2>&1)
		[ "$got" = "$want" ] || t_fail "receive --archive" "listed '$got', want '$want'"
	fi
fi
t_case_end
t_case "receive --archive: an unwritable index loses no dump"
echo "not a directory" >"$W/notadir"
if rx_archive rxb "$W/notadir/arch.db"; then
	send archbad "$AP" agent "$W/sent.kd"
	d=$(find "$W/store-rxb" -mindepth 1 -maxdepth 1 -name 'web1-*' | head -1)
	if [ "$rc" != 0 ] || [ -z "$d" ] || ! cmp -s "$W/sent.kd" "$d/vmcore"; then
		t_fail "unwritable --archive" "dump not stored whole: exit $rc: $(tail -2 "$T_OUT/archbad.err")"
	elif ! wait_log "$W/rxb.log" "web1 .*not archived: $(basename "$d"): .*; the dump stays stored"; then
		t_fail "unwritable --archive" "no 'not archived' line: $(tail -2 "$W/rxb.log")"
	fi
fi
t_case_end

# ---- the free-space floor: at OPEN against known sizes, as a stream arrives -----
# Each receiver stores on a tmpfs of its own: the free space of a shared
# disk moves under a test.  rx_floor NAME FS_MIB FLOOR_KIB: its port in FP
rx_floor() {
	mkdir -p "$W/$1"
	if ! mount -t tmpfs -o "size=$2m,mode=0700" tmpfs "$W/$1" 2>"$W/$1.mount"; then
		t_fail "$1" "mount tmpfs: $(head -1 "$W/$1.mount")"
		return 1
	fi
	MOUNTS+=("$W/$1")
	"$SALVAGE" receive --listen 127.0.0.1:0 --port-file "$W/$1.port" --dir "$W/$1" \
		--key "$W/rx" --authorized-keys "$W/auth" --min-free "$3K" --timeout 20 2>"$W/$1.log" &
	PIDS+=($!)
	wait_file "$W/$1.port" || { t_fail "$1" "receiver did not start: $(head -3 "$W/$1.log")"; return 1; }
	FP=$(cat "$W/$1.port")
}
# what a receiver stored: directories other than .incoming
nstored() { find "$1" -mindepth 1 -maxdepth 1 ! -name .incoming | wc -l; }
# a streamed dump announces a bound of the vmcore's size plus an eighth plus
# 512 MiB, far above the 1.9 MB of this one
t_case "free-space floor: 1 MiB above it, a 1.9 MB dump is refused, nothing stored"
if rx_floor rxf1 32 31744; then
	send floor1 "$FP" agent "$W/sent.kd" --net-retries 1
	[ "$rc" != 0 ] && [ "$(nstored "$W/rxf1")" = 0 ] || t_fail "floor" "exit $rc, $(nstored "$W/rxf1") stored"
	grep -Eq "refused: 18[0-9]{5} bytes to store, [0-9]+ free in $W/rxf1 with a floor of 32505856$" "$W/rxf1.log" ||
		t_fail "floor" "no refusal line: $(tail -1 "$W/rxf1.log")"
fi
t_case_end
t_case "free-space floor: a streamed dump with a bound far above the free space is stored"
if rx_floor rxf2 32 24576; then
	TMPDIR=$W/tmp t_run floor2 "$CAP" --progress=off "$W/src.core" --target "net:127.0.0.1:$FP" \
		--key "$W/agent" --receiver-key "$W/rx.pub"
	d=$(find "$W/rxf2" -mindepth 1 -maxdepth 1 -name 'web1-*' | head -1)
	if [ "$rc" != 0 ] || [ -z "$d" ]; then
		t_fail "streamed floor" "exit $rc: $(tail -1 "$T_OUT/floor2.err"); $(tail -1 "$W/rxf2.log")"
	else
		cmp -s "$W/local.kd" "$d/vmcore" || t_fail "streamed floor" "stored vmcore differs"
		grep -q "new transfer: streamed, at most" "$W/rxf2.log" ||
			t_fail "streamed floor" "not streamed: $(grep 'new transfer' "$W/rxf2.log")"
	fi
fi
t_case_end
t_case "free-space floor: a streamed dump with no room to reassemble is refused, kept for resuming"
if rx_floor rxf3 32 29696; then
	TMPDIR=$W/tmp t_run floor3 "$CAP" --progress=off --net-retries 1 "$W/src.core" \
		--target "net:127.0.0.1:$FP" --key "$W/agent" --receiver-key "$W/rx.pub"
	[ "$rc" != 0 ] && [ "$(nstored "$W/rxf3")" = 0 ] || t_fail "reassembly floor" "exit $rc, $(nstored "$W/rxf3") stored"
	grep -Eq "refused: reassembling the streamed dump takes [0-9]+ bytes, [0-9]+ free in $W/rxf3 with a floor of 30408704; kept for resuming$" "$W/rxf3.log" ||
		t_fail "reassembly floor" "no refusal line: $(tail -1 "$W/rxf3.log")"
fi
t_case_end
unmount_all

[ -n "${T_VERBOSE:-}" ] && cat "$W/rx.log"
t_summary
