#!/bin/bash
# Webhook notifications end to end: a small python3 http.server receiver
# checks every X-Vantage-Signature (HMAC-SHA256 of the body under
# secret_file's secret) and records the events. A tcp:// check to a closed
# loopback port opens a finding (event opened: the receiver's first answer
# is a 500, so it is delivered on the retry). The receiver
# then goes down; the port heals, so "resolved" fails to send and waits in
# the store's queue; the collector is restarted while it waits; with the
# receiver back, the same collector database delivers it: exactly one
# opened, then exactly one resolved, both signed, nothing lost, nothing
# repeated. evaluate_every is 1 s.
. "$(dirname "$0")/lib/common.bash"
need_bins vantage-agent vantage-collector

PORT=$(free_port)
CPORT=$(free_port)
HPORT=$(free_port)
cd "$T"

printf 's3cret-for-the-test\n' >webhook.secret
chmod 600 webhook.secret
cat >receiver.py <<'PY'
import hashlib, hmac, json, sys
from http.server import BaseHTTPRequestHandler, HTTPServer
secret = open(sys.argv[2], "rb").read().strip()
import os
class H(BaseHTTPRequestHandler):
    def do_POST(self):
        n = int(self.headers.get("Content-Length", "0"))
        body = self.rfile.read(n)
        if not os.path.exists("answered-500"):
            # The first POST ever gets a server error: it must be retried.
            open("answered-500", "w").close()
            self.send_response(500)
            self.end_headers()
            return
        want = "sha256=" + hmac.new(secret, body, hashlib.sha256).hexdigest()
        got = self.headers.get("X-Vantage-Signature", "")
        ok = hmac.compare_digest(want, got)
        ev = json.loads(body)
        with open("events.txt", "a") as f:
            f.write("%s %s %s %s\n" % ("signed" if ok else "BADSIG", ev["event"], ev["id"], ev["target"]))
        self.send_response(200 if ok else 401)
        self.end_headers()
    def log_message(self, *a):
        pass
HTTPServer(("127.0.0.1", int(sys.argv[1])), H).serve_forever()
PY
receiver_up() {
    start_bg receiver python3 receiver.py "$HPORT" webhook.secret
    RECEIVER=$LAST_PID
    wait_for 10 "the receiver to listen" python3 -c "import socket; socket.create_connection(('127.0.0.1', $HPORT), 1)"
}
receiver_up

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

[notify hook]
webhook = http://127.0.0.1:$HPORT/vantage
secret_file = webhook.secret
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
start_bg collector "${C[@]}" serve
COLLECTOR=$LAST_PID
start_bg agent "$BIN/vantage-agent" run -c agent.conf

got() { grep -q "^signed $1 " events.txt 2>/dev/null; }
wait_for 25 "the opened event at the receiver" got opened
grep -q "hook\]: sending failed (HTTP 500)" collector.log || fail "the first POST's 500 was not retried"
grep -q BADSIG events.txt && fail "a bad signature: $(cat events.txt)"

# Receiver down, fault healed: resolved cannot be delivered.
stop_pid "$RECEIVER"
tcp_listener "$PORT"
resolved() { "${C[@]}" findings --json --target mail | grep -q '"event":"resolved"'; }
wait_for 25 "the finding to resolve" resolved
failed_once() { grep -q "hook\]: sending failed" collector.log; }
wait_for 10 "a failed send of resolved" failed_once
stop_pid "$COLLECTOR"
got resolved && fail "resolved was delivered to a stopped receiver: $(cat events.txt)"

# Restart the collector first, then the receiver: the queued resolved
# arrives once.
start_bg collector "${C[@]}" serve
receiver_up
wait_for 30 "the queued resolved event after the restart" got resolved
sleep 1 # time for a wrong repeat to arrive
python3 - events.txt <<'PY' || fail "events: $(cat events.txt)"
import sys
lines = [l.split() for l in open(sys.argv[1])]
assert all(l[0] == "signed" for l in lines), lines
assert [l[1] for l in lines] == ["opened", "resolved"], lines
assert lines[0][2] == lines[1][2] and lines[0][2].startswith("f-"), lines
PY
grep -q "s3cret" collector.log && fail "the secret is in the log"
pass "opened then resolved, each once, signed; resolved survived a receiver outage and a collector restart"
