# probe-testlib.sh — shared by tests/integration/probe_*.sh (source it).
#
# Gives: $AGENT (the vantage-agent binary), $SERVERS (this directory),
# $WORK (a temporary directory removed at exit), and
#   need CMD...            exit 77 (skipped) unless every CMD exists
#   free_port [udp]        print a free 127.0.0.1 port
#   start NAME CMD...      run CMD in the background, remember its PID
#   wait_port PORT         wait until something listens on 127.0.0.1:PORT (TCP)
#   probe_json ARGS...     run `vantage-agent probe --json ARGS`, keep the
#                          output in $OUT and the exit status in $RC
#   expect_result CHECK ERROR LAYER   the JSON line for CHECK has them
#   expect_field CHECK PYEXPR VALUE   python expression on the result d
#   expect_rc N
#   finish                 report and exit 1 if any expectation failed
# Every peer started with `start` is killed (by PID) at exit.
set -uo pipefail

BIN_DIR=${VANTAGE_BIN_DIR:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)/build/bin}
SERVERS=${VANTAGE_SOURCE_DIR:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)}/tests/servers
AGENT=$BIN_DIR/vantage-agent
WORK=$(mktemp -d /tmp/vantage-probe-test.XXXXXX)
PIDS=()
FAILURES=0
CHECKS=0

cleanup() {
    for pid in "${PIDS[@]}"; do
        kill "$pid" 2>/dev/null
    done
    wait 2>/dev/null
    rm -rf "$WORK"
}
trap cleanup EXIT

need() {
    for cmd in "$@"; do
        if ! command -v "$cmd" >/dev/null 2>&1; then
            echo "SKIP: $cmd is not installed" >&2
            exit 77
        fi
    done
    if [[ ! -x $AGENT ]]; then
        echo "SKIP: $AGENT is not built" >&2
        exit 77
    fi
}

free_port() { # a port free on 127.0.0.1 for TCP, and for UDP too with "udp"
    python3 "$SERVERS/freeport.py" ${1:+--$1}
}

start() {
    local name=$1
    shift
    "$@" >"$WORK/$name.log" 2>&1 &
    PIDS+=($!)
}

wait_port() {
    for _ in $(seq 100); do
        if python3 -c "import socket,sys; socket.create_connection(('127.0.0.1', int(sys.argv[1])), 0.2).close()" "$1" 2>/dev/null; then
            return 0
        fi
        sleep 0.05
    done
    echo "peer on port $1 never listened" >&2
    return 1
}

probe_json() {
    OUT=$("$AGENT" probe --json "$@" 2>"$WORK/stderr")
    RC=$?
}

fail_check() {
    FAILURES=$((FAILURES + 1))
    echo "FAIL: $*" >&2
}

# expect_result CHECK ERROR LAYER ("-" for no layer, as with ok)
expect_result() {
    CHECKS=$((CHECKS + 1))
    local got
    got=$(OUT=$OUT python3 - "$1" <<'EOF'
import json, os, sys
for line in os.environ["OUT"].splitlines():
    d = json.loads(line)
    if d["check"] == sys.argv[1]:
        print(d["error"], d.get("layer", "-"), d["status"])
        break
else:
    print("missing")
EOF
)
    local want_status=fail
    [[ $2 == ok ]] && want_status=ok
    if [[ $got != "$2 $3 $want_status" ]]; then
        fail_check "$1: want '$2 $3 $want_status', got '$got'"
        echo "$OUT" | grep -F "\"$1\"" >&2
        cat "$WORK/stderr" >&2
    else
        echo "ok: $1 -> $2 ($3)"
    fi
}

# expect_field CHECK PYEXPR VALUE: str(eval(PYEXPR)) == VALUE, d = the result
expect_field() {
    CHECKS=$((CHECKS + 1))
    local got
    got=$(OUT=$OUT python3 - "$1" "$2" <<'EOF'
import json, os, sys
for line in os.environ["OUT"].splitlines():
    d = json.loads(line)
    if d["check"] == sys.argv[1]:
        try:
            print(eval(sys.argv[2]))
        except Exception as e:
            print("error:", e)
        break
else:
    print("missing")
EOF
)
    if [[ $got != "$3" ]]; then
        fail_check "$1: $2: want '$3', got '$got'"
    else
        echo "ok: $1: $2 = $3"
    fi
}

expect_rc() {
    CHECKS=$((CHECKS + 1))
    if [[ $RC != "$1" ]]; then
        fail_check "exit status: want $1, got $RC"
        cat "$WORK/stderr" >&2
    fi
}

finish() {
    if ((FAILURES > 0)); then
        echo "$FAILURES of $CHECKS expectations failed" >&2
        exit 1
    fi
    echo "all $CHECKS expectations met"
    exit 0
}
