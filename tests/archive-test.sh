#!/usr/bin/env bash
# `salvage archive` on generated dumps: tests/fixtures/az-61.desc and
# variants of it made here (another KASLR offset and crash time: the same
# crash; a compiler suffix on the faulting function: the same crash;
# renamed functions: another panic path; a NULL dereference in the log:
# another panic class), in the three layouts `add` takes (a file, our
# agent's directory with meta.json, a kdump-tools directory).  Checks every
# command, that adding twice (or a hard link elsewhere) changes nothing,
# groups, filters, full-text search, JSON, the store, retention exactness,
# a directory still being written, re-signing, schema versions, and four
# processes adding at once.
#
#   tests/archive-test.sh BUILD        SQLite (work files in BUILD/archive)
#   tests/archive-test.sh BUILD --pg   the same cases on PostgreSQL: a throw-away
#                                      cluster (initdb, pg_ctl; Debian's postgresql)
#                                      on a Unix socket in BUILD/archive-pg, stopped
#                                      and removed at the end
set -uo pipefail
. "$(dirname "$0")/lib.sh"
PG=
[ "${2:-}" = --pg ] && PG=1
t_init "archive${PG:+-pg}" "${1:-}"
SALVAGE=$BUILD/salvage
t_need_built "$SALVAGE"
W=$(cd "$T_OUT" && pwd)
[ -z "$PG" ] || [ ! -f "$W/pg/data/postmaster.pid" ] ||
	"$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1)/pg_ctl" -D "$W/pg/data" -m immediate stop >/dev/null 2>&1
rm -rf "${W:?}"/*
DB=$W/a.db CDB=$W/concurrent.db FDB=$W/future.db
dbsql() { sqlite3 "$1" "$2"; }
schema_version() { sqlite3 "$1" 'PRAGMA user_version'; }
set_future() { sqlite3 "$1" "PRAGMA user_version = 99"; }
set_version() { sqlite3 "$1" "PRAGMA user_version = $2"; }
have_sql() { command -v sqlite3 >/dev/null; }
if [ -n "$PG" ]; then
	PGBIN=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1)
	if [ -z "$PGBIN" ] || [ ! -x "$PGBIN/initdb" ]; then
		t_skip "PostgreSQL backend" "no /usr/lib/postgresql/*/bin/initdb (Debian package postgresql)"
		t_summary
	fi
	# initdb refuses root: the cluster then belongs to Debian's postgres user
	as_pg=()
	[ "$(id -u)" != 0 ] || as_pg=(runuser -u postgres --)
	# as root, in a directory of its own under /tmp: the postgres user may
	# not be able to reach the build tree (a clone inside a 0700 mktemp
	# directory), and the socket's path stays short
	PGW=$W/pg
	mkdir -p "$PGW"
	if [ "$(id -u)" = 0 ]; then
		PGW=$(mktemp -d /tmp/salvage-pg.XXXXXX) && chown postgres "$PGW" ||
			{ t_fail "cluster directory" "mktemp/chown failed"; t_summary; }
	fi
	"${as_pg[@]}" "$PGBIN/initdb" -D "$PGW/data" -A trust -U salvage >"$W/pg/initdb.log" 2>&1 ||
		{ t_fail "initdb" "$(tail -3 "$W/pg/initdb.log")"; rm -rf "$PGW"; t_summary; }
	"${as_pg[@]}" "$PGBIN/pg_ctl" -D "$PGW/data" -l "$PGW/server.log" -w -t 60 \
		-o "-c listen_addresses='' -k $PGW -c fsync=off" start >/dev/null 2>&1 ||
		{ t_fail "pg_ctl start" "$(tail -3 "$PGW/server.log")"; rm -rf "$PGW"; t_summary; }
	pg_stop() {
		"${as_pg[@]}" "$PGBIN/pg_ctl" -D "$PGW/data" -m fast stop >/dev/null 2>&1
		if [ "$PGW" = "$W/pg" ]; then rm -rf "$PGW/data"; else rm -rf "$PGW"; fi
	}
	trap pg_stop EXIT
	url() { echo "postgresql:///$1?host=$PGW&user=salvage"; }
	for d in arc conc future; do
		"$PGBIN/psql" -q "$(url postgres)" -c "CREATE DATABASE $d" >/dev/null ||
			{ t_fail "createdb $d"; t_summary; }
	done
	DB=$(url arc) CDB=$(url conc) FDB=$(url future)
	dbsql() { "$PGBIN/psql" -qtAX "$1" -c "$2"; }
	schema_version() { dbsql "$1" 'SELECT version FROM salvage_schema'; }
	set_future() { dbsql "$1" "CREATE TABLE salvage_schema (version INTEGER NOT NULL); INSERT INTO salvage_schema VALUES (99)"; }
	set_version() { dbsql "$1" "UPDATE salvage_schema SET version = $2"; }
	have_sql() { true; }
	t_ok "a throw-away PostgreSQL cluster ($("$PGBIN/postgres" --version))"
