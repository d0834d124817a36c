#!/bin/bash
# Issue 14, chaos 4 on PostgreSQL (chaos.pg.disk_full): PostgreSQL's own
# disk fills up during ingest. Its data directory, pg_wal included, is a
# small tmpfs in a private mount namespace of this test; a filler file
# takes the rest of the space. PostgreSQL first refuses writes ("could
# not extend file": ERROR); then, still full, it needs a new WAL segment,
# cannot create one and PANICs, and its crash recovery fails for the same
# reason. The collector sees failed commits, then dropped connections.
# It must not crash, must not acknowledge while commits fail, must log
# the outage a bounded number of times (not once per attempt), and once
# the filler is gone (and PostgreSQL restarted if it shut down, as an
# operator would) must store every result exactly once.
. "$(dirname "$0")/mountns.bash"
# The server is started below, on its tmpfs, not by lib.bash in /tmp.
unset VANTAGE_TEST_STORE
. "$(dirname "$0")/lib.bash"
need_bins vantage-collector vantage-loadgen vantage-chaosload
PGBIN=${VANTAGE_PG_BINDIR:-/usr/lib/postgresql/15/bin}
PER=$(pick 1200 6000)
AGENTS=4
RATE=400
FULL_S=$(pick 2 20)
CPORT=$(free_port)
# The cluster is about 47 MiB with its database; the rest leaves room for
# a new 16 MiB WAL segment before the filler takes it all.
PGMNT=$(mktemp -d /tmp/vantage-pgdisk.XXXXXX)
chmod 755 "$PGMNT"
mount -t tmpfs -o size=80m,mode=0755 chaos-pgdata "$PGMNT" ||
    { rmdir "$PGMNT"; skip "cannot mount a tmpfs here"; }
# The server first (cleanup stops it), then its disk, lazily.
trap 'cleanup; umount -l "$PGMNT" 2>/dev/null; rmdir "$PGMNT" 2>/dev/null' EXIT
export VANTAGE_TEST_STORE=pg VANTAGE_PG_DATA=$PGMNT
store_location >/dev/null
PGDIR=$(cat "$T/pg.dir")
cd "$T" || exit 1
"$BIN/vantage-collector" keygen --out keys >/dev/null
"$BIN/vantage-loadgen" keys "$AGENTS" lk >/dev/null
collector_section | sed 's|^authorized_keys = .*|authorized_keys = lk/authorized_keys|' >collector.conf
# shellcheck disable=SC2120 # with -c or a script on stdin
psql_q() { "$PGBIN/psql" -X -q -t -A -h "$PGDIR" -U vantage_admin -d vantage -v ON_ERROR_STOP=1 "$@"; }
pg_alive() { kill -0 "$(cat "$PGDIR/pid")" 2>/dev/null; }
acked() { cat acked.txt 2>/dev/null; }
# no_acks WHEN — for FULL_S s, no agent's acknowledged seq moves and the
# collector stays up. Acknowledgements of commits made before the
# failure may still be on their way: they land first (0.5 s).
no_acks() {
    local a1 a2
    sleep 0.5
    a1=$(acked)
    sleep "$FULL_S"
    a2=$(acked)
    kill -0 "$COLLECTOR" || fail "the collector died $1"
    [ -n "$a1" ] || fail "vantage-chaosload wrote no acked.txt"
    [ "$a1" = "$a2" ] || fail "results were acknowledged $1: $(echo $a1) -> $(echo $a2)"
    echo "   nothing acknowledged for ${FULL_S} s $1 ($(echo "$a1" | awk '{s += $2} END {print s}') results acknowledged before)"
}

start_bg collector "$BIN/vantage-collector" -c collector.conf serve
COLLECTOR=$LAST_PID
start_bg chaosload "$BIN/vantage-chaosload" run --endpoint "tcp://127.0.0.1:$CPORT" \
    --server-key keys/collector.pub --keys lk --agents "$AGENTS" --rate "$RATE" \
    --results "$PER" --batch 20 --timeout "$(pick 120 300)" --acked acked.txt
LOAD=$LAST_PID
some() { [ "$(count_results collector.conf)" -ge 400 ]; }
wait_for 30 "first results" some

echo "1. PostgreSQL's disk fills up during ingest"
dd if=/dev/zero of="$PGMNT/filler" bs=64k 2>/dev/null || true
echo "   filler: $(($(stat -c %s "$PGMNT/filler") / 1048576)) MiB, $(df -k --output=avail "$PGMNT" | tail -1) KiB left"
failing() { grep -q "database writes fail" collector.log; }
wait_for 15 "the collector to notice the full disk" failing
no_acks "while PostgreSQL's disk was full"
extends=$(grep -c "could not extend file" "$PGDIR/server.log")
echo "   PostgreSQL: $extends \"could not extend file\" errors"

