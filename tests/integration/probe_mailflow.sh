#!/bin/bash
# probe_mailflow.sh — `vantage-agent probe mailflow://…` end to end against
# real postfix (submission, smtps, smtp) delivering over LMTP to real
# dovecot (imaps, imap, pop3s, sieve), all started by tests/servers/mail-up
# on 127.0.0.1:
#   - delivery works, and its time agrees with dovecot's own record of it;
#   - a held message (postfix HOLD) is mail_not_delivered, a refused
#     recipient mail_rejected with postfix's text, a sieve rule's Junk
#     filing mail_in_junk;
#   - a leftover of this agent (a "killed run") is removed and counted,
#     while an unmarked message, another agent's marked message and a
#     look-alike marker stay;
#   - two agents probing one mailbox at once both succeed and delete
#     nothing of each other;
#   - pop3s and imap (STARTTLS) read too; the password appears nowhere.
# Exits 77 when a server binary, LMTP/sieve or root is missing.
set -u

src=${VANTAGE_SOURCE_DIR:-$(cd "$(dirname "$0")/../.." && pwd)}
bin=${VANTAGE_BIN_DIR:-$src/build/bin}
agent=$bin/vantage-agent
servers=$src/tests/servers
[ -x "$agent" ] || { echo "FAIL: $agent not built" >&2; exit 1; }
command -v python3 >/dev/null || { echo "SKIP: python3 missing" >&2; exit 77; }

work=$(mktemp -d /tmp/vantage-mailflow.XXXXXX)
chmod 755 "$work"
cleanup() {
    bash "$servers/mail-down" "$work/srv" >/dev/null 2>&1
    rm -rf "$work"
}
trap cleanup EXIT

bash "$servers/mail-up" "$work/srv" dovecot postfix
rc=$?
[ $rc -eq 77 ] && exit 77
[ $rc -eq 0 ] || { echo "FAIL: mail-up could not start the servers" >&2; exit 1; }
# shellcheck disable=SC1091
. "$work/srv/servers.env"
if [ "$MAIL_DELIVERY" != yes ]; then
    echo "SKIP: dovecot-lmtpd or dovecot-sieve missing (apt-get install dovecot-lmtpd dovecot-sieve)" >&2
    exit 77
fi

H=127.0.0.1
fail=0
printf '%s\n' "$MAIL_PASSWORD" >"$work/pw"
chmod 600 "$work/pw"
sub=submission://$H:$SUBMISSION_PORT imaps=imaps://$H:$IMAPS_PORT
mb() { python3 "$servers/mailbox.py" "$@"; }
count() { # FOLDER SUBJECT [USER]
    mb count "$IMAPS_PORT" "$MAIL_CA" "${3:-$MAIL_USER}" "$work/pw" "$1" "$2"
}

# probe NAME AGENT TIMEOUT USER SPEC: runs one check as AGENT; NAME.out/.err/.rc.
probe() {
    local name=$1 who=$2 timeout=$3 user=$4 spec=$5
    "$agent" probe --json --timeout "$timeout" --ca-file "$MAIL_CA" --agent-name "$who" \
        --user "$user" --password-file "$work/pw" "$spec" >"$work/$name.out" 2>"$work/$name.err"
    echo $? >"$work/$name.rc"
}
check() { # NAME SPEC COND...
    local name=$1
    shift
    python3 "$servers/jsoncheck.py" "$work/$name.out" "$@" || fail=1
}
want_rc() { # NAME RC
    local got
    got=$(cat "$work/$1.rc")
    [ "$got" = "$2" ] || { echo "FAIL: probe $1 exited $got, expected $2" >&2; cat "$work/$1.err" "$work/$1.out" >&2; fail=1; }
}
want_count() { # WHAT FOLDER SUBJECT N [USER]
    local got
    got=$(count "$2" "$3" "${5:-}")
    [ "$got" = "$4" ] || { echo "FAIL: $1: $got messages '$3' in $2, expected $4" >&2; fail=1; }
}
field() { # NAME PATH: one value of the first JSON line
    python3 -c 'import json,sys
o=json.loads(open(sys.argv[1]).readline())
for p in sys.argv[2].split("."): o=o.get(p) if isinstance(o,dict) else None
print(o if o is not None else "")' "$work/$1.out" "$2"
}

