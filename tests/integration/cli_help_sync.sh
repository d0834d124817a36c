#!/bin/bash
# Help and documentation agree: for every subcommand in README.md's
# "Command line" block, 'PROGRAM SUBCOMMAND --help' works and lists the
# same options as that block and as the subcommand's section of
# docs/reference.md; every subcommand a program's --help lists is in the
# block. (-c in the README block stands for -c/--config; --help itself is
# left out of the comparison: every command takes it.)
. "$(dirname "$0")/lib/common.bash"
need_bins vantage-agent vantage-collector
README=$SRC/README.md
REF=$SRC/docs/reference.md
[ -f "$REF" ] || fail "docs/reference.md is missing"

# Subcommands another branch adds: until the binary knows one, it is
# skipped with a note; once it does, it is checked like the others.
PENDING=""

# The block, with continuation lines joined to their command.
block=$(awk '/^## Command line/ { f = 1; next }
             f && /^```/ { if (inb) exit; inb = 1; next }
             inb && /^ / { sub(/^ +/, " "); line = line $0; next }
             inb { if (line != "") print line; line = $0 }
             END { if (line != "") print line }' "$README")
[ -n "$block" ] || fail "no command block under '## Command line' in README.md"

# opts TEXT — the long options TEXT names, sorted, without --help.
opts() {
    grep -oE -- '(^|[][ ,`(])--[a-z][a-z-]*' <<<"$1" | sed 's/^[^-]*//' | grep -vx -- '--help' |
        sort -u
}

checked=0
listed=""
while read -r prog rest; do
    [ -n "$prog" ] || continue
    sub=$(sed -E 's/^\[?-c [^] ]+\]? *//' <<<"$rest" | awk '{print $1}')
    listed+=" $prog:$sub"
    want=$(opts "$rest")
    if grep -qE '(^|[[ ])-c ' <<<"$rest"; then
        want=$(printf '%s\n--config\n' "$want" | grep -v '^$' | sort -u)
    fi
    help=$("$BIN/$prog" "$sub" --help 2>&1)
    rc=$?
    if [ "$rc" != 0 ]; then
        if [[ $PENDING == *" $prog:$sub "* ]] && grep -q "unknown command" <<<"$help"; then
            echo "note: $prog $sub is not built on this branch yet; skipped" >&2
            continue
        fi
        fail "'$prog $sub --help' exited $rc: $help"
    fi
    grep -q "^usage: $prog .*$sub" <<<"$help" || fail "'$prog $sub --help' has no usage line of its own: $help"
    grep -qi "exit status" <<<"$help" || fail "'$prog $sub --help' does not give its exit status"
    have=$(opts "$help")
    [ "$have" = "$want" ] || fail "$prog $sub: --help lists [$(echo $have)], README lists [$(echo $want)]"
    section=$(awk -v h="### $prog $sub" '$0 == h { f = 1; next } f && /^##/ { exit } f' "$REF")
    [ -n "$section" ] || fail "docs/reference.md has no section '### $prog $sub'"
    ref=$(opts "$section")
    [ "$ref" = "$want" ] || fail "$prog $sub: docs/reference.md lists [$(echo $ref)], --help [$(echo $have)]"
    checked=$((checked + 1))
done <<<"$block"

# The other way round: what each program offers is in the block.
for prog in vantage-agent vantage-collector; do
    subs=$("$BIN/$prog" --help | awk '/^commands:/ { f = 1; next } f && /^$/ { exit } f && /^  [a-z]/ { print $1 }')
    [ -n "$subs" ] || fail "$prog --help lists no commands"
    for sub in $subs; do
        [[ $listed == *" $prog:$sub"* ]] || fail "$prog $sub is missing from README's command block"
    done
done
[ "$checked" -ge 11 ] || fail "only $checked subcommands checked"
pass "$checked subcommands: --help, README and docs/reference.md list the same options"