fi

ar() { "$SALVAGE" archive --db "$DB" "$@"; }
# jq-like checks in Python: pyq FILE EXPR (EXPR over `d`, the parsed JSON)
pyq() {
	"$PY" -c 'import json,sys; d=json.load(open(sys.argv[1])); r=eval(sys.argv[2]); print(r)' "$1" "$2"
}
# expect WHAT GOT WANT
expect() {
	if [ "$2" = "$3" ]; then t_ok "$1"; else t_fail "$1" "got '$2', want '$3'"; fi
}

# ---- the dumps ------------------------------------------------------------------
base=$T_FIX/az-61.desc
mk() {   # mk NAME SED-SCRIPT
	sed -e "$2" "$base" >"$W/$1.desc"
	t_mkdump "$1" "$W/$1.desc" "$W/$1.core" || return 1
}
DAY=86400
T0=1795317288
mk a0 "s/^format elf/format elf/" &&
	mk a1 "s/kaslr=0x19600000/kaslr=0x2a400000/; s/crashtime=$T0/crashtime=$((T0 + DAY))/" &&
	mk a2 "s/kaslr=0x19600000/kaslr=0x0c800000/; s/crashtime=$T0/crashtime=$((T0 + 2 * DAY))/; s/^  analyzer /  analyzer names=buggy_function:buggy_function.isra.0,caller_with_bp:caller_with_bp.cold /; s/nodename=az-host/nodename=other-host/" &&
	mk b0 "s/crashtime=$T0/crashtime=$((T0 + 3 * DAY))/; s/^  analyzer /  analyzer names=buggy_function:ext4_bad_inode,caller_with_bp:ext4_lookup,fp_function:path_openat /" &&
	mk c0 "s/crashtime=$T0/crashtime=$((T0 + 4 * DAY))/; s/invalid opcode: 0000/BUG: kernel NULL pointer dereference, address: 0000000000000008/" ||
	t_summary

# ---- add, idempotence, identity -------------------------------------------------
ar add --label job=ci-1 --label test=boot "$W/a0.core" >"$W/add1.out" 2>"$W/add1.err"
expect "add a file" "$?" 0
ar add --json "$W/a1.core" "$W/a2.core" "$W/b0.core" "$W/c0.core" >"$W/add2.json" 2>"$W/add2.err"
expect "add four files" "$?" 0
expect "add --json says added" "$(pyq "$W/add2.json" '[x["added"] for x in d]')" "[True, True, True, True]"
ar add "$W/a0.core" >"$W/add3.out" 2>&1
expect "add twice: exit 0" "$?" 0
grep -q "already archived" "$W/add3.out" && t_ok "add twice: said so" || t_fail "add twice: said so"
ln -f "$W/a0.core" "$W/a0-link.core"
cp "$W/a0.core" "$W/a0-copy.core"
ar add "$W/a0-link.core" "$W/a0-copy.core" >"$W/add4.out" 2>&1
ar list --json >"$W/list-all.json"
expect "same bytes elsewhere: no new entry" "$(pyq "$W/list-all.json" 'len(d)')" 5

