#!/bin/bash
# Secrets, proved (issue 14): after a run in which agents log in to a real
# dovecot (IMAPS and POP3S, a right and a wrong password) and one agent is
# enrolled with a one-line token, nothing the system wrote holds the probe
# passwords, the agents' or the collector's secret key, the enrollment
# secret or the HTTP bearer token: not the collector databases (sqlite,
# or a pg_dump of the PostgreSQL one in the integration.pg variant), not the
# agent spools (sqlite with -wal/-journal, read while the daemons run and
# after they stop), not the daemons' logs (log_level = debug), not the
# wire (recorded by a relay in front of a CURVE collector and of a
# plaintext one, insecure_plaintext = yes on loopback), not any CLI output
# (agents, results, compare, diagnose, timeline, findings, check, each in
# text and JSON), not the status page, /metrics or /api/v1/*. Each secret
# is looked for as text, hex and base64 (tests/servers/secretscan.py); the
# only files allowed to hold one are the key and password files and the
# enrollment line 'enroll' prints for the operator.
# Exits 77 without root or dovecot (tests/servers/mail-up says which).
. "$(dirname "$0")/lib/common.bash"
need_bins vantage-agent vantage-collector
command -v curl >/dev/null || skip "curl is missing (scripts/install-deps installs it)"
SERVERS=$SRC/tests/servers
chmod 755 "$T" # dovecot's unprivileged processes must reach its directory
# One ECDSA CA and server certificate (tests/servers/mkcerts makes a dozen
# RSA ones, which takes seconds this test does not need to spend).
mkdir "$T/certs" && (
    cd "$T/certs" &&
        openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout ca.key -out ca.pem \
            -days 2 -subj "/CN=Vantage secrets test CA" -addext basicConstraints=critical,CA:TRUE &&
        openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout mail.key -out mail.csr \
            -subj /CN=mail.test &&
        printf 'subjectAltName=IP:127.0.0.1,DNS:mail.test\n' >san.ext &&
        openssl x509 -req -in mail.csr -CA ca.pem -CAkey ca.key -CAcreateserial -days 2 -out mail.pem \
            -extfile san.ext
) >"$T/certs.txt" 2>&1 || fail "openssl: $(cat "$T/certs.txt")"
chmod 644 "$T/certs/mail.key" # dovecot reads it as root, but keep it simple for its helpers
MAIL_CERT=$T/certs/mail.pem MAIL_KEY=$T/certs/mail.key MAIL_CA=$T/certs/ca.pem \
    bash "$SERVERS/mail-up" "$T/srv" dovecot >"$T/mail-up.txt" 2>&1
rc=$?
[ $rc -eq 77 ] && skip "$(tail -1 "$T/mail-up.txt")"
[ $rc -eq 0 ] || fail "mail-up: $(cat "$T/mail-up.txt")"
stop_mail() { bash "$SERVERS/mail-down" "$T/srv" >/dev/null 2>&1; }
trap 'stop_mail; cleanup' EXIT
# shellcheck disable=SC1091
. "$T/srv/servers.env"
cd "$T"

C1=$(free_port) R1=$(free_port) C2=$(free_port) R2=$(free_port) HPORT=$(free_port)
(umask 077 && printf '%s\n' "$MAIL_PASSWORD" >pw && printf 'Wrong-%s-pw\n' "$RANDOM$RANDOM$RANDOM" >badpw &&
    echo "bearer-$RANDOM$RANDOM$RANDOM" >http.token)
BADPW=$(head -1 badpw)
TOKEN=$(cat http.token)
"$BIN/vantage-collector" keygen --out keys >/dev/null || fail "collector keygen"
: >authorized_keys

