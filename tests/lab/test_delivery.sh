#!/bin/bash
# "Is the mailbox still receiving email?" in the lab: postfix delivers to
# dovecot over LMTP, every agent runs the target's mailflow://@lab-mail
# check (added because the target has credentials and a submission check),
# and the "delivery" faults break delivery while logging in and webmail
# keep working:
#   delivery hold    accepted, held in the queue -> service/delivery
#                    mail_not_delivered, the summary says the mailbox is
#                    not receiving mail while login and webmail work; exit 1
#   delivery reject  RCPT refused with "552 5.2.2 Mailbox full" -> the
#                    finding quotes the server's text
#   delivery junk    sieve files test mail into Junk -> a warning, exit 0
# and after each, "lab clear" heals it (held mail is released, the next
# test mail deletes the leftovers). About a minute and a half.
set -uo pipefail
VANTAGE_LAB_PREFIX=${VANTAGE_LAB_PREFIX:-vtm-}
. "$(dirname "$0")/testlib.sh"
lab_require

BIN=${VANTAGE_BIN_DIR:-}
[ -x "$BIN/vantage-agent" ] && [ -x "$BIN/vantage-collector" ] ||
    skip "no Vantage binaries in '$BIN' (build first)"
[ -x /usr/lib/dovecot/lmtp ] && [ -e /usr/lib/dovecot/modules/lib90_sieve_plugin.so ] ||
    skip "dovecot-lmtpd and dovecot-sieve are needed (scripts/install-deps)"

DIAG_INTERVAL=5
export VANTAGE_LAB_INTERVAL=${DIAG_INTERVAL}s
# Test mail arrives within a second here; a held message is given up on
# after 8 s, so that a round of probe-now fits in its 30 s wait.
export VANTAGE_LAB_MAILFLOW_INTERVAL=20s VANTAGE_LAB_MAILFLOW_TIMEOUT=8s
export VANTAGE_LAB_DELIVERY_WARN=60s
started=$SECONDS

trap '"$LAB" down >/dev/null 2>&1' EXIT
"$LAB" down >/dev/null 2>&1
"$LAB" up >/dev/null || {
    echo "FAIL: lab up"
    exit 1
}
"$LAB" vantage up >/dev/null || {
    echo "FAIL: lab vantage up"
    exit 1
}

ALL='"br1", "br2", "home1", "hq1", "hq2"'
OFFICES='"branch", "home", "hq"'
FLOW=mailflow://@lab-mail

diag_expect "all healthy, test mail delivered" '{"status": "ok"}'

# Every agent's latest test mail arrived in INBOX, with its delivery facts.
if why=$("$LAB" collector results --json 2>/dev/null | FLOW=$FLOW /usr/bin/python3 -c '
import json, os, sys
last = {}
for line in sys.stdin:
    r = json.loads(line)
    if r.get("check") == os.environ["FLOW"]:
        last[r["agent"]] = r
bad = [a for a, r in last.items() if r.get("status") != "ok" or
       r.get("delivery", {}).get("folder") != "INBOX" or
       not r.get("phases_us", {}).get("delivery") or not r.get("phases_us", {}).get("submit")]
if len(last) != 5 or bad:
    print("mailflow results of %s; not delivered to INBOX with phases: %s" % (sorted(last), bad))
    sys.exit(1)
ms = sorted(r["phases_us"]["delivery"] / 1000 for r in last.values())
print("5 agents, delivery %.0f..%.0f ms, folder INBOX" % (ms[0], ms[-1]))
'); then pass "results --json: $why"; else fail "results --json: $why"; fi

diag_fault delivery hold
diag_expect "accepted, held in the queue -> service (delivery)" '{"count": 1, "findings": [
    {"verdict": "service", "layer": "delivery", "error": "mail_not_delivered", "check": "'$FLOW'",
     "agents": ['"$ALL"'], "networks": ['"$OFFICES"']}]}'
out=$("$LAB" collector diagnose lab-mail 2>&1)
rc=$?
if [ "$rc" -eq 1 ] && grep -q "not receiving mail" <<<"$out" &&
    grep -q "logging in (imaps://mail.example.com) and webmail (https://webmail.example.com/) still work" <<<"$out" &&
    grep -q "postqueue -p" <<<"$out"; then
    pass "diagnose says the mailbox is not receiving mail while login and webmail work (exit 1)"
else
    fail "diagnose (exit $rc) does not say so:"
    echo "$out" | sed 's/^/    /'
fi
# The agents gave up after the pushed mailflow_timeout (8 s), not the
# check kind's default (120 s) nor the target's timeout (5 s).
if grep -q "after 8 s" <<<"$out"; then
    pass "the agents waited the pushed mailflow_timeout (8 s)"
else
    fail "no agent's detail says it waited 8 s (the pushed mailflow_timeout)"
fi
diag_heal "hold"

diag_fault delivery reject
diag_expect "recipient refused -> service (delivery), mail_rejected" '{"count": 1, "findings": [
    {"verdict": "service", "layer": "delivery", "error": "mail_rejected", "check": "'$FLOW'",
     "agents": ['"$ALL"'], "networks": ['"$OFFICES"']}]}'
summary=$("$LAB" collector diagnose lab-mail --json 2>/dev/null |
    /usr/bin/python3 -c 'import json,sys; print(json.load(sys.stdin)["findings"][0]["summary"])')
if grep -q '552 5.2.2 .*Mailbox full (lab fault: delivery reject)' <<<"$summary"; then
    pass "the finding quotes the server: $summary"
else
    fail "the summary does not quote the server's text: $summary"
fi
diag_heal "reject"

diag_fault delivery junk
# A warning, not a problem: status warning, one service/delivery finding
# of severity warning, and diagnose exits 0.
deadline=$((SECONDS + DIAG_DEADLINE))
while :; do
    diag_probe
    why=$(diag_json | FLOW=$FLOW /usr/bin/python3 -c '
import json, os, sys
d = json.load(sys.stdin)
fs = d.get("findings", [])
got = "; ".join("%s %s/%s/%s" % (f.get("severity"), f.get("verdict"), f.get("layer"),
                f.get("error")) for f in fs) or "no findings"
ok = (d.get("status") == "warning" and len(fs) == 1 and fs[0].get("severity") == "warning" and
      fs[0].get("verdict") == "service" and fs[0].get("layer") == "delivery" and
      fs[0].get("error") == "mail_in_junk" and os.environ["FLOW"] in fs[0].get("checks", []))
print("status %s: %s" % (d.get("status"), got))
sys.exit(0 if ok else 1)
') && break
    [ "$SECONDS" -ge "$deadline" ] && break
    sleep 1
done
"$LAB" collector diagnose lab-mail >/dev/null 2>&1
rc=$?
if [ "$rc" -eq 0 ] && [[ "$why" == "status warning"* ]]; then
    pass "mail in Junk -> a warning, diagnose exits 0 ($why)"
else
    fail "mail in Junk: $why, diagnose exit $rc"
    diag_dump
fi
diag_heal "junk"

"$LAB" down >/dev/null
trap - EXIT
left=$(lab_leftovers)
[ -z "$left" ] && pass "down leaves nothing behind" || fail "down leaves: $left"

echo "took $((SECONDS - started)) s"
[ "$FAILS" -eq 0 ] || {
    echo "$FAILS failure(s)"
    exit 1
}
echo "all passed"