# ---- list, filters, show ----------------------------------------------------------
expect "list newest first" "$(pyq "$W/list-all.json" '[x["crash_time"] for x in d] == sorted([x["crash_time"] for x in d], reverse=True)')" True
ar list --json --host other-host >"$W/l-host.json"
expect "list --host" "$(pyq "$W/l-host.json" '[x["path"].split("/")[-1] for x in d]')" "['a2.core']"
ar list --json --kernel 6.1.0-56-cloud-amd64 --label job=ci-1 >"$W/l-label.json"
expect "list --kernel --label K=V" "$(pyq "$W/l-label.json" '[x["path"].split("/")[-1] for x in d]')" "['a0.core']"
ar list --json --label test >"$W/l-labelk.json"
expect "list --label K" "$(pyq "$W/l-labelk.json" 'len(d)')" 1
ar list --json --since $((T0 + DAY)) --until $((T0 + 3 * DAY)) >"$W/l-time.json"
expect "list --since --until" "$(pyq "$W/l-time.json" '[x["path"].split("/")[-1] for x in d]')" "['a2.core', 'a1.core']"
ar list --json --since 2026-11-25 >"$W/l-date.json"
expect "list --since DATE" "$(pyq "$W/l-date.json" '[x["path"].split("/")[-1] for x in d]')" "['c0.core', 'b0.core']"
ar list --limit 2 >"$W/l-text.out"
expect "list text: header and 2 rows" "$(wc -l <"$W/l-text.out")" 3
id_a0=$(pyq "$W/list-all.json" '[x["id"] for x in d if x["path"].endswith("/a0.core")][0]')
ar show --json "$id_a0" >"$W/show.json"
expect "show: host, kernel, build id, crash time" \
	"$(pyq "$W/show.json" '(d["host"], d["kernel"], d["build_id"] is not None, d["crash_time"], d["source"], d["format"])')" \
	"('az-host', '6.1.0-56-cloud-amd64', True, $T0, 'file', 'elf')"
expect "show: panic, log tail, backtrace, labels" \
	"$(pyq "$W/show.json" '(d["panic"], "invalid opcode" in d["dmesg_tail"], "buggy_function+0x7/0x40" in d["backtrace"], d["labels"])')" \
	"('Kernel panic - not syncing: Fatal exception', True, True, {'job': 'ci-1', 'test': 'boot'})"
# the generator writes no module list: unknown, not "none"
expect "show: tainted modules unknown without a module list" "$(pyq "$W/show.json" 'd["tainted_modules"]')" None
ar show "$id_a0" >"$W/show.out"
grep -q "^signature: *v2 bug:buggy_function/caller_with_bp/fp_function$" "$W/show.out" &&
	t_ok "show text: the signature" || t_fail "show text: the signature" "$(grep signature "$W/show.out")"
grep -q "^tainted mods: *(unknown: no module list)$" "$W/show.out" &&
	t_ok "show text: tainted modules unknown" || t_fail "show text: tainted modules unknown" "$(grep "tainted" "$W/show.out")"
ar show 9999 >/dev/null 2>"$W/show-none.err"
expect "show of no dump: exit 1" "$?" 1

# ---- groups ----------------------------------------------------------------------------
ar groups --json >"$W/groups.json"
expect "groups: three, counts" "$(pyq "$W/groups.json" '[x["count"] for x in d]')" "[3, 1, 1]"
expect "groups: KASLR and .isra/.cold do not split a crash" \
	"$(pyq "$W/groups.json" 'd[0]["signature"]')" "v2 bug:buggy_function/caller_with_bp/fp_function"
expect "groups: hosts and first/last seen" \
	"$(pyq "$W/groups.json" '(d[0]["hosts"], d[0]["first"], d[0]["last"])')" "('az-host other-host', $T0, $((T0 + 2 * DAY)))"
expect "groups: another panic path, another class" \
	"$(pyq "$W/groups.json" 'sorted(x["signature"] for x in d[1:])')" \
	"['v2 bug:ext4_bad_inode/ext4_lookup/path_openat', 'v2 null-deref:buggy_function/caller_with_bp/fp_function']"
