# Shared helpers for integration tests (sourced, not run by ctest).
#
# Every process a test starts goes through start_bg, which records its PID;
# the EXIT trap ends exactly those processes (and only those) and removes
# the test's temporary directory.

set -u
SRC=${VANTAGE_SOURCE_DIR:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../../.." && pwd)}
BIN=${VANTAGE_BIN_DIR:-$SRC/build/bin}
T=$(mktemp -d /tmp/vantage-test.XXXXXX)
PIDS=()
TEST_NAME=$(basename "$0" .sh)

cleanup() {
    local pid
    for pid in "${PIDS[@]}"; do
        kill "$pid" 2>/dev/null
    done
    for pid in "${PIDS[@]}"; do
        wait "$pid" 2>/dev/null
    done
    # The test's PostgreSQL (store_location), after the collectors using it.
    [ -f "$T/pg.dir" ] && "$SRC/tests/servers/pg-down" "$(cat "$T/pg.dir")"
    if [ "${KEEP_TEST_DIR:-}" = 1 ]; then
        echo "kept $T" >&2
    else
        rm -rf "$T"
    fi
}
trap cleanup EXIT

fail() {
    echo "FAIL [$TEST_NAME]: $*" >&2
    for f in "$T"/*.log; do
        [ -f "$f" ] || continue
        echo "--- $f (last 30 lines)" >&2
        tail -30 "$f" >&2
    done
    exit 1
}

skip() {
    echo "SKIP [$TEST_NAME]: $*" >&2
    exit 77
}

pass() {
    echo "PASS [$TEST_NAME]: $*"
}

# start_bg LOGNAME CMD... — runs CMD in the background, output to $T/LOGNAME.log;
# sets LAST_PID.
start_bg() {
    local name=$1
    shift
    "$@" >>"$T/$name.log" 2>&1 &
    LAST_PID=$!
    PIDS+=("$LAST_PID")
}

# stop_pid PID [SIGNAL] — signals one recorded process and reaps it.
stop_pid() {
    kill "-${2:-TERM}" "$1" 2>/dev/null
    wait "$1" 2>/dev/null
    return 0
}

# free_port — a TCP port nobody listens on right now (loopback), from
# below the ephemeral range (tests/servers/freeport.py says why).
free_port() {
    python3 "$SRC/tests/servers/freeport.py"
}

# wait_for SECONDS DESCRIPTION CMD... — retries CMD until it succeeds.
wait_for() {
    local secs=$1 what=$2
    shift 2
    local end=$((SECONDS + secs))
    while [ $SECONDS -lt $end ]; do
        if "$@" >/dev/null 2>&1; then
            return 0
        fi
        sleep 0.2
    done
    fail "timed out after ${secs}s waiting for: $what"
}

# tcp_listener PORT — a loopback listener that accepts and closes, for
# tcp:// checks that must succeed.
tcp_listener() {
    start_bg "listener-$1" python3 -c '
import socket, sys
s = socket.socket()
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("127.0.0.1", int(sys.argv[1])))
s.listen(512)
while True:
    c, _ = s.accept()
    c.close()
' "$1"
}

need_bins() {
    local b
    for b in "$@"; do
        [ -x "$BIN/$b" ] || skip "$BIN/$b is not built"
    done
    command -v python3 >/dev/null || skip "python3 is missing (scripts/install-deps installs it)"
}

# count_results CONF [ARGS] — number of stored results matching ARGS.
count_results() {
    local conf=$1
    shift
    "$BIN/vantage-collector" -c "$conf" results --json "$@" | wc -l
}

# store_location — the database = value of this test: vantage.db in the
# test's directory, or with VANTAGE_TEST_STORE=pg (the integration.pg.*
# variants, tests/CMakeLists.txt) a database in a PostgreSQL started for
# this test (tests/servers/pg-up; stopped by the EXIT trap). Works from a
# subshell: the server's directory is kept in $T/pg.dir.
store_location() {
    if [ "${VANTAGE_TEST_STORE:-sqlite}" != pg ]; then
        echo vantage.db
        return
    fi
    if [ ! -f "$T/pg.dir" ]; then
        local dir rc=0
        dir=$("$SRC/tests/servers/pg-up" 2>"$T/pg-up.err") || rc=$?
        [ "$rc" -eq 77 ] && skip "PostgreSQL variant: $(cat "$T/pg-up.err")"
        [ "$rc" -eq 0 ] || fail "PostgreSQL did not start: $(cat "$T/pg-up.err")"
        echo "$dir" >"$T/pg.dir"
        "$SRC/tests/servers/pg-db" "$dir" vantage >"$T/pg.location" ||
            fail "cannot create the test's PostgreSQL database"
    fi
    cat "$T/pg.location"
}

# store_dump FILE — for tests that look for what must never be stored
# (secrets): on PostgreSQL, a plain-SQL pg_dump of the test's database
# into FILE, so that a scan of the test's directory covers the store as
# it covers vantage.db on sqlite (where FILE is not written).
store_dump() {
    [ "${VANTAGE_TEST_STORE:-sqlite}" = pg ] || return 0
    local dir
    dir=$(cat "$T/pg.dir")
    "${VANTAGE_PG_BINDIR:-/usr/lib/postgresql/15/bin}/pg_dump" -h "$dir" -U vantage_admin \
        -d vantage -f "$1" || fail "pg_dump of the test's database failed"
    [ -s "$1" ] || fail "pg_dump wrote nothing"
}

# make_keys NAME... — the collector's key pair in keys/, and for each
# agent NAME a key pair in k-NAME/ and a line binding it to NAME in
# authorized_keys (written anew).
make_keys() {
    "$BIN/vantage-collector" keygen --out keys >/dev/null || fail "collector keygen failed"
    : >authorized_keys
    local a
    for a in "$@"; do
        "$BIN/vantage-agent" keygen --out "k-$a" >/dev/null || fail "agent keygen failed"
        echo "$(cat "k-$a/agent.pub") $a" >>authorized_keys
    done
}

# collector_section — the [collector] section most tests use: CURVE with
# keys/collector.key, authorized_keys and the database (store_location)
# in the test's directory, listening on loopback port $CPORT.
collector_section() {
    cat <<CONF
[collector]
listen = tcp://127.0.0.1:$CPORT
database = $(store_location)
secret_key = keys/collector.key
authorized_keys = authorized_keys
CONF
}

# agent_section NAME — the [agent] section of agent NAME in most tests:
# its key in k-NAME/ (vantage-agent keygen --out k-NAME), its spool
# spool-NAME.db, the collector of collector_section.
agent_section() {
    cat <<CONF
[agent]
name = $1
collector = tcp://127.0.0.1:$CPORT
collector_public_key = $(cat keys/collector.pub)
secret_key = k-$1/agent.key
spool = spool-$1.db
CONF
}

# The PostgreSQL variant starts its server here, in the test's own shell:
# inside $(...) a skip or failure would only end the subshell.
if [ "${VANTAGE_TEST_STORE:-sqlite}" = pg ]; then
    store_location >/dev/null
fi
