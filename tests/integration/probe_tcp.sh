#!/usr/bin/env bash
# tcp:// probes and the probe command line: connect ok / refused / timeout
# (a listener whose accept queue is full drops SYNs) / unreachable (in a
# network namespace without routes, when root), exit statuses, usage
# errors, --repeat/--concurrency summary, and that a password never shows.
source "${VANTAGE_SOURCE_DIR:-$(dirname "$0")/../..}/tests/servers/probe-testlib.sh"
need python3

open_port=$(free_port)
closed_port=$(free_port)
backlog_port=$(free_port)
start listener python3 "$SERVERS/badpeer.py" stall "$open_port"
start backlog python3 "$SERVERS/badpeer.py" backlog "$backlog_port" --ready "$WORK/backlog.ready"
wait_port "$open_port" || exit 1
for _ in $(seq 50); do
    [[ -e $WORK/backlog.ready ]] && break
    sleep 0.1
done

probe_json "tcp://127.0.0.1:$open_port"
expect_rc 0
expect_result "tcp://127.0.0.1:$open_port" ok -
expect_field "tcp://127.0.0.1:$open_port" 'd["port"], d["address"]' "($open_port, '127.0.0.1')"
expect_field "tcp://127.0.0.1:$open_port" '"target" in d or "seq" in d or "agent" in d' False

probe_json --timeout 1 "tcp://127.0.0.1:$closed_port" "tcp://127.0.0.1:$backlog_port" \
    "tcp://[::1]:$closed_port"
expect_rc 1
expect_result "tcp://127.0.0.1:$closed_port" tcp_refused tcp
expect_result "tcp://[::1]:$closed_port" tcp_refused tcp
expect_result "tcp://127.0.0.1:$backlog_port" tcp_timeout tcp
expect_field "tcp://127.0.0.1:$backlog_port" '900000 <= d["phases_us"]["total"] < 1500000' True

# localhost is loopback without DNS (RFC 6761): ::1 refused, then 127.0.0.1.
probe_json "tcp://localhost:$open_port"
expect_result "tcp://localhost:$open_port" ok -

# Unreachable: a fresh network namespace has no route to 198.18.0.1.
ns=vantage-probe-$$
if [[ $(id -u) == 0 ]] && command -v ip >/dev/null && ip netns add "$ns" 2>/dev/null; then
    OUT=$(ip netns exec "$ns" "$AGENT" probe --json --timeout 2 tcp://198.18.0.1:25 2>"$WORK/stderr")
    RC=$?
    ip netns del "$ns"
    expect_rc 1
    expect_result tcp://198.18.0.1:25 tcp_unreachable tcp
else
    echo "note: not root or no netns: tcp_unreachable not checked"
fi

# Several checks at once and a load-test summary.
OUT=$("$AGENT" probe --repeat 50 --concurrency 10 "tcp://127.0.0.1:$open_port" \
    "tcp://127.0.0.1:$closed_port" 2>&1)
RC=$?
expect_rc 1
CHECKS=$((CHECKS + 1))
if ! grep -Eq '^summary: probes 100, ok 50, failed 50, [0-9.]+/s, latency median [0-9.]+ ms, p90 [0-9.]+ ms, p99 [0-9.]+ ms$' <<<"$OUT"; then
    fail_check "no summary line: $OUT"
fi
OUT=$("$AGENT" probe --json --repeat 3 "tcp://127.0.0.1:$open_port" 2>"$WORK/stderr")
RC=$?
expect_rc 0
CHECKS=$((CHECKS + 1))
[[ $(wc -l <<<"$OUT") == 3 ]] || fail_check "--json --repeat 3 printed $(wc -l <<<"$OUT") lines"
grep -q '^summary: probes 3, ok 3, failed 0' "$WORK/stderr" || fail_check "no summary on stderr"

# The password is read from its file and never printed.
printf 'S3cret-Pa55word\n' >"$WORK/pw"
OUT=$("$AGENT" probe --json --user probe@vantage.test --password-file "$WORK/pw" \
    "tcp://127.0.0.1:$open_port" "tcp://127.0.0.1:$closed_port" 2>&1)
CHECKS=$((CHECKS + 1))
if grep -q 'S3cret' <<<"$OUT"; then
    fail_check "the password appears in the output"
fi

# Usage errors: exit 2 and a message naming what was wrong.
usage() { # expected-substring args...
    local want=$1
    shift
    CHECKS=$((CHECKS + 1))
    local err
    err=$("$AGENT" probe "$@" 2>&1 >/dev/null)
    local rc=$?
    if [[ $rc != 2 || $err != *"$want"* ]]; then
        fail_check "probe $*: want exit 2 and '$want', got $rc: $err"
    else
        echo "ok: usage error for '$*'"
    fi
}
usage "no SPEC" --json
usage "not a check spec" bogus
usage "unknown option --frobnicate" --frobnicate tcp://127.0.0.1:1
usage "--repeat 0" --repeat 0 tcp://127.0.0.1:1
usage "--concurrency x" --concurrency x tcp://127.0.0.1:1
usage "not a duration" --timeout soon tcp://127.0.0.1:1
usage "go together" --user u tcp://127.0.0.1:1
usage "cannot read the password file" --user u --password-file /nonexistent tcp://127.0.0.1:1
usage "is not an address" --resolver nowhere tcp://127.0.0.1:1
usage "cannot load trust anchors" --ca-file /nonexistent tls://127.0.0.1:1
usage "--timeout needs a value" tcp://127.0.0.1:1 --timeout
CHECKS=$((CHECKS + 1))
"$AGENT" probe --help | grep -q -- '--concurrency C' || fail_check "--help does not describe the options"

finish