# one classification: each dump's signature is triage's, with the version
for n in a0 a2 b0 c0; do
	"$SALVAGE" triage --json "$W/$n.core" >"$W/triage-$n.json" 2>/dev/null
	ar list --json >"$W/l-tri.json"
	expect "archive and triage agree: $n" \
		"$(pyq "$W/l-tri.json" "[x['signature'] for x in d if x['path'].endswith('/$n.core')][0]")" \
		"v2 $(pyq "$W/triage-$n.json" 'd["signature"]')"
done
sig_a=$(pyq "$W/groups.json" 'd[0]["signature_id"]')
ar list --json --signature "$sig_a" >"$W/l-sig.json"
expect "list --signature" "$(pyq "$W/l-sig.json" 'len(d)')" 3
ar groups >"$W/groups.out"
expect "groups text: 3 lines a group + header" "$(wc -l <"$W/groups.out")" 10

# ---- search ------------------------------------------------------------------------------
ar search --json "NULL pointer dereference" >"$W/s1.json"
expect "search a phrase of the log" "$(pyq "$W/s1.json" '[x["path"].split("/")[-1] for x in d]')" "['c0.core']"
ar search --json 'Fatal "exception' >"$W/s2.json"
expect "search: a quote is text, not query syntax" "$?:$(pyq "$W/s2.json" 'len(d)')" 0:5
ar search --json 'exception OR NOT' >"$W/s2b.json"
expect "search: operators are words of the phrase" "$?" 1
ar search --json "Fatal exception" >"$W/s3.json"
expect "search the panic string" "$(pyq "$W/s3.json" 'len(d)')" 5
ar search "no such words anywhere" >/dev/null
expect "search without a match: exit 1" "$?" 1

# ---- the HTML report, rendered by headless Chromium ------------------------------------------
ar report --out "$W/report" >/dev/null
expect "report: exit 0" "$?" 0
CHROMIUM=$(command -v chromium || command -v chromium-browser || true)
# dom PAGE: the page as Chromium rendered it (--no-sandbox: tests may run as root)
dom() {
	t_timeout 120 "$CHROMIUM" --headless --no-sandbox --disable-gpu --dump-dom "file://$W/report/$1" 2>/dev/null
}
# domq PAGE EXPR: EXPR over `tags` (a list of (tag, attrs dict, text inside)) of the rendered page
domq() {
	dom "$1" >"$W/report/$1.dom" || { echo "chromium failed"; return; }
	"$PY" - "$W/report/$1.dom" "$2" <<'PYEOF'
import sys
from html.parser import HTMLParser
class P(HTMLParser):
    def __init__(self):
        super().__init__()
        self.tags, self.open = [], []
    def handle_starttag(self, tag, attrs):
        self.tags.append([tag, dict(attrs), ""])
        self.open.append(self.tags[-1])
    def handle_endtag(self, tag):
        while self.open and self.open.pop()[0] != tag:
            pass
    def handle_data(self, data):
        for t in self.open:
            t[2] += data
p = P()
p.feed(open(sys.argv[1], encoding="utf-8").read())
tags = p.tags
def by_id(i):
    return [t for t in tags if t[1].get("id") == i][0]
print(eval(sys.argv[2]))
PYEOF
}
if [ -n "$CHROMIUM" ]; then
	expect "report: the group table (3 groups, counts)" \
		"$(domq index.html '[t[2] for t in tags if t[0] == "td" and t[1].get("class") == "num"]')" "['3', '1', '1']"
	expect "report: the crashes-per-day plot (a bar for each of 5 days)" \
		"$(domq index.html 'len([t for t in tags if t[0] == "rect" and t[1].get("class") == "bar"])')" 5
	expect "report: a sparkline per group" \
		"$(domq index.html 'len([t for t in tags if t[0] == "svg" and t[1].get("class") == "sparkline"])')" 3
	expect "report: the dump page (panic, backtrace, log tail)" \
		"$(domq "dump-$id_a0.html" '(by_id("panic")[2], "buggy_function+0x7/0x40" in by_id("backtrace")[2], "invalid opcode" in by_id("dmesg")[2])')" \
		"('Kernel panic - not syncing: Fatal exception', True, True)"
	expect "report: the group page lists its dumps" \
		"$(domq "group-$sig_a.html" 'len([t for t in tags if t[0] == "a" and t[1].get("href", "").startswith("dump-")])')" 3
	if t_timeout 120 "$CHROMIUM" --headless --no-sandbox --disable-gpu --hide-scrollbars --window-size=1200,700 \
		--screenshot="$W/report.png" "file://$W/report/index.html" >/dev/null 2>&1 && [ -s "$W/report.png" ]; then
		t_ok "report: a screenshot ($W/report.png)"
	else
		t_fail "report: a screenshot"
	fi