flow() { # MAILBOX VIA READ: the canonical spec
    echo "mailflow://$1?via=$2&read=$3"
}
ok_spec=$(flow "$MAIL_USER" "$sub" "$imaps")

# --- the mailbox's other mail, and a leftover of a killed run ---------------
# The leftover carries a1's marker from 1000 s ago; the look-alike's agent
# "xa1" contains "a1 " (IMAP SEARCH HEADER matches substrings).
old=$(($(date +%s) - 1000))
mb send "$SMTP_PLAIN_PORT" "$MAIL_USER" "unmarked keep" || fail=1
mb send "$SMTP_PLAIN_PORT" "$MAIL_USER" "other agent keep" \
    "X-Vantage-Probe: other-agent 0123456789abcdef0123456789abcdef $old" || fail=1
mb send "$SMTP_PLAIN_PORT" "$MAIL_USER" "lookalike keep" \
    "X-Vantage-Probe: xa1 00000000000000000000000000000000 $old" || fail=1
mb send "$SMTP_PLAIN_PORT" "$MAIL_USER" "leftover of a1" \
    "X-Vantage-Probe: a1 ffffffffffffffffffffffffffffffff $old" || fail=1
mb wait "$IMAPS_PORT" "$MAIL_CA" "$MAIL_USER" "$work/pw" INBOX "keep" 3 || fail=1
mb wait "$IMAPS_PORT" "$MAIL_CA" "$MAIL_USER" "$work/pw" INBOX "leftover of a1" 1 || fail=1

# --- delivery works; the leftover goes, the rest stays ---------------------
probe ok a1 10s "$MAIL_USER" "$ok_spec"
want_rc ok 0
check ok "$ok_spec" status=ok error=ok delivery.folder=INBOX 'delivery.message_id~^<[0-9a-f]{32}\.[0-9]+@vantage>$' \
    delivery.delivery_us\>0 delivery.submitted_at? delivery.arrived_at? phases_us.submit\>0 \
    phases_us.delivery\>0 phases_us.fetch\>0 phases_us.auth\>0 'detail~1 leftover of this agent removed'
want_count "leftover" INBOX "leftover of a1" 0
want_count "unmarked mail" INBOX "unmarked keep" 1
want_count "another agent's mail" INBOX "other agent keep" 1
want_count "a look-alike marker" INBOX "lookalike keep" 1
want_count "the test message" INBOX "Vantage delivery test" 0
# Plausible against dovecot's own record of the delivery (1 s resolution).
msgid=$(field ok delivery.message_id)
logt=$(mb logtime "$MAIL_DIR/dovecot/dovecot.log" "$msgid")
python3 - "$work/ok.out" "${logt:-x}" <<'EOF' || fail=1
import json, sys, time
from calendar import timegm
o = json.loads(open(sys.argv[1]).readline())
d = o["delivery"]
ts = lambda s: timegm(time.strptime(s[:19], "%Y-%m-%dT%H:%M:%S")) + float("0" + s[19:-1])
sub, arr, logt = ts(d["submitted_at"]), ts(d["arrived_at"]), float(sys.argv[2])
ok = logt - 1.5 <= sub <= arr <= logt + 2.5 and 0 < d["delivery_us"] < 5e6 \
    and abs((arr - sub) * 1e6 - d["delivery_us"]) < 50000
if not ok:
    print("FAIL: delivery times implausible: submitted %.3f arrived %.3f dovecot %.0f (%s)"
          % (sub, arr, logt, d), file=sys.stderr)
    sys.exit(1)
EOF

# --- two agents on one mailbox at once --------------------------------------
probe two_a ag-one 10s "$MAIL_USER" "$ok_spec" &
probe two_b ag-two 10s "$MAIL_USER" "$ok_spec" &
wait
want_rc two_a 0
want_rc two_b 0
check two_a "$ok_spec" status=ok delivery.folder=INBOX 'detail~0 leftovers'
check two_b "$ok_spec" status=ok delivery.folder=INBOX 'detail~0 leftovers'
want_count "other mail after two agents" INBOX "keep" 3
want_count "the test messages of two agents" INBOX "Vantage delivery test" 0

