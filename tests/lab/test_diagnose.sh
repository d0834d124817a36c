#!/bin/bash
# The diagnosis in the lab (docs/reference.md "Diagnosis"), one scenario per
# verdict: a fault is injected, every agent probes now (probe-now), and
# "diagnose --json" must name the verdict, layer and error, exactly the
# affected agents and networks, the failing check, and a started_at within
# two probe intervals of when the fault began; then the fault is cleared
# and the target must be healthy again before the next scenario (the
# "fault that heals" check, for every scenario). Last, the same with
# networks derived from the offices' egress addresses (--no-site).
# One lab and one collector for everything: 60 to 90 seconds.
set -uo pipefail
VANTAGE_LAB_PREFIX=vts-
. "$(dirname "$0")/testlib.sh"
lab_require

BIN=${VANTAGE_BIN_DIR:-}
[ -x "$BIN/vantage-agent" ] && [ -x "$BIN/vantage-collector" ] ||
    skip "no Vantage binaries in '$BIN' (build first)"
"$BIN/vantage-collector" --help 2>&1 | grep -q 'probe-now' ||
    skip "this vantage-collector has no 'probe-now' command yet"

DIAG_INTERVAL=5
export VANTAGE_LAB_INTERVAL=${DIAG_INTERVAL}s
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

# On PostgreSQL (lab.pg.diagnose) the scenarios that read the store in
# every way the analysis does: the latest states compared across networks
# (network, with its recovery dated by the timeline), a change that
# explains a verdict (migrate) and two findings at once. The others read
# the same rows; VANTAGE_LAB_DIAG_ALL=1 runs them too (CI's budget keeps
# them to the sqlite run).
all_scenarios() {
    [ "${VANTAGE_LAB_STORE:-sqlite}" != postgresql ] || [ "${VANTAGE_LAB_DIAG_ALL:-0}" = 1 ]
}
all_scenarios || echo "PostgreSQL: network, migration and two-findings scenarios (VANTAGE_LAB_DIAG_ALL=1 for all)"

ALL='"br1", "br2", "home1", "hq1", "hq2"'
OFFICES='"branch", "home", "hq"'
IMAPS=imaps://mail.example.com
SUBMISSION=submission://mail.example.com

# "all healthy": status ok, no findings, all five agents reporting.
diag_expect "all healthy" '{"status": "ok"}'

diag_fault block-port branch 993
diag_expect "branch's router blocks IMAPS -> network (tcp)" '{"count": 1, "findings": [
    {"verdict": "network", "layer": "tcp", "error": "tcp_timeout", "check": "'$IMAPS'",
     "agents": ["br1", "br2"], "networks": ["branch"]}]}'
diag_heal "network"
# "A fault that heals": besides status ok, the timeline dates the recovery.
if why=$(diag_recovered "$IMAPS" br1 br2); then pass "network: $why"; else fail "network: $why"; fi

if all_scenarios; then
    diag_fault resolver hq down
    diag_expect "hq's resolver is down -> network (dns)" '{"count": 1, "findings": [
        {"verdict": "network", "layer": "dns", "check": "'$IMAPS'",
         "agents": ["hq1", "hq2"], "networks": ["hq"]}]}'
    diag_heal "resolver"

    diag_fault host-block hq2 587
    diag_expect "hq2's own firewall blocks submission -> device" '{"count": 1, "findings": [
        {"verdict": "device", "layer": "tcp", "error": "tcp_timeout", "check": "'$SUBMISSION'",
         "agents": ["hq2"], "networks": ["hq"]}]}'
    diag_heal "device"

    diag_fault service mail dovecot
    diag_expect "the IMAP server is stopped -> service" '{"count": 1, "findings": [
        {"verdict": "service", "check": "'$IMAPS'", "agents": ['"$ALL"'], "networks": ['"$OFFICES"']}]}'
    diag_heal "service"

    # One finding: every name of the one server (mail, webmail, autodiscover)
    # serves the expired certificate.
    diag_fault cert expired
    diag_expect "the certificate expired -> service (tls)" '{"count": 1, "findings": [
        {"verdict": "service", "layer": "tls", "error": "tls_cert_expired", "check": "'$IMAPS'",
         "agents": ['"$ALL"'], "networks": ['"$OFFICES"']}]}'
    diag_heal "certificate"

    diag_fault password
    diag_expect "the mailbox password changed -> credentials" '{"count": 1, "findings": [
        {"verdict": "credentials", "layer": "auth", "error": "auth_failed", "check": "'$IMAPS'",
         "agents": ['"$ALL"'], "networks": ['"$OFFICES"']}]}'
    diag_heal "password"
fi

diag_fault migrate
diag_expect "the domain migrated to mail2 -> client_config, DNS change correlated" '{"count": 1,
    "findings": [{"verdict": "client_config", "check": "'$IMAPS'", "change": "dns_answer_changed",
     "agents": ['"$ALL"'], "networks": ['"$OFFICES"']}]}'
diag_heal "migration"

if all_scenarios; then
    # Right after the migration was undone: the checks found through DNS on
    # mail2 still pass (they stay fresh for three intervals), but DNS no longer
    # names mail2, so this is no client_config. Two rounds, not a deadline,
    # because the wrong verdict would only last until those states go stale.
    diag_fault zone-down
    DIAG_ROUNDS=2 diag_expect "the zone is down -> dns" '{"count": 1, "findings": [
        {"verdict": "dns", "layer": "dns", "error": "dns_servfail", "check": "dns://example.com/MX",
         "agents": ['"$ALL"'], "networks": ['"$OFFICES"']}]}'
    diag_heal "zone"

    diag_fault block-port home 993
    diag_expect "the only host of home fails -> inconclusive" '{"count": 1, "findings": [
        {"verdict": "inconclusive", "layer": "tcp", "error": "tcp_timeout", "check": "'$IMAPS'",
         "agents": ["home1"], "networks": ["home"]}]}'
    diag_heal "inconclusive"
fi

diag_fault block-port branch 993
t0=$DIAG_T0
diag_fault host-block hq2 587
DIAG_T0=$t0 # both began after the first one's start
diag_expect "a network fault and an unrelated device fault -> two findings" '{"count": 2, "findings": [
    {"verdict": "network", "layer": "tcp", "check": "'$IMAPS'",
     "agents": ["br1", "br2"], "networks": ["branch"]},
    {"verdict": "device", "layer": "tcp", "check": "'$SUBMISSION'",
     "agents": ["hq2"], "networks": ["hq"]}]}'
diag_heal "two faults"

if all_scenarios; then
    # Without site labels the collector names each network by the address it
    # sees the agents come from: the office's public (NAT) address.
    if "$LAB" vantage up --no-site >/dev/null; then
        diag_expect "no site labels: all healthy" '{"status": "ok"}'
        diag_fault block-port branch 993 reject
        diag_expect "no site labels: branch blocks IMAPS -> network 198.51.100.20" '{"count": 1,
            "findings": [{"verdict": "network", "layer": "tcp", "error": "tcp_refused", "check": "'$IMAPS'",
             "agents": ["br1", "br2"], "networks": ["198.51.100.20"]}]}'
        diag_heal "no site labels"
    else
        fail "lab vantage up --no-site"
    fi
fi

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