else
	t_skip "report in headless Chromium" "no chromium (Debian package chromium)"
fi

# ---- layouts: agent directory, kdump-tools directory, being written, watch --------------------
mk d0 "s/crashtime=$T0/crashtime=$((T0 + 5 * DAY))/; s/kaslr=0x19600000/kaslr=0x3c000000/" || t_summary
mk d1 "s/crashtime=$T0/crashtime=$((T0 + 6 * DAY))/; s/kaslr=0x19600000/kaslr=0x3e000000/" || t_summary
mk d2 "s/crashtime=$T0/crashtime=$((T0 + 7 * DAY))/; s/kaslr=0x19600000/kaslr=0x20000000/" || t_summary
tgt=$W/target
ag=$tgt/agenthost-20261127T031448Z
mkdir -p "$ag" "$tgt/202611280314" "$tgt/writing-20261129T031448Z"
mv "$W/d0.core" "$ag/vmcore"
printf 'Linux version 6.1.0-56-cloud-amd64\nKernel panic - not syncing: Fatal exception\n' >"$ag/dmesg.txt"
cat >"$ag/meta.json" <<EOF
{"salvage_meta": 1, "status": "ok", "incomplete": false, "error": null,
 "hostname": "agenthost", "osrelease": "6.1.0-56-cloud-amd64", "crash_time": $((T0 + 5 * DAY)),
 "crash_time_utc": "2026-11-27T03:14:48Z", "capture_started_utc": "2026-11-27T03:15:02Z",
 "dump": {"file": "vmcore", "format": "elf", "level": 31, "codec": "zstd", "bytes": 1},
 "seconds": {"total": 3.5, "capture": 2.25}, "log": ["a \"quoted\" line"]}
EOF
mv "$W/d1.core" "$tgt/202611280314/dump.202611280314"
echo "Kernel panic - not syncing: Fatal exception" >"$tgt/202611280314/dmesg.202611280314"
# the agent in the crash kernel (capture/agent.c): the directory, meta.json's
# space reserved, the dump and log under temporary names; and one just made
mv "$W/d2.core" "$tgt/writing-20261129T031448Z/.vmcore.tmp"
: >"$tgt/writing-20261129T031448Z/.meta.json.tmp"
echo "Kernel panic - not syncing: Fatal exception" >"$tgt/writing-20261129T031448Z/.dmesg.txt.tmp"
mkdir -p "$tgt/justmade-20261130T031448Z"
echo "not a dump" >"$tgt/README"
ar add "$tgt/writing-20261129T031448Z" >/dev/null 2>"$W/writing.err"
grep -q "still being written" "$W/writing.err" && t_ok "add: a directory being written is skipped" ||
	t_fail "add: a directory being written is skipped" "$(cat "$W/writing.err")"
ar watch --once "$tgt" >"$W/watch.out" 2>"$W/watch.err"
expect "watch --once: exit 0" "$?" 0
expect "watch --once: two new dumps" "$(wc -l <"$W/watch.out")" 2
ar list --json --since $((T0 + 5 * DAY)) >"$W/l-layouts.json"
expect "agent dir: host, capture time, level, status from meta.json" \
	"$(pyq "$W/l-layouts.json" '[x["host"] for x in d]')" "['az-host', 'agenthost']"
id_ag=$(pyq "$W/l-layouts.json" 'd[1]["id"]')
ar show --json "$id_ag" >"$W/show-ag.json"
expect "agent dir: facts from meta.json" \
	"$(pyq "$W/show-ag.json" '(d["source"], d["capture_time"], d["dump_level"], d["status"], d["capture_ms"], d["dir"].endswith("agenthost-20261127T031448Z"))')" \
	"('agent', $((T0 + 5 * DAY + 14)), 31, 'ok', 2250, True)"
