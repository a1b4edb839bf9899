#!/usr/bin/env bash
# Dependencies point one way: programs -> libraries -> leaves.  Checked over
# the `#include "..."` lines of every C file and over the Makefile's link
# lists (the objects and archives each program and archive is made of).
#
#   scripts/check-layers.sh [BUILD]      (run by make test and make check)
#
# Adding a folder is one line in FOLDERS; a folder that does not exist is
# skipped.  A folder with C files and no line fails the check.
set -uo pipefail

# folder -> role
FOLDERS="
analyze    program
capture    program
vmcore     library
config     library
kmod       library
initramfs  library
archive    library
net        library
xen-notes  leaf
common     leaf
tests      test
"
# role -> the roles of the other folders it may include or link
MAY_USE="
program  library leaf
library  library leaf
leaf     leaf
test     program library leaf test
"
# program file in BUILD -> the folder that is its front-end
PROGRAMS="
salvage          analyze
salvage-capture  capture
"

ROOT=$(cd "$(dirname "$0")/.." && pwd)
. "$ROOT/tests/lib.sh"
t_init layers "${1:-}"
cd "$ROOT" || exit 1

declare -A role may front
while read -r f r; do [ -n "$f" ] && role[$f]=$r; done <<<"$FOLDERS"
while read -r r rest; do [ -n "$r" ] && may[$r]=" $rest "; done <<<"$MAY_USE"
while read -r p f; do [ -n "$p" ] && front[$p]=$f; done <<<"$PROGRAMS"

# allowed FROM TO: folder FROM may use folder TO
allowed() {
	[ "$1" = "$2" ] && return 0
	[ -n "${role[$2]:-}" ] && [[ ${may[${role[$1]}]} == *" ${role[$2]} "* ]]
}

# the C files of the tree (git's list in a checkout, else find)
if git rev-parse --is-inside-work-tree >/dev/null 2>&1; then
	files=$(git ls-files --cached --others --exclude-standard -- '*.c' '*.h')
else
	files=$(find . -path ./build -prune -o \( -name '*.c' -o -name '*.h' \) -print | sed 's|^\./||')
fi

# ---- roles: every folder with C files has one --------------------------------
for d in $(printf '%s\n' "$files" | grep / | cut -d/ -f1 | sort -u); do
	if [ -n "${role[$d]:-}" ]; then
		t_ok "role of $d/"
	else
		t_fail "$d/" "C files in a folder with no role: add it to FOLDERS in scripts/check-layers.sh"
	fi
done

# ---- includes ----------------------------------------------------------------
n=0
while IFS= read -r file; do
	from=${file%%/*}
	[ -n "${role[$from]:-}" ] || continue
	while IFS=: read -r line inc; do
		[ -n "$inc" ] || continue
		target=$(realpath -m --relative-to=. "$(dirname "$file")/$inc")
		to=${target%%/*}
		n=$((n + 1))
		if [ "$to" = "$target" ] || [ "$to" = .. ]; then
			# same folder as the root, or outside the tree
			[ "$to" = .. ] && t_fail "$file:$line" "includes \"$inc\", outside the tree"
			continue
		fi
		allowed "$from" "$to" ||
			t_fail "$file:$line" "includes \"$inc\": $from/ is a ${role[$from]}, $to/ a ${role[$to]:-folder with no role}; a ${role[$from]} may use only folders of role:${may[${role[$from]}]% }"
	done < <(grep -n '^[[:space:]]*#[[:space:]]*include[[:space:]]*"' "$file" |
		sed 's/^\([0-9]*\):[^"]*"\([^"]*\)".*/\1:\2/')
done <<<"$files"
t_ok "include lines read ($n)"

# ---- link lists --------------------------------------------------------------
# The Makefile's variables (one line each, continuations joined) expanded by
# name; each rule "$(BUILD)/TARGET: PREREQUISITES" gives the folders of its
# sources and the archives it links.
makedb=$(sed -e ':a' -e '/\\$/{N;s/\\\n//;ba' -e '}' Makefile)
declare -A var
while IFS= read -r l; do
	if [[ $l =~ ^([A-Za-z_][A-Za-z0-9_]*)[[:space:]]*[:?+]?=[[:space:]]*(.*)$ ]]; then
		var[${BASH_REMATCH[1]}]=${BASH_REMATCH[2]}
	fi
done <<<"$makedb"

expand() { # TEXT -> TEXT with $(NAME) replaced (at most 200 times)
	local s=$1 n=0 name
	while [[ $s =~ \$\(([A-Za-z_][A-Za-z0-9_]*)\) ]] && [ $((n += 1)) -le 200 ]; do
		name=${BASH_REMATCH[1]}
		if [ -n "${var[$name]+x}" ]; then
			s=${s//"\$($name)"/${var[$name]}}
		else
			s=${s//"\$($name)"/"@$name@"}
		fi
	done
	printf '%s\n' "$s"
}

# folders_of PREREQUISITES -> "folder" lines for sources, "archive NAME" lines
folders_of() {
	local w
	for w in $(expand "$1" | tr '(),' '   '); do
		case $w in
		@BUILD@/lib*.a) echo "archive ${w#@BUILD@/}" ;;
		@*) ;;
		*/*.c | */*.o) echo "${w%%/*}" ;;
		esac
	done | sort -u
}

declare -A rule
while IFS= read -r l; do
	[[ $l =~ ^\$\(BUILD\)/([A-Za-z0-9_.-]+):[[:space:]]*(.*)$ ]] || continue
	rule[${BASH_REMATCH[1]}]=${BASH_REMATCH[2]}
done <<<"$makedb"

check_link() { # TARGET AS-FOLDER: every folder it is made of may be used
	local target=$1 as=$2 what
	while read -r what; do
		[ -n "$what" ] || continue
		case $what in
		archive\ *)
			[ -n "${rule[${what#archive }]:-}" ] &&
				check_link "${what#archive }" "$as" ;;
		*)
			allowed "$as" "$what" || t_fail "Makefile: $target" \
				"is made of $what/ sources: $as/ is a ${role[$as]}, $what/ a ${role[$what]:-folder with no role}; a ${role[$as]} may use only folders of role:${may[${role[$as]}]% }"
		esac
	done < <(folders_of "${rule[$target]}")
}

for p in "${!front[@]}"; do
	if [ -z "${rule[$p]:-}" ]; then
		t_fail "Makefile" "no rule \$(BUILD)/$p for the program of ${front[$p]}/"
		continue
	fi
	f0=$T_FAIL
	check_link "$p" "${front[$p]}"
	[ "$T_FAIL" = "$f0" ] && t_ok "link list of $p"
done
for a in "${!rule[@]}"; do
	[[ $a == lib*.a ]] || continue
	f0=$T_FAIL
	# an archive is a library's: as if a library used each of its folders
	while read -r what; do
		case $what in
		"" | archive\ *) ;;
		*) [ "${role[$what]:-}" = library ] || [ "${role[$what]:-}" = leaf ] ||
			t_fail "Makefile: $a" "is made of $what/ sources, a ${role[$what]:-folder with no role}: archives hold libraries and leaves" ;;
		esac
	done < <(folders_of "${rule[$a]}")
	[ "$T_FAIL" = "$f0" ] && t_ok "link list of $a"
done
t_summary
