#!/bin/bash
# The lab comes up, works and goes down cleanly, twice in a row; "down"
# also cleans up after a crash that lost the run directory, and is
# idempotent. "Clean" means: no namespace, root-namespace link, /etc/netns
# entry, run directory or process of this prefix is left.
set -uo pipefail
VANTAGE_LAB_PREFIX=vtu-
. "$(dirname "$0")/testlib.sh"
lab_require

trap '"$LAB" down >/dev/null 2>&1' EXIT
"$LAB" down >/dev/null 2>&1 # a previous run that was killed

# Every process in the lab's namespaces, so we can check each one is gone.
lab_pids() {
    local n
    for n in $(ip netns list | awk '{ print $1 }' | grep "^$VANTAGE_LAB_PREFIX"); do
        ip netns pids "$n"
    done
}

check_clean() {
    local what=$1 left pids=$2 p alive=""
    left=$(lab_leftovers)
    if [ -n "$left" ]; then
        fail "$what leaves: $left"
    else
        pass "$what leaves nothing behind"
    fi
    for p in $pids; do
        # A zombie is dead (its parent, PID 1, may reap it later).
        if [ -e "/proc/$p" ] && ! awk '{ sub(/.*\) /, ""); exit $1 == "Z" ? 1 : 0 }' "/proc/$p/stat" 2>/dev/null; then
            :
        elif [ -e "/proc/$p" ]; then
            alive="$alive $p"
        fi
    done
    [ -z "$alive" ] || fail "$what leaves processes alive:$alive"
}

for round in 1 2; do
    start=$SECONDS
    if "$LAB" up; then
        pass "round $round: up in $((SECONDS - start)) s"
    else
        fail "round $round: up failed"
        continue
    fi
    [ $((SECONDS - start)) -le 30 ] || fail "round $round: up took more than 30 s"
    if "$LAB" up >/dev/null 2>&1; then
        fail "round $round: a second 'up' on a live lab succeeded"
    fi
    if out=$("$LAB" status) && ! grep -q DEAD <<<"$out"; then
        pass "round $round: status shows every daemon running"
    else
        fail "round $round: status: $out"
    fi
    # The lab works: every host reaches mail and webmail by name, through
    # its own office's resolver and NAT.
    for h in hq1 hq2 br1 br2 home1; do
        if out=$("$LAB" check --login "$h" dns://example.com/MX imaps://mail.example.com \
            submission://mail.example.com https://webmail.example.com/ 2>&1); then
            pass "round $round: $h reaches the mail service"
        else
            fail "round $round: $h: $out"
        fi
    done
    # The mail server sees the office's public address, not the LAN one.
    "$LAB" exec br1 bash -c 'exec 3<>/dev/tcp/203.0.113.10/993; sleep 1' &
    bg=$!
    sleep 0.3
    peers=$("$LAB" exec mail ss -Htn state established '( sport = :993 )' | awk '{ print $4 }')
    wait $bg
    if grep -q '^198\.51\.100\.20:' <<<"$peers"; then
        pass "round $round: branch traffic arrives from its public address"
    else
        fail "round $round: server saw peers '$peers', want 198.51.100.20"
    fi
    pids=$(lab_pids)
    [ -n "$pids" ] || fail "round $round: no processes found in the lab"
    if "$LAB" down; then
        check_clean "round $round: down" "$pids"
    else
        fail "round $round: down failed"
    fi
done

# Crash: the run directory (with its PID files) is gone, the namespaces
# and daemons are not. "down" must still find and remove everything.
if "$LAB" up >/dev/null 2>&1; then
    pids=$(lab_pids)
    rm -rf "$LAB_RUN"
    "$LAB" down >/dev/null 2>&1 || fail "down after a crash failed"
    check_clean "down after a crash" "$pids"
else
    fail "up before the crash test failed"
fi
"$LAB" down >/dev/null 2>&1 && pass "down on nothing succeeds" || fail "down on nothing failed"

[ "$FAILS" -eq 0 ] || {
    echo "$FAILS failure(s)"
    exit 1
}
echo "all passed"