target_corp() {
    cat <<CONF

[target corp]
check = imaps://127.0.0.1:$IMAPS_PORT
check = pop3s://127.0.0.1:$POP3S_PORT
credentials = corp
interval = 1s
timeout = 5s
CONF
}
# Only one agent logs in with the wrong password: dovecot holds the next
# logins for seconds after refusing two at once.
target_bad() {
    cat <<CONF

[target corp-bad]
check = imaps://127.0.0.1:$IMAPS_PORT
credentials = bad
interval = 1s
timeout = 5s
CONF
}
credentials() {
    cat <<CONF

[credentials corp]
user = $MAIL_USER
password_file = $T/pw

[credentials bad]
user = $MAIL_USER
password_file = $T/badpw
CONF
}
{
    CPORT=$C1 collector_section
    cat <<CONF
log_level = debug
evaluate_every = 1s
http = 127.0.0.1:$HPORT
http_token_file = http.token
CONF
    target_corp
    target_bad
} >collector.conf
cat >plain.conf <<CONF
[collector]
listen = tcp://127.0.0.1:$C2
database = plain.db
control = ipc://$T/plain.sock
insecure_plaintext = yes
log_level = debug
evaluate_every = 1s
$(target_corp)
CONF

# The relays record every byte between agents and collectors.
start_bg relay1 python3 "$SERVERS/recorder.py" "$R1" "$C1" wire-curve.bin
start_bg relay2 python3 "$SERVERS/recorder.py" "$R2" "$C2" wire-plain.bin
start_bg collector "$BIN/vantage-collector" -c collector.conf serve
start_bg collector-plain "$BIN/vantage-collector" -c plain.conf serve
wait_for 10 "collector" "$BIN/vantage-collector" -c collector.conf agents
wait_for 10 "plaintext collector" "$BIN/vantage-collector" -c plain.conf agents
wait_for 20 "relays" grep -q ready relay1.log relay2.log

# Enrollment through the relay: the line, then the agent's keys and conf.
"$BIN/vantage-collector" -c collector.conf enroll e1 --site hq --address "tcp://127.0.0.1:$R1" \
    >enroll-line.out 2>enroll.err || fail "enroll: $(cat enroll.err)"
LINE=$(cat enroll-line.out)
ESECRET=$(python3 -c 'import base64,sys; print(base64.b64decode(sys.argv[1].split(":",1)[1]).split()[4].decode())' \
    "${LINE#vantage-agent enroll }")
