#!/bin/bash
# Functions that write without a bound, or parse numbers without saying
# that they failed, have no place in the daemons' code (curl's
# CODE_STYLE "banned functions"): use snprintf, memcpy with a checked
# length, strtol/strtoull with an end pointer.
. "$(dirname "$0")/lib/common.bash"
banned='\b(gets|sprintf|vsprintf|strcpy|strcat|strncat|strtok|atoi|atol|atoll|tmpnam|mktemp)[[:space:]]*\('
hits=$(grep -nE "$banned" "$SRC"/common/*.c "$SRC"/agent/*.c "$SRC"/agent/*/*.c "$SRC"/collector/*.c "$SRC"/collector/*/*.c "$SRC"/collector/*/*/*.c 2>/dev/null |
    grep -vE '//.*|/\*.*\*/')
[ -z "$hits" ] || fail "banned functions in use:
$hits"
pass "no banned function in common/, agent/, collector/"
