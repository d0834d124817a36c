#!/bin/bash
# Vantage runs in the lab: "lab vantage up" starts the collector and an
# agent on every host, and every agent reports. Networks come from the
# "site" labels, or (--no-site) from each office's public address as the
# collector sees it through NAT. A fault at one office shows in that
# office's results only.
set -uo pipefail
VANTAGE_LAB_PREFIX=vtv-
. "$(dirname "$0")/testlib.sh"
lab_require

BIN=${VANTAGE_BIN_DIR:-}
[ -x "$BIN/vantage-agent" ] && [ -x "$BIN/vantage-collector" ] ||
    skip "no Vantage binaries in '$BIN' (build first)"
"$BIN/vantage-collector" --help 2>&1 | grep -q 'agents' ||
    skip "this vantage-collector has no 'agents' command yet"
export VANTAGE_LAB_INTERVAL=3s

trap '"$LAB" down >/dev/null 2>&1' EXIT
"$LAB" down >/dev/null 2>&1
"$LAB" up || {
    echo "FAIL: lab up"
    exit 1
}

declare -A SITE=([hq1]=hq [hq2]=hq [br1]=branch [br2]=branch [home1]=home)
declare -A PUBLIC=([hq1]=198.51.100.10 [hq2]=198.51.100.10 [br1]=198.51.100.20
    [br2]=198.51.100.20 [home1]=198.51.100.30)

# Prints "name network address" per agent from "agents --json".
agents() {
    "$LAB" collector agents --json | /usr/bin/python3 -c '
import json, sys
for line in sys.stdin:
    if line.strip():
        a = json.loads(line)
        print(a.get("name"), a.get("network"), a.get("address"))'
}

check_networks() {
    local mode=$1 out h want ok=yes
    out=$(agents)
    for h in "${!SITE[@]}"; do
        if [ "$mode" = site ]; then want=${SITE[$h]}; else want=${PUBLIC[$h]}; fi
        if ! grep -q "^$h $want ${PUBLIC[$h]}$" <<<"$out"; then
            fail "$mode: agent $h: want network $want from ${PUBLIC[$h]}, agents say: $(tr '\n' ';' <<<"$out")"
            ok=no
        fi
    done
    [ $ok = yes ] && pass "$mode: 5 agents, networks $([ "$mode" = site ] && echo "from site labels" || echo "from egress addresses")"
}

if "$LAB" vantage up; then
    pass "vantage up with site labels: every agent reports"
    check_networks site
else
    fail "vantage up (site labels)"
fi

if "$LAB" vantage up --no-site; then
    pass "vantage up without site labels: every agent reports"
    check_networks egress
else
    fail "vantage up --no-site"
fi

# The newest imaps result of one agent: "error" field.
latest_imaps() {
    "$LAB" collector results --agent "$1" --json 2>/dev/null | /usr/bin/python3 -c '
import json, sys
last = "none"
for line in sys.stdin:
    if line.strip():
        r = json.loads(line)
        if r.get("check") == "imaps://mail.example.com":
            last = r.get("error", "none")
print(last)'
}

"$LAB" fault block-port branch 993 reject
seen=""
for i in $(seq 1 30); do
    if [ "$(latest_imaps br1)" = tcp_refused ] && [ "$(latest_imaps br2)" = tcp_refused ]; then
        seen=yes
        break
    fi
    sleep 1
done
hq=$(latest_imaps hq1)
home=$(latest_imaps home1)
if [ "$seen" = yes ] && [ "$hq" = ok ] && [ "$home" = ok ]; then
    pass "a blocked port at branch shows as tcp_refused from br1 and br2 only"
else
    fail "fault at branch: br1 $(latest_imaps br1), br2 $(latest_imaps br2), hq1 $hq, home1 $home"
fi
"$LAB" clear

"$LAB" vantage down
[ -z "$(ps -e -o args= | grep -F "$LAB_RUN/vantage" | grep -v grep)" ] &&
    pass "vantage down stops collector and agents" ||
    fail "vantage processes left after 'vantage down'"

"$LAB" down
left=$(lab_leftovers)
[ -z "$left" ] && pass "down leaves nothing behind" || fail "down leaves: $left"

[ "$FAILS" -eq 0 ] || {
    echo "$FAILS failure(s)"
    exit 1
}
echo "all passed"
