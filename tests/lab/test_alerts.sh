#!/bin/bash
# Issue 11's "done when": a fault injected in the lab reaches Alertmanager
# and a webhook, and resolves when healed. A real prometheus-alertmanager
# and a python3 webhook receiver (which checks every X-Vantage-Signature,
# HMAC-SHA256 of the body under the shared secret) listen on the loopback
# of the collector's namespace "coll" (the collector runs there, so that
# is the loopback it reaches). The lab comes up with VANTAGE_LAB_ALERTMANAGER,
# VANTAGE_LAB_WEBHOOK(_SECRET_FILE) and evaluate_every = 1 s; dovecot on
# the mail server stops; the service finding must show up in
# Alertmanager's /api/v2/alerts with its routing labels and at the
# webhook as a signed "opened" of the same id; after "lab clear" the
# webhook gets a signed "resolved" of that id and Alertmanager ends the
# alert (well before the four minutes of endsAt an open alert carries).
# About 30 seconds.
set -uo pipefail
VANTAGE_LAB_PREFIX=${VANTAGE_LAB_PREFIX:-vta-}
. "$(dirname "$0")/testlib.sh"
lab_require

AM=$(command -v prometheus-alertmanager) ||
    skip "prometheus-alertmanager is missing (scripts/install-deps installs it)"
BIN=${VANTAGE_BIN_DIR:-}
[ -x "$BIN/vantage-agent" ] && [ -x "$BIN/vantage-collector" ] ||
    skip "no Vantage binaries in '$BIN' (build first)"

started=$SECONDS
COLL=${VANTAGE_LAB_PREFIX}coll
AM_URL=http://127.0.0.1:9093
HOOK_URL=http://127.0.0.1:9099/vantage
DIAG_INTERVAL=5
export VANTAGE_LAB_INTERVAL=${DIAG_INTERVAL}s VANTAGE_LAB_EVALUATE_EVERY=1s
# No logins and no test mail: fewer checks per probe-now round, and the
# fault (dovecot stopped) is one finding about the server either way.
export VANTAGE_LAB_CREDENTIALS=no

T=$(mktemp -d /tmp/vantage-lab-alerts.XXXXXX)
PIDS=()
cleanup() {
    local p
    for p in "${PIDS[@]}"; do
        kill "$p" 2>/dev/null
        wait "$p" 2>/dev/null
    done
    "$LAB" down >/dev/null 2>&1
    rm -rf "$T"
}
trap cleanup EXIT
"$LAB" down >/dev/null 2>&1
"$LAB" up >/dev/null || {
    echo "FAIL: lab up"
    exit 1
}

# ---- the receivers, in coll ("ip netns exec" execs them: $! is theirs)
cat >"$T/am.yml" <<'YML'
route:
  receiver: "null"
receivers:
  - name: "null"
YML
ip netns exec "$COLL" "$AM" --config.file="$T/am.yml" --storage.path="$T/amdata" \
    --web.listen-address=127.0.0.1:9093 --cluster.listen-address= >"$T/am.log" 2>&1 &
PIDS+=($!)

printf 'lab-alerts-shared-secret\n' >"$T/hook.secret"
chmod 600 "$T/hook.secret"
cat >"$T/receiver.py" <<'PY'
import hashlib, hmac, json, sys
from http.server import BaseHTTPRequestHandler, HTTPServer
secret = open(sys.argv[2], "rb").read().strip()
out = sys.argv[3]
class H(BaseHTTPRequestHandler):
    def do_POST(self):
        body = self.rfile.read(min(int(self.headers.get("Content-Length", "0")), 1 << 20))
        want = "sha256=" + hmac.new(secret, body, hashlib.sha256).hexdigest()
        ok = hmac.compare_digest(want, self.headers.get("X-Vantage-Signature", ""))
        try:
            ev = json.loads(body)
        except ValueError:
            ev = {}
        rec = {"signed": ok, "path": self.path}
        for k in ("event", "id", "target", "verdict", "layer", "severity"):
            rec[k] = ev.get(k)
        with open(out, "a") as f:
            f.write(json.dumps(rec) + "\n")
        self.send_response(200 if ok else 401)
        self.end_headers()
    def log_message(self, *a):
        pass