expect "kdump-tools dir" "$(pyq "$W/l-layouts.json" 'd[0]["path"].endswith("202611280314/dump.202611280314")')" True
ar watch --once --json "$tgt" >"$W/watch2.json" 2>&1
expect "watch again: nothing new (--json)" "$(pyq "$W/watch2.json" 'len(d)')" 0
# the dump and log renamed, meta.json not yet: still the agent's (not a
# kexec-tools "vmcore" directory to add without its meta.json)
mv "$tgt/writing-20261129T031448Z/.vmcore.tmp" "$tgt/writing-20261129T031448Z/vmcore"
mv "$tgt/writing-20261129T031448Z/.dmesg.txt.tmp" "$tgt/writing-20261129T031448Z/dmesg.txt"
ar watch --once --json "$tgt" >"$W/watch-mid.json" 2>"$W/watch-mid.err"
expect "watch --once: the agent's directory before meta.json is skipped, quietly" \
	"$? $(pyq "$W/watch-mid.json" 'len(d)') $(wc -c <"$W/watch-mid.err")" "0 0 0"
# the writer finishes: meta.json renamed into place last; the next pass adds it
echo '{"status": "ok", "hostname": "late"}' >"$tgt/writing-20261129T031448Z/.meta.json.tmp"
mv "$tgt/writing-20261129T031448Z/.meta.json.tmp" "$tgt/writing-20261129T031448Z/meta.json"
ar watch --rounds 1 --interval 1 --json "$tgt" >"$W/watch3.json" 2>&1
expect "watch: the finished directory is added on the next pass, with its meta.json" \
	"$(pyq "$W/watch3.json" '[x["path"].split("/")[-2:] for x in d]')" "[['writing-20261129T031448Z', 'vmcore']]"
ar list --json --host late >"$W/l-late.json"
expect "watch: ... as the agent's (host from meta.json)" "$(pyq "$W/l-late.json" '[x["host"] for x in d]')" "['late']"
ar groups --json >"$W/groups2.json"
expect "groups: the three layouts join the same crash" "$(pyq "$W/groups2.json" 'd[0]["count"]')" 6

