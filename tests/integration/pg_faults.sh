#!/bin/bash
# The collector on PostgreSQL when the database fails under it (issue 13,
# "Bad input and faults"): PostgreSQL stopped during ingest (the collector
# says so, acknowledges nothing, stays up; the agent keeps its results in
# its spool; when PostgreSQL is back the collector reconnects and ingest
# resumes; the wake connection that LISTENs for probe-now requests is
# reopened and used again) and PostgreSQL frozen (SIGSTOP: ingest waits, memory stays
# bounded, then resumes). Afterwards the agent's sequence numbers are
# stored exactly once each, 1..N without a gap: nothing lost, nothing
# twice. Down at start, a wrong password, missing privileges and a newer
# schema are in tests/unit/test_store.c (PostgreSQL group).
VANTAGE_TEST_STORE=pg
. "$(dirname "$0")/lib/common.bash"
need_bins vantage-agent vantage-collector
PG=$(cat "$T/pg.dir")
# The test servers trade durability for speed (synchronous_commit = off,
# tests/servers/pg-up), but this test crashes its server (pg-down: an
# immediate shutdown): a commit the collector acknowledged could vanish
# with the WAL buffers, and a seq the agent dropped from its spool would
# be lost for the server's reasons, not the collector's. Durable commits
# as in production, then.
"${VANTAGE_PG_BINDIR:-/usr/lib/postgresql/15/bin}/psql" -X -q -h "$PG" -U vantage_admin -d postgres \
    -c "ALTER SYSTEM SET synchronous_commit = on" -c "SELECT pg_reload_conf()" >/dev/null ||
    fail "cannot make the test server's commits durable"

OPEN=$(free_port)
CPORT=$(free_port)
tcp_listener "$OPEN"
cd "$T"
"$BIN/vantage-collector" keygen --out keys >/dev/null || fail "collector keygen"
"$BIN/vantage-agent" keygen --out k-a1 >/dev/null || fail "agent keygen"
echo "$(cat k-a1/agent.pub) a1" >authorized_keys
cat >collector.conf <<CONF
$(collector_section)

[target loop]
check = tcp://127.0.0.1:$OPEN
interval = 1s
timeout = 1s
CONF
cat >agent.conf <<CONF
[agent]
name = a1
collector = tcp://127.0.0.1:$CPORT
collector_public_key = $(cat keys/collector.pub)
secret_key = k-a1/agent.key
spool = spool.db
CONF
start_bg collector "$BIN/vantage-collector" -c collector.conf serve
COLLECTOR=$LAST_PID
start_bg agent "$BIN/vantage-agent" run -c agent.conf

stored() { count_results collector.conf --agent a1; }
at_least() { [ "$(stored)" -ge "$1" ]; }
wait_for 30 "3 results stored" at_least 3
grep -q "password" collector.log && fail "the collector's log mentions a password"

# Down: the server stops with its data kept.
"$SRC/tests/servers/pg-down" --keep "$PG"
wait_for 20 "the collector to report the lost database" grep -q "connection" collector.log
sleep 2 # two more probe rounds go to the spool, not the database
kill -0 "$COLLECTOR" 2>/dev/null || fail "the collector exited when PostgreSQL went away"
"$SRC/tests/servers/pg-up" "$PG" >/dev/null || fail "PostgreSQL did not come back"
before=$(stored)
wait_for 30 "ingest to resume after PostgreSQL came back" at_least $((before + 3))
# The wake connection (LISTEN for probe-now requests) went down with the
# server: polled meanwhile, reopened with a backoff, then used again.
grep -q "cannot listen for probe-now requests .*(poll)" collector.log ||
    fail "the collector did not say it polls while its wake connection is down"
wait_for 30 "the wake connection to come back" grep -q "listening for probe-now requests again" collector.log
"$BIN/vantage-collector" -c collector.conf probe-now loop --wait 10 >/dev/null 2>probe.err ||
    fail "probe-now after PostgreSQL came back: $(cat probe.err)"
grep -q "probe-now request [0-9]* for loop from the queue (listen)" collector.log ||
    fail "the request after the restart was not woken by LISTEN: $(grep 'from the queue' collector.log)"

# Frozen: the collector waits on it without growing, then goes on.
rss() { awk '/^VmRSS/ {print $2}' "/proc/$COLLECTOR/status"; }
rss0=$(rss)
pgpid=$(head -1 "$PG/data/postmaster.pid")
pgkids=$(pgrep -P "$pgpid" | tr '\n' ' ')
# shellcheck disable=SC2086
kill -STOP "$pgpid" $pgkids
sleep 3
rss1=$(rss)
# shellcheck disable=SC2086
kill -CONT "$pgpid" $pgkids
[ "$rss1" -le $((rss0 + 8192)) ] || fail "the collector grew from ${rss0} to ${rss1} KiB while PostgreSQL was frozen"
before=$(stored)
wait_for 30 "ingest to resume after PostgreSQL thawed" at_least $((before + 3))

# Exactly once: seqs 1..N, each once.
"$BIN/vantage-collector" -c collector.conf results --json --agent a1 >a1.jsonl
python3 - a1.jsonl <<'PY' || fail "stored sequence numbers are not 1..N exactly once"
import json, sys
seqs = sorted(json.loads(l)["seq"] for l in open(sys.argv[1]))
assert seqs == list(range(1, len(seqs) + 1)), seqs
PY
n=$(wc -l <a1.jsonl)
pass "PostgreSQL stopped and frozen during ingest: collector up, $n results 1..$n exactly once, RSS ${rss0}->${rss1} KiB"