HTTPServer(("127.0.0.1", int(sys.argv[1])), H).serve_forever()
PY
ip netns exec "$COLL" /usr/bin/python3 "$T/receiver.py" 9099 "$T/hook.secret" "$T/events.jsonl" \
    >"$T/receiver.log" 2>&1 &
PIDS+=($!)

incoll() { ip netns exec "$COLL" "$@"; }
am_alerts() { incoll curl -sf --max-time 2 "$AM_URL/api/v2/alerts"; }
ready=no
for _ in $(seq 1 100); do
    if am_alerts >/dev/null && incoll bash -c 'exec 3<>/dev/tcp/127.0.0.1/9099' 2>/dev/null; then
        ready=yes
        break
    fi
    sleep 0.1
done
[ $ready = yes ] || {
    echo "FAIL: Alertmanager or the receiver did not start in coll"
    tail -n 5 "$T/am.log" "$T/receiver.log"
    exit 1
}

export VANTAGE_LAB_ALERTMANAGER=$AM_URL VANTAGE_LAB_WEBHOOK=$HOOK_URL
export VANTAGE_LAB_WEBHOOK_SECRET_FILE=$T/hook.secret
"$LAB" vantage up >/dev/null || {
    echo "FAIL: lab vantage up"
    exit 1
}
CONF=$LAB_RUN/vantage/collector/collector.conf
grep -q "^evaluate_every = 1s" "$CONF" && grep -q "^alertmanager = $AM_URL" "$CONF" &&
    grep -q "^webhook = $HOOK_URL" "$CONF" && grep -q "^secret_file = $T/hook.secret" "$CONF" &&
    pass "the lab's collector.conf has evaluate_every and both [notify] sections" ||
    fail "collector.conf lacks the notify settings: $(cat "$CONF")"
diag_expect "all healthy before the fault" '{"status": "ok"}'

# ---- the fault: every agent probes now until both receivers have it
diag_fault service mail dovecot
# webhook_id EVENT: the id of the signed EVENT of a service finding of the
# lab's target at the receiver, if any.
webhook_id() {
    /usr/bin/python3 - "$T/events.jsonl" "$1" <<'PY' 2>/dev/null
import json, sys
for line in open(sys.argv[1]):
    e = json.loads(line)
    if e["signed"] and e["event"] == sys.argv[2] and e["target"] == "lab-mail" \
            and e["verdict"] == "service" and (e["id"] or "").startswith("f-"):
        print(e["id"])
        break
PY
}
# am_state ID: "active" while Alertmanager holds ID's alert with every
# routing label right; why not otherwise.
am_state() {
    am_alerts | /usr/bin/python3 -c '
import json, sys
want = sys.argv[1]
for a in json.load(sys.stdin):
    l = a["labels"]
    if l.get("finding_id") != want:
        continue
    bad = [k for k, v in (("alertname", "VantageFinding"), ("target", "lab-mail"),
           ("verdict", "service"), ("severity", "problem")) if l.get(k) != v]
    if not l.get("layer"):
        bad.append("layer")
    if bad:
        print("labels %s wrong: %s" % (bad, l))
    else:
        print("%s (layer %s, ends %s)" % (a["status"]["state"], l["layer"], a["endsAt"]))
    sys.exit(0)
print("absent")
' "$1"
}
t=$SECONDS
ID=""
AMSEEN=""
while [ $((SECONDS - t)) -lt 30 ]; do
    diag_probe
    [ -z "$ID" ] && ID=$(webhook_id opened)
    if [ -n "$ID" ]; then
        AMSEEN=$(am_state "$ID")
        [[ $AMSEEN == active* ]] && break
    fi
    sleep 1
