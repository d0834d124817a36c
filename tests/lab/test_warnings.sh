#!/bin/bash
# Warnings and degraded networks in the lab (issue 9; README "Reading a
# diagnosis"): a certificate that expires in 5 days is a service/tls
# warning and diagnose exits 0; an office whose uplink is merely slow
# (300 ms) is a network "slow" warning, exit 0; an office whose uplink
# gets seconds of latency, or loses most packets, is ONE network finding
# naming every computer there, exit 1. Each scenario heals before the
# next. One lab and one collector: about two minutes.
set -uo pipefail
VANTAGE_LAB_PREFIX=${VANTAGE_LAB_PREFIX:-vtw-}
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

ALL='"br1", "br2", "home1", "hq1", "hq2"'
OFFICES='"branch", "home", "hq"'
IMAPS=imaps://mail.example.com

# expect_exit NAME WANT [GREP]: diagnose's exit status is WANT, and its
# text (when GREP is given) has that line.
expect_exit() {
    local name=$1 want=$2 pattern=${3:-} out rc
    out=$("$LAB" collector diagnose "$DIAG_TARGET" 2>&1)
    rc=$?
    if [ "$rc" -ne "$want" ]; then
        fail "$name: diagnose exits $rc, want $want"
        echo "$out" | sed 's/^/    /'
    elif [ -n "$pattern" ] && ! grep -q -- "$pattern" <<<"$out"; then
        fail "$name: diagnose's text lacks '$pattern'"
        echo "$out" | sed 's/^/    /'
    else
        pass "$name: diagnose exits $rc${pattern:+, says '$pattern'}"
    fi
}

diag_expect "all healthy" '{"status": "ok"}'

# A valid certificate with the right names that expires in 5 days: every
# check passes; one warning names it (default cert_warn_days = 14).
diag_fault cert expiring
diag_expect "the certificate expires in 5 days -> service (tls) warning" '{"status": "warning",
    "count": 1, "findings": [{"severity": "warning", "verdict": "service", "layer": "tls",
     "error": "tls_cert_expiring", "check": "'$IMAPS'", "agents": ['"$ALL"'],
     "networks": ['"$OFFICES"'], "any_start": true}]}'
expect_exit "expiring certificate" 0 "in [45] days"
expect_exit "expiring certificate, listed apart" 0 "^Warnings"
# Longer to heal: the lab's cert_reload ends postfix's idle smtpd
# processes, and postfix's master then throttles smtpd for 60 s.
DIAG_DEADLINE=100 diag_heal "certificate"

# 300 ms more on every packet branch sends: everything works there, but
# each round trip is slow. Both of its computers are, so it is the network.
diag_fault latency branch 300
diag_expect "branch's uplink is slow (300 ms) -> network slow warning" '{"status": "warning",
    "count": 1, "findings": [{"severity": "warning", "verdict": "network", "error": "slow",
     "agents": ["br1", "br2"], "networks": ["branch"]}]}'
expect_exit "slow office" 0 "is slow"
diag_heal "slow office"

# Three seconds more per packet, with a 5 s timeout: checks time out at
# whichever step the deadline catches them (DNS, TCP, TLS, the dialog);
# when both computers time out alike it is the ordinary network finding,
# when they differ the degraded one: either way one finding, both named.
diag_fault latency branch 3000
diag_expect "branch's uplink degrades (3 s) -> one network finding" '{"count": 1, "findings": [
    {"severity": "problem", "verdict": "network", "agents": ["br1", "br2"],
     "networks": ["branch"]}]}'
expect_exit "degraded office (latency)" 1 "branch is degraded\|agents\? on branch"
# For whoever reads the log: the finding as a person sees it.
"$LAB" collector diagnose "$DIAG_TARGET" 2>&1 | grep -E '^1\. |Median times' | sed 's/^/    /'

diag_heal "latency"

# Many packets lost: some checks fail, some pass, differently on each
# computer. (Not much more: the agents report through the same link, and
# at 40% one of them no longer reached the collector in time.)
diag_fault loss branch 25
diag_expect "branch loses 25% of its packets -> one network finding" '{"count": 1, "findings": [
    {"severity": "problem", "verdict": "network", "agents": ["br1", "br2"],
     "networks": ["branch"], "random_start": true}]}'
"$LAB" collector diagnose "$DIAG_TARGET" 2>&1 | grep -E '^1\. |Median times' | sed 's/^/    /'
diag_heal "loss"

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
