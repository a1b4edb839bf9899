#!/usr/bin/env bash
# The man pages cannot drift from the programs:
#   - salvage(8): every command of `salvage --help` has its .SS section and
#     every .SS section is a command; every option any `salvage COMMAND
#     --help` names appears in the page, and every option the page names is
#     in one of those --help texts;
#   - salvage-capture(8): the same for `salvage-capture --help` and
#     `salvage-capture --init --help`;
#   - salvage.conf(5): every key of the schema (`salvage-capture --init
#     --help`, printed from CFG_KEYS) has its .TP entry, and every entry is
#     a key;
#   - each page renders without a groff warning.
#   man-test.sh [BUILD]
set -uo pipefail
. "$(dirname "$0")/../lib.sh"
t_init man-test "${1:-}"
MAN=$T_HERE/../man
t_need_built "$BUILD/salvage" "$BUILD/salvage-capture"

# roff source to the words a reader sees: \- is -, fonts dropped
plain() { sed -e 's/\\-/-/g' -e 's/\\f[BIRP]//g' -e 's/\\(em/-/g' "$1"; }
# the options named in a text: --long and -x, not inside words or numbers
opts() { grep -oE -- '(^|[^A-Za-z0-9_.*-])--?[A-Za-z][A-Za-z0-9-]*' | sed -E 's/^[^-]*//' | sort -u; }

# compare WHAT FROM-HELP FROM-MAN: both directions, one failure a name
compare() {
	local what=$1 help=$2 page=$3 bad=0 x
	for x in $(comm -23 "$help" "$page"); do
		t_fail "$what" "'$x' is in --help but not in the man page"; bad=1
	done
	for x in $(comm -13 "$help" "$page"); do
		t_fail "$what" "'$x' is in the man page but in no --help"; bad=1
	done
	[ $bad = 0 ] && t_ok "$what"
}

for p in salvage.8 salvage-capture.8 salvage.conf.5; do
	w=$(groff -man -ww -z "$MAN/$p" 2>&1)
	if [ -z "$w" ]; then t_ok "$p renders"; else t_fail "$p renders" "$w"; fi
done

# ---- salvage(8) -------------------------------------------------------------
O=$T_OUT
"$BUILD/salvage" --help >"$O/salvage.help"
awk '/^commands:/ { on = 1; next } on && /^  [a-z]/ { print $1 } on && /^$/ { on = 0 }' \
	"$O/salvage.help" | sort -u >"$O/cmds.help"
plain "$MAN/salvage.8" | awk '/^\.SS / { print $2 }' | tr -d '"' | sort -u >"$O/cmds.man"
[ -s "$O/cmds.help" ] || t_fail "salvage commands" "none read from salvage --help"
compare "salvage(8) commands" "$O/cmds.help" "$O/cmds.man"

: >"$O/salvage.all-help"
while read -r c; do
	if ! "$BUILD/salvage" "$c" --help >>"$O/salvage.all-help" 2>&1; then
		t_fail "salvage $c --help" "exit status not 0"
	fi
done <"$O/cmds.help"
{ opts <"$O/salvage.all-help"; opts <"$O/salvage.help"; echo --help; } | sort -u >"$O/opts.help"
plain "$MAN/salvage.8" | grep -v '^\.\\"' | opts >"$O/opts.man"
compare "salvage(8) options" "$O/opts.help" "$O/opts.man"

# ---- salvage-capture(8) -----------------------------------------------------
{ "$BUILD/salvage-capture" --help; "$BUILD/salvage-capture" --init --help; } \
	>"$O/capture.help" 2>&1
{ opts <"$O/capture.help"; echo --help; } | sort -u >"$O/capopts.help"
plain "$MAN/salvage-capture.8" | grep -v '^\.\\"' | opts >"$O/capopts.man"
compare "salvage-capture(8) options" "$O/capopts.help" "$O/capopts.man"

# ---- salvage.conf(5) ---------------------------------------------------------
"$BUILD/salvage-capture" --init --help |
	awk '/^  [a-z_]+ / && !/^   / { print $1 }' | sort -u >"$O/keys.help"
# the .TP entries of the KEYS section only
plain "$MAN/salvage.conf.5" | awk '/^\.SH KEYS/ { on = 1; next } /^\.SH/ { on = 0 }
	on && /^\.TP/ { tp = 1; next } on && tp && /^\.B / { print $2 } { tp = 0 }' | sort -u >"$O/keys.man"
[ "$(wc -l <"$O/keys.help")" -ge 20 ] || t_fail "schema keys" "fewer than 20 read from --init --help"
compare "salvage.conf(5) keys" "$O/keys.help" "$O/keys.man"

t_summary