done
if [ -n "$ID" ]; then
    pass "webhook: signed 'opened' of service finding $ID ($((SECONDS - t)) s after the fault)"
else
    fail "webhook: no signed 'opened' of a service finding after $((SECONDS - t)) s: $(cat "$T/events.jsonl" 2>/dev/null)"
    diag_dump
fi
if [[ $AMSEEN == active* ]]; then
    pass "Alertmanager: $ID $AMSEEN, labels alertname/target/verdict/layer/severity right"
else
    fail "Alertmanager: finding '$ID' is ${AMSEEN:-not there}: $(am_alerts)"
fi
grep -q '"signed": false' "$T/events.jsonl" 2>/dev/null && fail "a badly signed POST: $(cat "$T/events.jsonl")"

# ---- the same finding in a browser's and Prometheus's view: 'lab web'
# brings coll's HTTP endpoint to this machine's loopback.
WEB=$(/usr/bin/python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
"$LAB" web "$WEB" >"$T/web.log" 2>&1 &
PIDS+=($!)
metrics=""
for _ in $(seq 1 50); do
    metrics=$(curl -sf --max-time 2 "http://127.0.0.1:$WEB/metrics") && break
    sleep 0.1
done
page=$(curl -sf --max-time 2 "http://127.0.0.1:$WEB/" || true)
if grep -q '^vantage_check_up{' <<<"$metrics" &&
    grep -q '^vantage_findings_open{.*verdict="service"' <<<"$metrics" &&
    grep -q "lab-mail" <<<"$page"; then
    pass "lab web: /metrics has vantage_check_up and the open service finding; / shows lab-mail"
else
    fail "lab web: metrics or status page wrong: $(head -c 600 <<<"$metrics") / $(head -c 300 <<<"$page") $(cat "$T/web.log")"
fi

# ---- heal: both must see the resolve
"$LAB" clear >/dev/null || fail "lab clear"
t=$SECONDS
RID=""
AMSEEN=""
while [ -n "$ID" ] && [ $((SECONDS - t)) -lt 30 ]; do
    diag_probe
    [ -z "$RID" ] && RID=$(webhook_id resolved)
    [ -n "$RID" ] && AMSEEN=$(am_state "$ID") && [ "$AMSEEN" = absent ] && break
    sleep 1
done
[ -n "$ID" ] && [ "$RID" = "$ID" ] &&
    pass "webhook: signed 'resolved' of $ID ($((SECONDS - t)) s after lab clear)" ||
    fail "webhook: no signed 'resolved' of '$ID' (got '$RID'): $(cat "$T/events.jsonl" 2>/dev/null)"
# Gone from /api/v2/alerts (which lists only alerts not yet ended) while
# Alertmanager answers: the collector sent endsAt, since an open alert's
# endsAt is minutes ahead.
if [ -n "$ID" ] && [ "$AMSEEN" = absent ] && am_alerts >/dev/null; then
    pass "Alertmanager: $ID ended"
else
    fail "Alertmanager: $ID not ended: ${AMSEEN:-never seen}: $(am_alerts)"
fi
"$LAB" collector findings --target lab-mail --json 2>/dev/null | /usr/bin/python3 -c '
import json, sys
ev = [(e.get("event"), e.get("id")) for e in map(json.loads, filter(str.strip, sys.stdin))]
sys.exit(0 if ("opened", sys.argv[1]) in ev and ("resolved", sys.argv[1]) in ev else 1)
' "$ID" || fail "the collector's findings history lacks the opened and resolved of $ID"

for p in "${PIDS[@]}"; do
    kill "$p" 2>/dev/null
    wait "$p" 2>/dev/null
done
PIDS=()
"$LAB" down >/dev/null
rm -rf "$T"
trap - EXIT
left=$(lab_leftovers)
[ -z "$left" ] && pass "down leaves nothing behind" || fail "down leaves: $left"

echo "took $((SECONDS - started)) s"
[ "$FAILS" -eq 0 ] || {
    echo "$FAILS failure(s)"
    exit 1
}
echo "all passed"