echo "2. still full, and PostgreSQL needs a new WAL segment"
# As ingest would once the current segment is used up (16 MiB of WAL, a
# minute or more at this rate): the process that writes the first record
# of the next segment cannot create it and PANICs; crash recovery, at the
# end, needs one too.
psql_q -c "SELECT pg_switch_wal()" >/dev/null 2>&1 || true
panicked() { grep -q "PANIC" "$PGDIR/server.log"; }
wait_for 15 "PostgreSQL to PANIC without room for WAL" panicked
no_acks "while PostgreSQL was down after its PANIC"
panics=$(grep -c "PANIC" "$PGDIR/server.log")
down=$(grep -c "shutting down due to startup process failure" "$PGDIR/server.log")
echo "   PostgreSQL: $panics PANICs; crash recovery $([ "$down" -gt 0 ] && echo "failed, postmaster shut down" || echo "is running or done")"

echo "3. the space returns"
rm "$PGMNT/filler"
# Crash recovery that hit the full disk ends the postmaster; an operator
# would start it again once there is space.
restarted=no
if ! pg_alive; then
    "$SRC/tests/servers/pg-up" "$PGDIR" >/dev/null 2>"$T/pg-up.err" ||
        fail "PostgreSQL did not start again: $(cat "$T/pg-up.err")"
    restarted=yes
fi
pg_ready() { "$PGBIN/pg_isready" -q -h "$PGDIR" -U vantage_admin -d vantage; }
wait_for 30 "PostgreSQL to accept connections again" pg_ready
echo "   PostgreSQL alive after the disk was freed: $([ $restarted = yes ] && echo "no, restarted it" || echo yes)"
wait "$LOAD" || fail "the results were not all acknowledged after space returned"
cat chaosload.log
kill -0 "$COLLECTOR" || fail "the collector died after the outage"
check_exactly_once collector.conf "$PER" load0000 load0001 load0002 load0003
# amcheck: every B-tree index of the database and the heap of every
# table agree with themselves (a few MiB: well under a second).
bad=$(psql_q <<'SQL' 2>&1
CREATE EXTENSION IF NOT EXISTS amcheck;
SELECT count(*) FROM (
    SELECT bt_index_check(c.oid, true) FROM pg_index i
    JOIN pg_class c ON c.oid = i.indexrelid JOIN pg_am a ON a.oid = c.relam
    JOIN pg_namespace n ON n.oid = c.relnamespace
    WHERE a.amname = 'btree' AND c.relkind = 'i' AND n.nspname = 'public') x;
SELECT count(*) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace,
    LATERAL verify_heapam(c.oid) v
    WHERE c.relkind IN ('r', 'm', 't') AND n.nspname = 'public';
SQL
)
checked=$(echo "$bad" | sed -n 1p)
corrupt=$(echo "$bad" | sed -n 2p)
[ "$corrupt" = 0 ] && [ "${checked:-0}" -gt 0 ] 2>/dev/null ||
    fail "amcheck of the collector's database: $bad"
echo "   amcheck: $checked B-tree indexes and every heap of the database clean"

# The recovery is logged once writes have succeeded for a second (writefail.h).
recovered() { grep -q "database writes succeed again" collector.log; }
wait_for 10 "the recovery in the collector's log" recovered
fails=$(grep -c "database writes fail" collector.log)
backs=$(grep -c "database writes succeed again" collector.log)
lines=$(wc -l <collector.log)
grep "database writes" collector.log | sed 's/^/   log: /'
[ "$fails" = 1 ] && [ "$backs" = 1 ] ||
    fail "the full disk should be one line and its end one line, not $fails and $backs"
# What serve retries every second (heartbeat, lease) says so once per
# outage: the lease's line came every second while PostgreSQL was down.
for what in "cannot record this collector's heartbeat" "cannot renew the lease" \
    "cannot listen for probe-now requests" "retention: "; do
    n=$(grep -c "$what" collector.log)
    [ "$n" -le 1 ] || fail "the collector logged \"$what\" $n times for one outage"
done
[ "$lines" -lt 40 ] || fail "the collector logged $lines lines for one full disk"
# The server's warnings at its crash come through the log, one line each
# (they were libpq's bare three-line messages on stderr).
bare=$(grep -cv '^[0-9]\{4\}-[0-9][0-9]-[0-9][0-9]T' collector.log)
[ "$bare" = 0 ] || fail "$bare lines of the collector's output are not log lines"
if [ "$restarted" = yes ]; then
    what="crash recovery failed for want of space, so the test restarted the postmaster"
else
    what="the postmaster recovered on its own"
fi
figure "PostgreSQL's data directory (pg_wal included) on a full 80 MiB tmpfs during ingest of $AGENTS agents x $PER at $RATE/s: ${FULL_S} s of failing writes ($extends \"could not extend file\" errors), then ${FULL_S} s down after a PANIC without room for a WAL segment ($panics PANIC; $what): nothing acknowledged in either, all $((AGENTS * PER)) stored exactly once afterwards, amcheck clean ($checked B-tree indexes and the heaps), $lines collector log lines in all (one for the failure, one for the recovery, each retried task once)"
pass "PostgreSQL's disk full: no crash, no corruption, nothing lost, logged once"