# --- failures: held (not delivered), refused, Junk; pop3s and imap read -----
held_spec=$(flow "$MAIL_HELD_USER" "$sub" "$imaps")
rej_spec=$(flow "$MAIL_REJECTED_USER" "$sub" "$imaps")
junk_spec=$(flow "$MAIL_USER" "smtp://$H:$SMTP_PORT" "imap://$H:$IMAP_PORT")
pop_spec=$(flow "$MAIL_USER" "smtps://$H:$SMTPS_PORT" "pop3s://$H:$POP3S_PORT")
t0=$(date +%s)
probe held a1 4s "$MAIL_HELD_USER" "$held_spec" &
probe junk junkme 4s "$MAIL_USER" "$junk_spec" &
probe rej a1 4s "$MAIL_USER" "$rej_spec"
probe pop p1 10s "$MAIL_USER" "$pop_spec"
wait
t1=$(date +%s)
want_rc held 1
check held "$held_spec" status=fail error=mail_not_delivered layer=delivery delivery.submitted_at? \
    delivery.arrived_at!? delivery.folder!? phases_us.submit\>0 'detail~accepted the test message'
want_rc rej 1
check rej "$rej_spec" status=fail error=mail_rejected layer=delivery \
    'detail~RCPT TO refused.*552 5\.2\.2 Mailbox full \(vantage test\)' delivery.submitted_at!?
want_rc junk 1
check junk "$junk_spec" status=fail error=mail_in_junk layer=delivery delivery.folder=Junk \
    phases_us.starttls\>0
want_count "the Junk test message" Junk "Vantage delivery test" 0
want_rc pop 0
check pop "$pop_spec" status=ok delivery.folder=INBOX delivery.delivery_us\>0
want_count "other mail after pop3" INBOX "keep" 3
[ $((t1 - t0)) -le 12 ] || { echo "FAIL: 4 s checks took $((t1 - t0)) s" >&2; fail=1; }

# --- a reading server that accepts and never speaks --------------------------
# Costs the check's timeout, not the timeout plus the time granted to look
# in Junk and delete afterwards (15 s): that grant begins with the wait.
stall_port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
python3 "$servers/badpeer.py" stall "$stall_port" --ready "$work/stall.ready" &
stall_pid=$!
for _ in $(seq 50); do [ -e "$work/stall.ready" ] && break; sleep 0.1; done
stall_spec=$(flow "$MAIL_USER" "$sub" "imaps://$H:$stall_port")
t0=$(date +%s)
probe stall a1 3s "$MAIL_USER" "$stall_spec"
t1=$(date +%s)
kill "$stall_pid" 2>/dev/null
wait "$stall_pid" 2>/dev/null
want_rc stall 1
check stall "$stall_spec" status=fail layer=tls
[ $((t1 - t0)) -le 6 ] || { echo "FAIL: a 3 s mailflow check against a silent IMAPS server took $((t1 - t0)) s" >&2; fail=1; }

# --- human output and usage --------------------------------------------------
"$agent" probe --ca-file "$MAIL_CA" --agent-name a1 --user "$MAIL_USER" \
    --password-file "$work/pw" "$ok_spec" >"$work/human.out" 2>&1
grep -q '^  phases .*submit .*delivery .*fetch .*total' "$work/human.out" || { echo "FAIL: human output lacks the mailflow phases" >&2; cat "$work/human.out" >&2; fail=1; }
grep -q '^  arrived   .* in INBOX after ' "$work/human.out" || { echo "FAIL: human output lacks the arrival" >&2; fail=1; }
"$agent" probe --user "$MAIL_USER" --password-file "$work/pw" "mailflow://$MAIL_USER" \
    >"$work/usage.out" 2>&1
[ $? -eq 2 ] && grep -q 'name the servers: mailflow://' "$work/usage.out" || { echo "FAIL: mailflow without via/read not refused" >&2; cat "$work/usage.out" >&2; fail=1; }
"$agent" probe "$ok_spec" >"$work/usage2.out" 2>&1
[ $? -eq 2 ] && grep -q 'give --user and --password-file' "$work/usage2.out" || { echo "FAIL: mailflow without credentials not refused" >&2; fail=1; }

# --- the password appears nowhere ---------------------------------------------
b64=$(printf '\0%s\0%s' "$MAIL_USER" "$MAIL_PASSWORD" | base64 -w0)
for f in "$work"/*.out "$work"/*.err; do
    if grep -qF -e "$MAIL_PASSWORD" -e "$b64" "$f"; then
        echo "FAIL: the password leaked into $f" >&2
        fail=1
    fi
done

[ $fail -eq 0 ] && echo "probe_mailflow: all checks passed"
exit $fail