[ ${#ESECRET} = 64 ] || fail "could not read the secret out of the enrollment line"
mkdir e1
"$BIN/vantage-agent" enroll "$LINE" --out e1 --spool "$T/spool-e1.db" --timeout 10 >e1-enroll.out 2>&1 ||
    fail "agent enroll: $(cat e1-enroll.out)"
{
    echo "log_level = debug"
    echo "ca_file = $MAIL_CA"
    credentials
} >>e1/agent.conf
# The [agent] keys just appended must land in [agent]: move them up.
python3 - e1/agent.conf <<'PY'
import sys
lines = open(sys.argv[1]).read().splitlines()
extra = [l for l in lines if l.startswith(("log_level =", "ca_file ="))]
rest = [l for l in lines if l not in extra]
i = next(n for n, l in enumerate(rest) if l.strip() == "[agent]")
open(sys.argv[1], "w").write("\n".join(rest[:i + 1] + extra + rest[i + 1:]) + "\n")
PY
cat >p1.conf <<CONF
[agent]
name = p1
site = branch
collector = tcp://127.0.0.1:$R2
insecure_plaintext = yes
spool = $T/spool-p1.db
ca_file = $MAIL_CA
log_level = debug
$(credentials)
CONF
start_bg agent-e1 "$BIN/vantage-agent" run -c e1/agent.conf
start_bg agent-p1 "$BIN/vantage-agent" run -c p1.conf

# Logged in (ok, with an auth phase) on both collectors, refused
# (auth_failed) on the first, and the refusal open as a finding.
logged_in() {
    "$BIN/vantage-collector" -c "$1" results --json --target corp --agent "$2" | grep '"status": *"ok"' |
        grep -q '"auth": *[1-9]'
}
refused() {
    "$BIN/vantage-collector" -c collector.conf results --json --target corp-bad --agent e1 |
        grep -q '"error": *"auth_failed"'
}
wait_for 30 "e1 logged in" logged_in collector.conf e1
wait_for 30 "e1 refused" refused
wait_for 30 "p1 logged in" logged_in plain.conf p1
wait_for 15 "an open finding" bash -c "'$BIN/vantage-collector' -c collector.conf findings --open | grep -q corp-bad"

# Every CLI output and every HTTP answer, kept as files.
mkdir out
for conf in collector plain; do
    V=("$BIN/vantage-collector" -c $conf.conf)
    for j in "" --json; do
        n=$conf${j:+-json}
        "${V[@]}" agents $j >"out/$n-agents" 2>&1
        "${V[@]}" results $j >"out/$n-results" 2>&1
        "${V[@]}" diagnose $j >"out/$n-diagnose" 2>&1
        "${V[@]}" findings $j >"out/$n-findings" 2>&1
        for t in corp corp-bad; do
            "${V[@]}" compare $t $j >"out/$n-compare-$t" 2>&1
            "${V[@]}" timeline $t $j >"out/$n-timeline-$t" 2>&1
        done
    done
    "${V[@]}" check corp >"out/$conf-check-corp" 2>&1
done
"$BIN/vantage-collector" -c collector.conf check corp-bad >out/collector-check-bad 2>&1
grep -q auth_failed out/collector-json-results || fail "results --json lacks the refused login"
U="http://127.0.0.1:$HPORT"
for p in / "/status?target=corp-bad" /metrics /api/v1/agents /api/v1/diagnose "/api/v1/compare?target=corp" \
    "/api/v1/timeline?target=corp-bad" /api/v1/findings; do
    curl -sS -H "Authorization: Bearer $TOKEN" "$U$p" >"out/http-$(echo "$p" | tr -c 'a-z0-9\n' _)" 2>&1 ||
        fail "GET $p"
done
grep -q corp-bad out/http-_ || fail "the status page does not show the targets"
grep -q '^vantage_' out/http-_metrics || fail "/metrics has no vantage_ series"

SECRETS=(password="$MAIL_PASSWORD" wrong_password="$BADPW" http_token="$TOKEN"
    enrollment_secret="$ESECRET" collector_secret_key="$(head -1 keys/collector.key)"
    agent_secret_key="$(head -1 e1/agent.key)")
# Files that hold a secret by design: the secrets' own files, and the line
# 'enroll' prints for the operator to paste.
ALLOWED=(--exclude pw --exclude badpw --exclude http.token --exclude keys/collector.key
    --exclude e1/agent.key --exclude enroll-line.out)
# srv/ is dovecot's (its users file holds the password) and certs/ the
# test's own: not ours to scan.
scan() {
    python3 "$SERVERS/secretscan.py" "${ALLOWED[@]}" "${SECRETS[@]}" -- \
        $(ls -d "$T"/* | grep -v -e "^$T/srv$" -e "^$T/certs$") 2>>scan.txt
}

# While everything runs (sqlite -wal files exist only while open) ...
# On PostgreSQL the collector's store is a pg_dump in the test's directory.
store_dump store-running.sql
scan >found-running.txt || fail "secrets while running: $(cat found-running.txt)"
[ -s wire-plain.bin ] && [ -s wire-curve.bin ] || fail "the relays recorded nothing"
grep -aq "pop3s://" wire-plain.bin || fail "the plaintext wire capture has no results in it"
# ... and after every daemon has stopped and written its last words.
for pid in "${PIDS[@]}"; do stop_pid "$pid"; done
store_dump store-stopped.sql
scan >found-stopped.txt || fail "secrets after stopping: $(cat found-stopped.txt)"
grep -q "secretscan: [1-9][0-9]* files, 6 secrets, 0 findings" scan.txt || fail "scan: $(cat scan.txt)"
pass "no secret in databases, spools, logs, the wire, CLI output or HTTP ($(tail -1 scan.txt | cut -d' ' -f2) files)"