# ---- the store, rm ------------------------------------------------------------------------
st=$W/store
mk e0 "s/crashtime=$T0/crashtime=$((T0 - DAY))/; s/nodename=az-host/nodename=store-host/" || t_summary
ar add --json --store "$st" "$W/e0.core" >"$W/add-store.json"
id_e=$(pyq "$W/add-store.json" 'd[0]["id"]')
p_e=$(pyq "$W/add-store.json" 'd[0]["path"]')
case $p_e in "$(cd "$st" && pwd)"/*/e0.core) t_ok "store: indexed at its store path" ;;
*) t_fail "store: indexed at its store path" "$p_e" ;; esac
[ "$(stat -c %h "$W/e0.core")" = 2 ] && t_ok "store: hard link" || t_fail "store: hard link"
ar rm "$id_e" >/dev/null
expect "rm: exit 0" "$?" 0
[ ! -e "$p_e" ] && [ -e "$W/e0.core" ] && t_ok "rm: the store's copy deleted, the original kept" ||
	t_fail "rm: the store's copy deleted, the original kept"
ar show "$id_e" >/dev/null 2>&1
expect "rm: gone from the index" "$?" 1
ar search --json "Fatal exception" >"$W/s4.json"
expect "rm: gone from the search index" "$(pyq "$W/s4.json" "$id_e in [x['id'] for x in d]")" False

# ---- retention ----------------------------------------------------------------------------
# 8 dumps, crash times T0 .. T0 + 7 days; newest first: the three layouts' (d2 d1 d0), c0 b0 a2 a1 a0
ar list --json >"$W/before-gc.json"
order=$(pyq "$W/before-gc.json" '" ".join(str(x["id"]) for x in d)')
expect "before gc: 8 dumps" "$(pyq "$W/before-gc.json" 'len(d)')" 8
ar gc --dry-run --json --keep 6 >"$W/gc1.json"
expect "gc --keep 6 --dry-run: the 2 oldest" "$(pyq "$W/gc1.json" '" ".join(str(x["id"]) for x in d)')" "$(echo "$order" | cut -d' ' -f7-8)"
ar list --json >"$W/after-dry.json"
expect "dry run removes nothing" "$(pyq "$W/after-dry.json" 'len(d)')" 8
# every dump is 20578304 bytes: room for 5
ar gc --json --max-size $((5 * 20578304 + 100)) >"$W/gc2.json"
expect "gc --max-size: exactly the 3 oldest" "$(pyq "$W/gc2.json" '" ".join(str(x["id"]) for x in d)')" "$(echo "$order" | cut -d' ' -f6-8)"
now=$(date +%s)
age=$((now - (T0 + 4 * DAY) - 3600))   # c0 (T0 + 4 days) is older than that by an hour
ar gc --json --max-age "$age" >"$W/gc3.json"
expect "gc --max-age: exactly the dumps older" "$(pyq "$W/gc3.json" '" ".join(str(x["id"]) for x in d)')" "$(echo "$order" | cut -d' ' -f4-5)"
# a dump whose directory is being written again is never removed
touch "$ag/.vmcore.tmp"
ar gc --json --keep 0 --delete-files >"$W/gc4.json" 2>"$W/gc4.err"
expect "gc: the directory being written is kept" "$(pyq "$W/gc4.json" 'len(d)')" 2
[ -e "$ag/vmcore" ] && [ ! -e "$tgt/202611280314" ] && t_ok "gc --delete-files: removed the files it said, no others" ||
	t_fail "gc --delete-files: removed the files it said, no others"
ar list --json >"$W/after-gc.json"
expect "after gc: only the one being written" "$(pyq "$W/after-gc.json" '[x["host"] for x in d]')" "['agenthost']"
ar groups --json >"$W/groups-gc.json"
expect "after rm and gc: the groups count what is left" "$(pyq "$W/groups-gc.json" '[(x["count"], x["hosts"]) for x in d]')" "[(1, 'agenthost')]"
ar gc --keep x >/dev/null 2>&1
expect "gc: a bad value is a usage error" "$?" 2
ar gc >/dev/null 2>&1
expect "gc without a policy is a usage error" "$?" 2

# ---- resign, schema -------------------------------------------------------------------------
if have_sql; then
	dbsql "$DB" "UPDATE dumps SET sig = 'v0 old', sig_id = 'old'" >/dev/null
	ar resign --json >"$W/resign.json"
	expect "resign: recomputed" "$(pyq "$W/resign.json" '(d["dumps"], d["changed"])')" "(1, 1)"
	ar groups --json >"$W/groups3.json"
	expect "resign: the signature is back" "$(pyq "$W/groups3.json" 'd[0]["signature"]')" "v2 bug:buggy_function/caller_with_bp/fp_function"
	# a row signed by version 1 kept the panicking CPU's raw frames ('|'
	# after an exception frame) and no class line: resign chooses as triage
	dbsql "$DB" "UPDATE dumps SET sig = 'v1 invalid-opcode: x', sig_id = 'old', sig_version = 1, panic_frames = 'machine_kexec
__crash_kexec
oops_end
do_trap
|
buggy_function.isra.0
caller_with_bp
fp_function
do_syscall_64
'" >/dev/null
	ar resign --json >"$W/resign1.json"
	ar groups --json >"$W/groups4.json"
	expect "resign: a version 1 row gets triage's class and frames" \
		"$(pyq "$W/groups4.json" '(d[0]["signature"], d[0]["count"])')" "('v2 bug:buggy_function/caller_with_bp/fp_function', 1)"
	expect "schema version recorded" "$(schema_version "$DB")" 4
	# an index of schema 3 (no tainted_modules column) is brought up to 4
	dbsql "$DB" "ALTER TABLE dumps DROP COLUMN tainted_modules" >/dev/null
	set_version "$DB" 3 >/dev/null
	ar list --json >"$W/l-migrated.json"
	expect "schema 3 -> 4: migrated, rows kept" "$(schema_version "$DB") $(pyq "$W/l-migrated.json" 'len(d)')" "4 1"
	set_future "$FDB" >/dev/null
	"$SALVAGE" archive --db "$FDB" list >/dev/null 2>"$W/future.err"
	[ $? = 1 ] && grep -q "newer than this salvage knows" "$W/future.err" && t_ok "a newer schema is refused" ||
		t_fail "a newer schema is refused" "$(cat "$W/future.err")"
else
	t_skip "resign and schema checks" "no sqlite3 command (Debian package sqlite3)"
fi

# ---- Xen hosts (the index's backend does not matter: SQLite) --------------------------------
# dom0 crashed (its log's panic, its frames through the dom0 view and the
# vCPU registers Xen saved), and the same host with no panic in dom0's log:
# the hypervisor's crash
XDB=$W/xen.db
sed -e '/^  dmesg "Kernel panic - not syncing/d' "$T_FIX/xen-417-vcpus.desc" >"$W/xen-hv.desc"
if t_mkdump xen-dom0 "$T_FIX/xen-417-vcpus.desc" "$W/xen-dom0.core" &&
	t_mkdump xen-saved "$T_FIX/xen-417-vcpus-saved.desc" "$W/xen-saved.core" &&
	t_mkdump xen-hv "$W/xen-hv.desc" "$W/xen-hv.core"; then
	"$SALVAGE" archive --db "$XDB" add --json "$W/xen-dom0.core" "$W/xen-saved.core" "$W/xen-hv.core" >"$W/xen-add.json" 2>"$W/xen-add.err"
	expect "xen: dom0's crash, by its class and frames (registers from Xen's frame or struct vcpu)" \
		"$(pyq "$W/xen-add.json" '[x["signature"] for x in d]')" \
		"['v2 dom0 oops:buggy_function/caller_with_bp/fp_function', 'v2 dom0 oops:buggy_function/caller_with_bp/fp_function', 'v2 xen:']"
	"$SALVAGE" archive --db "$XDB" show --json "$(pyq "$W/xen-add.json" 'd[0]["id"]')" >"$W/xen-show.json"
	expect "xen: dom0's kernel, panic and host" \
		"$(pyq "$W/xen-show.json" '(d["kernel"], d["panic"], d["host"], d["xen_version"])')" \
		"('6.1.0-56-amd64', 'Kernel panic - not syncing: Fatal exception', 'xen-dom0', '4.17.7')"
fi

# ---- four processes at once -------------------------------------------------------------------
for n in 0 1 2 3; do
	cp "$W/a1.core" "$W/p$n.core"
	printf 'x%d' "$n" | dd of="$W/p$n.core" bs=1 seek=$((20578304 - 4)) conv=notrunc status=none
done
pids=()
for n in 0 1 2 3; do
	"$SALVAGE" archive --db "$CDB" add "$W/p$n.core" "$W/a0.core" "$W/b0.core" >"$W/par$n.out" 2>"$W/par$n.err" &
	pids+=($!)
done
bad=0
for p in "${pids[@]}"; do wait "$p" || bad=$((bad + 1)); done
expect "four processes adding at once: all exit 0" "$bad" 0
"$SALVAGE" archive --db "$CDB" list --json >"$W/par.json"
expect "four processes: each dump once" "$(pyq "$W/par.json" 'len(d)')" 6
expect "four processes: one group of 5, one of 1" "$("$SALVAGE" archive --db "$CDB" groups --json | "$PY" -c 'import json,sys; print([g["count"] for g in json.load(sys.stdin)])')" "[5, 1]"

# ---- usage --------------------------------------------------------------------------------------
ar frobnicate >/dev/null 2>&1
expect "unknown command: exit 2" "$?" 2
ar show x >/dev/null 2>&1
expect "show: bad ID: exit 2" "$?" 2
ar add "$W/no-such" >/dev/null 2>&1
expect "add a missing path: exit 1" "$?" 1
ar add "$tgt/README" >/dev/null 2>"$W/notdump.err"
expect "add a file that is no dump: exit 1" "$?" 1
for f in "$W"/*.json; do
	"$PY" -c 'import json,sys; json.load(open(sys.argv[1]))' "$f" 2>/dev/null || t_fail "valid JSON: $f"
done
t_ok "every --json output parses"

t_summary
