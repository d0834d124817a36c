#!/bin/bash
# The man pages (docs/man/) agree with the programs: every option that
# 'PROGRAM --help' and 'PROGRAM COMMAND --help' print is in PROGRAM(8) and
# every option PROGRAM(8) names is printed by one of them; every key the
# config parsers accept (the config_key tables of agent/agentconf*.c and
# collector/config/collconf*.c) is an entry of the .conf(5) page and every entry
# there is in a table; and man(1) renders each page without a warning.
# Nothing is listed here: a new option or key fails this test until its
# page says what it does.
. "$(dirname "$0")/lib/common.bash"
need_bins vantage-agent vantage-collector
command -v man >/dev/null || skip "man is missing (scripts/install-deps installs man-db and groff)"
MAN=$SRC/docs/man

# help_opts PROG — long and short options in the global help and in every
# command's help (the commands are the global help's "commands:" list).
help_opts() {
    local prog=$1 cmds c
    cmds=$("$BIN/$prog" --help | awk '/^commands:/ { f = 1; next } f && /^$/ { exit }
                                      f && /^  [a-z]/ { print $1 }')
    [ -n "$cmds" ] || fail "$prog --help lists no commands"
    {
        "$BIN/$prog" --help
        for c in $cmds; do
            "$BIN/$prog" "$c" --help || fail "$prog $c --help failed"
        done
    } | grep -oE -- '(^|[][ ,|(])--?[a-zA-Z][a-z-]*' | sed 's/^[^-]*//' | sort -u
}

# page_opts PAGE — options the page names ("\-\-name", "\-c"), outside
# comments and EXAMPLES (whose commands may belong to other programs).
page_opts() {
    awk '/^\.SH/ { ex = ($0 ~ /EXAMPLES/) } !ex && !/^\.\\"/' "$1" | grep -oE '(^|[][ ,|(]|\\fB|^\.[A-Z]+ )\\-(\\-)?[a-zA-Z][a-z\\-]*' |
        sed -e 's/^[^\\]*//' -e 's/\\-/-/g' | sort -u
}

# table_keys FILE... — every key of every config_key table in C files.
table_keys() {
    awk '/static const struct config_key [a-z_]+\[\] *= *\{/ { f = 1 }
         f { print } f && /\};/ { f = 0 }' "$@" | grep -oE '\{"[a-z_0-9]+"' | tr -d '{"' | sort -u
}

# page_keys PAGE — the keys the page documents: ".BI \"KEY = \"".
page_keys() {
    grep -oE '^\.BI "[a-z_0-9]+ = "' "$1" | sed -E 's/^\.BI "([a-z_0-9]+) = "/\1/' | sort -u
}

compare() { # WHAT WANT HAVE
    local missing extra
    missing=$(comm -23 <(echo "$2") <(echo "$3") | tr '\n' ' ')
    extra=$(comm -13 <(echo "$2") <(echo "$3") | tr '\n' ' ')
    [ -z "$missing" ] || fail "$1: missing from the page: $missing"
    [ -z "$extra" ] || fail "$1: on the page but not in the program: $extra"
}

for prog in vantage-agent vantage-collector; do
    want=$(help_opts "$prog")
    [ "$(wc -l <<<"$want")" -ge 5 ] || fail "$prog: too few options found in --help: $want"
    compare "$prog(8) options" "$want" "$(page_opts "$MAN/$prog.8")"
done
agent_keys=$(table_keys "$SRC"/agent/agentconf*.c)
grep -qx secret_key <<<"$agent_keys" || fail "no keys found in agent/agentconf.c"
compare "vantage-agent.conf(5) keys" "$agent_keys" "$(page_keys "$MAN/vantage-agent.conf.5")"
coll_keys=$(table_keys "$SRC"/collector/config/collconf*.c)
grep -qx authorized_keys <<<"$coll_keys" || fail "no keys found in collector/config/collconf.c"
compare "vantage-collector.conf(5) keys" "$coll_keys" "$(page_keys "$MAN/vantage-collector.conf.5")"

for page in "$MAN"/*.[58]; do
    warnings=$(LC_ALL=C.UTF-8 MANWIDTH=80 man --warnings -l "$page" 2>&1 >/dev/null)
    [ -z "$warnings" ] || fail "$(basename "$page") renders with warnings: $warnings"
    LC_ALL=C.UTF-8 man -l "$page" 2>/dev/null | grep -q . || fail "$(basename "$page") renders empty"
done
pass "options of both programs, keys of both config files, 4 pages render cleanly"
