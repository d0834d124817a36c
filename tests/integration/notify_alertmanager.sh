#!/bin/bash
# Continuous diagnosis end to end with a real Alertmanager (Debian's
# prometheus-alertmanager, started here on loopback with its own config
# and storage): a tcp:// check to a closed loopback port opens a finding
# after two evaluations; it reaches Alertmanager's /api/v2/alerts with
# the routing labels and annotations; `findings`, `timeline` and the
# Nagios `check` (CRITICAL) show it; once the port listens again it
# resolves, Alertmanager's alert ends, and check says OK. evaluate_every
# is 1 s; the agent probes every second.
. "$(dirname "$0")/lib/common.bash"
need_bins vantage-agent vantage-collector
AM=$(command -v prometheus-alertmanager) || skip "prometheus-alertmanager is missing (scripts/install-deps installs it)"

PORT=$(free_port)
CPORT=$(free_port)
AMPORT=$(free_port)
cd "$T"

cat >am.yml <<'YML'
route:
  receiver: "null"
receivers:
  - name: "null"
YML
start_bg alertmanager "$AM" --config.file=am.yml --storage.path=amdata \
    --web.listen-address=127.0.0.1:$AMPORT --cluster.listen-address=
am_alerts() {
    python3 -c '
import json, sys, urllib.request
print(json.dumps(json.load(urllib.request.urlopen("http://127.0.0.1:%s/api/v2/alerts" % sys.argv[1], timeout=2))))
' "$AMPORT"
}
wait_for 15 "Alertmanager to answer" am_alerts

"$BIN/vantage-collector" keygen --out keys >/dev/null || fail "collector keygen"
"$BIN/vantage-agent" keygen --out ka >/dev/null || fail "agent keygen"
echo "$(cat ka/agent.pub) a1" >authorized_keys
cat >collector.conf <<CONF
$(collector_section)
evaluate_every = 1s

[target mail]
check = tcp://127.0.0.1:$PORT
interval = 1s
timeout = 1s

[notify ops]
alertmanager = http://127.0.0.1:$AMPORT
timeout = 2s
CONF
cat >agent.conf <<CONF
[agent]
name = a1
site = lab
collector = tcp://127.0.0.1:$CPORT
collector_public_key = $(cat keys/collector.pub)
secret_key = ka/agent.key
spool = spool.db
CONF
C=("$BIN/vantage-collector" -c collector.conf)

# Nagios: no data yet is UNKNOWN (3); an unknown target too.
"${C[@]}" check mail >check.out
rc=$?
[ $rc = 3 ] || fail "check without data exited $rc: $(cat check.out)"
grep -q "^VANTAGE UNKNOWN - mail: no data" check.out || fail "check without data: $(cat check.out)"
"${C[@]}" check nosuch >check.out
[ $? = 3 ] || fail "check of an unknown target is not UNKNOWN: $(cat check.out)"
"${C[@]}" check --bogus mail >check.out 2>/dev/null
[ $? = 3 ] || fail "check with a usage error is not UNKNOWN: $(cat check.out)"
grep -q "^VANTAGE UNKNOWN - usage error" check.out || fail "check usage error line: $(cat check.out)"

start_bg collector "${C[@]}" serve
start_bg agent "$BIN/vantage-agent" run -c agent.conf

# The fault: nothing listens on $PORT. Opened after two evaluations.
open_finding() { "${C[@]}" findings --open --json >open.json 2>open.err; grep -q "\"target\":\"mail\"" open.json; }
wait_for 25 "a finding to open" open_finding
ID=$("${C[@]}" findings --open --json | python3 -c 'import json,sys; print(json.loads(sys.stdin.readline())["id"])')
[[ $ID =~ ^f-[0-9a-f]{16}$ ]] || fail "finding id '$ID' is not f- and 16 hex digits"
# diagnose shows the same id.
"${C[@]}" diagnose mail --json | grep -q "\"id\":\"$ID\"" || fail "diagnose does not show id $ID"
in_am() {
    am_alerts | python3 -c '
import json, sys
want = sys.argv[1]
for a in json.load(sys.stdin):
    l = a["labels"]
    if l.get("finding_id") == want:
        assert l["alertname"] == "VantageFinding", l
        assert l["target"] == "mail" and l["severity"] == "problem", l
        assert l["verdict"] and l["layer"] == "tcp", l
        ann = a["annotations"]
        assert ann["summary"] and ann["evidence"] and ann["next_steps"], ann
        assert a["status"]["state"] == "active", a
        sys.exit(0)
sys.exit(1)
' "$ID"
}
wait_for 10 "the finding in Alertmanager's /api/v2/alerts" in_am
"${C[@]}" check mail >check.out
rc=$?
[ $rc = 2 ] || fail "check while the port is closed exited $rc, not 2: $(cat check.out)"
grep -Eq "^VANTAGE CRITICAL - mail: 1 problem.*\| problems=1;;1;0 .*open_findings=1;;;0 agents=1;;;0" check.out ||
    fail "check line: $(cat check.out)"

# Heal: the port listens. Resolved after two clean evaluations.
tcp_listener "$PORT"
resolved() { "${C[@]}" findings --json --target mail | grep -q '"event":"resolved"'; }
wait_for 25 "the finding to resolve" resolved
not_in_am() {
    am_alerts | python3 -c '
import json, sys
for a in json.load(sys.stdin):
    if a["labels"].get("finding_id") == sys.argv[1] and a["status"]["state"] == "active":
        sys.exit(1)
' "$ID"
}
wait_for 10 "Alertmanager to end the alert" not_in_am
"${C[@]}" findings --target mail --json >hist.json
python3 - "$ID" hist.json <<'PY' || fail "findings history: $(cat hist.json)"
import json, sys
ev = [json.loads(l) for l in open(sys.argv[2])]
assert [e["event"] for e in ev] == ["opened", "resolved"], [e["event"] for e in ev]
assert all(e["id"] == sys.argv[1] and e["target"] == "mail" for e in ev), ev
PY
"${C[@]}" findings --open | grep -q "No finding is open" || fail "findings --open after the resolve"
"${C[@]}" timeline mail --json >timeline.json
grep -q "\"event\":\"opened\",\"id\":\"$ID\"" timeline.json || fail "timeline lacks the opened finding"
grep -q "\"event\":\"resolved\",\"id\":\"$ID\"" timeline.json || fail "timeline lacks the resolved finding"
"${C[@]}" check mail >check.out
rc=$?
[ $rc = 0 ] || fail "check after the heal exited $rc: $(cat check.out)"
grep -q "^VANTAGE OK - mail: healthy" check.out || fail "check line: $(cat check.out)"
pass "finding $ID opened, reached Alertmanager with its labels, resolved; check 3/2/0"
