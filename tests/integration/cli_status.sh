#!/bin/bash
# One exit rule for every command (docs/reference.md, "Exit status"): 0
# success or healthy, 1 a problem was found, 2 usage or runtime error; no
# data yet is status no_data with exit 0. The real binaries against a real
# collector and agent over CURVE on loopback. Also: a bad option is one
# line naming it, and 'agents' never shows an agent of a stopped collector
# as connected.
. "$(dirname "$0")/lib/common.bash"
need_bins vantage-agent vantage-collector

OPEN=$(free_port)
CLOSED=$(free_port)
CPORT=$(free_port)
tcp_listener "$OPEN"
cd "$T"

# expect_status WANT CMD... — CMD must exit WANT; its stdout is in $OUT.
expect_status() {
    local want=$1
    shift
    OUT=$("$@" 2>"$T/stderr.txt")
    local rc=$?
    [ "$rc" = "$want" ] || fail "'$*' exited $rc, expected $want: $OUT $(cat "$T/stderr.txt")"
}

"$BIN/vantage-collector" keygen --out keys >/dev/null || fail "collector keygen"
"$BIN/vantage-agent" keygen --out ka >/dev/null || fail "agent keygen"
echo "$(cat ka/agent.pub) a1" >authorized_keys
cat >collector.conf <<CONF
$(collector_section)

[target good]
check = tcp://127.0.0.1:$OPEN
interval = 1s
timeout = 2s

[target bad]
check = tcp://127.0.0.1:$CLOSED
interval = 1s
timeout = 2s
CONF
cat >agent.conf <<CONF
[agent]
name = a1
site = lab
collector = tcp://127.0.0.1:$CPORT
collector_public_key = $(cat keys/collector.pub)
secret_key = ka/agent.key
spool = spool.db
CONF
C=("$BIN/vantage-collector" -c collector.conf)

# No data yet: status no_data, exit 0, for diagnose and compare alike.
expect_status 0 "${C[@]}" diagnose good --json
grep -q '"status":"no_data"' <<<"$OUT" || fail "diagnose without data is not no_data: $OUT"
expect_status 0 "${C[@]}" compare good --json
grep -q '"status":"no_data"' <<<"$OUT" || fail "compare without data is not no_data: $OUT"
expect_status 0 "${C[@]}" diagnose
grep -q "no data" <<<"$OUT" || fail "diagnose without data does not say so: $OUT"
# Usage errors: 2, one line that names the option and points to the help.
expect_status 2 "${C[@]}" results --bogus
err=$(cat "$T/stderr.txt")
[ "$(wc -l <<<"$err")" = 1 ] || fail "results --bogus printed more than one line: $err"
grep -qF -- "unknown option '--bogus'" <<<"$err" || fail "results --bogus does not name it: $err"
grep -qF -- "vantage-collector results --help" <<<"$err" || fail "no pointer to the help: $err"
expect_status 2 "${C[@]}" results --since
grep -qF -- "'--since' needs a value" "$T/stderr.txt" || fail "results --since: $(cat "$T/stderr.txt")"
expect_status 2 "${C[@]}" agents --wait 5
grep -qF -- "agents does not take '--wait'" "$T/stderr.txt" || fail "agents --wait accepted"
expect_status 2 "${C[@]}" compare
expect_status 2 "${C[@]}" diagnose nosuchtarget
expect_status 2 "${C[@]}" probe-now good --wait 1
grep -q "no collector of database .* is running" "$T/stderr.txt" || fail "probe-now without a collector: $(cat "$T/stderr.txt")"

start_bg collector "${C[@]}" serve
COLLECTOR=$LAST_PID
start_bg agent "$BIN/vantage-agent" run -c agent.conf
AGENT=$LAST_PID
has_both() {
    [ "$(count_results collector.conf --target good)" -ge 2 ] &&
        [ "$(count_results collector.conf --target bad)" -ge 2 ]
}
wait_for 30 "results of both targets" has_both

# Healthy: 0; a problem: 1; every target: the highest.
expect_status 0 "${C[@]}" diagnose good --json
grep -q '"status":"ok"' <<<"$OUT" || fail "good is not ok: $OUT"
expect_status 1 "${C[@]}" diagnose bad --json
grep -q '"status":"problem"' <<<"$OUT" || fail "bad is not a problem: $OUT"
expect_status 0 "${C[@]}" compare good
expect_status 1 "${C[@]}" compare bad
grep -q "tcp_refused" <<<"$OUT" || fail "compare bad does not show tcp_refused: $OUT"
expect_status 1 "${C[@]}" compare bad --json
expect_status 1 "${C[@]}" diagnose
expect_status 0 "${C[@]}" probe-now good --wait 20
expect_status 1 "${C[@]}" probe-now bad --wait 20 --json
grep -q '"probe_now"' <<<"$OUT" || fail "probe-now --json: $OUT"
# Commands that find nothing: 0 on success.
expect_status 0 "${C[@]}" timeline bad
expect_status 0 "${C[@]}" results --limit 1
expect_status 0 "${C[@]}" agents --json
grep -q '"name":"a1".*"connected":true' <<<"$OUT" || fail "a1 not connected while both run: $OUT"

# The agent's one-shot probe follows the same rule.
expect_status 0 "$BIN/vantage-agent" probe "tcp://127.0.0.1:$OPEN"
expect_status 1 "$BIN/vantage-agent" probe "tcp://127.0.0.1:$CLOSED"
expect_status 2 "$BIN/vantage-agent" probe --bogus "tcp://127.0.0.1:$OPEN"

# The collector stops: its agents are no longer connected, at once (their
# last_seen is still within the 30 s window).
stop_pid "$COLLECTOR"
expect_status 0 "${C[@]}" agents --json
grep -q '"name":"a1".*"connected":false' <<<"$OUT" || fail "a1 connected to a stopped collector: $OUT"
expect_status 0 "${C[@]}" agents
grep -q "a1 .* gone" <<<"$OUT" || fail "agents table shows a1 connected: $OUT"
grep -q "The collector is not running" <<<"$OUT" || fail "agents does not say the collector stopped: $OUT"
expect_status 2 "${C[@]}" probe-now good --wait 1
stop_pid "$AGENT"
pass "exit statuses 0/1/2 as documented; one-line option errors; connected goes with the collector"

# PostgreSQL: the reading commands open the store read-only
# (docs/reference.md "A read-only role"). A help-desk role with only
# USAGE on the schema and SELECT on the tables runs them; serve with it
# fails with the grant hint; no reading command creates a day partition
# (the newest one is dropped first: a collector's open would create it).
if [ "${VANTAGE_TEST_STORE:-sqlite}" = pg ]; then
    PG=$(cat "$T/pg.dir")
    psql_() { "${VANTAGE_PG_BINDIR:-/usr/lib/postgresql/15/bin}/psql" -X -q -At -h "$PG" \
        -U vantage_admin -d vantage -v ON_ERROR_STOP=1 -c "$1"; }
    parts() { psql_ "SELECT count(*) FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
        WHERE c.relkind = 'r' AND c.relname LIKE 'results\_%'"; }
    psql_ "CREATE ROLE helpdesk LOGIN; GRANT USAGE ON SCHEMA public TO helpdesk;
        GRANT SELECT ON ALL TABLES IN SCHEMA public TO helpdesk" ||
        fail "cannot create the read-only role"
    psql_ "DO \$\$ DECLARE p text; BEGIN SELECT max(c.relname) INTO p FROM pg_inherits i
        JOIN pg_class c ON c.oid = i.inhrelid WHERE c.relkind = 'r'
        AND c.relname <> 'results_default'; EXECUTE format('DROP TABLE %I', p); END \$\$" ||
        fail "cannot drop the newest partition"
    before=$(parts)
    sed "s|^database = \(.*\)user=vantage_admin|database = \1user=helpdesk|" collector.conf >helpdesk.conf
    grep -q "user=helpdesk" helpdesk.conf || fail "helpdesk.conf: $(grep database helpdesk.conf)"
    H=("$BIN/vantage-collector" -c helpdesk.conf)
    expect_status 1 "${H[@]}" diagnose bad --json
    grep -q '"status":"problem"' <<<"$OUT" || fail "helpdesk: diagnose bad is not a problem: $OUT"
    expect_status 1 "${H[@]}" compare bad
    expect_status 0 "${H[@]}" agents --json
    grep -q '"name":"a1"' <<<"$OUT" || fail "helpdesk: agents does not list a1: $OUT"
    expect_status 0 "${H[@]}" results --limit 1 --json
    expect_status 0 "${H[@]}" timeline bad
    expect_status 0 "${H[@]}" findings
    expect_status 0 "${C[@]}" diagnose good --json
    [ "$(parts)" = "$before" ] || fail "a reading command created a partition ($before -> $(parts))"
    expect_status 2 "${H[@]}" serve
    grep -q 'role "helpdesk" lacks a privilege' "$T/stderr.txt" ||
        fail "serve as helpdesk: no grant hint: $(cat "$T/stderr.txt")"
    [ "$(parts)" = "$before" ] || fail "serve as helpdesk created a partition"
    pass "PostgreSQL: a SELECT-only role reads, serve with it is refused; no reading command creates a partition"
fi

# A read command run by root before the daemon's first start creates the
# database; it must belong to the data directory's owner (the daemon's
# user), not to root, or the daemon could never write it.
# (sqlite only: a PostgreSQL database has no file of ours.)
if [ "${VANTAGE_TEST_STORE:-sqlite}" = pg ]; then
    echo "note: PostgreSQL variant: database file ownership is sqlite's"
elif [ "$(id -u)" = 0 ] && id nobody >/dev/null 2>&1; then
    mkdir "$T/data"
    chown nobody: "$T/data"
    sed 's|^database = .*|database = '"$T"'/data/vantage.db|' collector.conf >owned.conf
    expect_status 0 "$BIN/vantage-collector" -c owned.conf agents
    owner=$(stat -c %U "$T/data/vantage.db" 2>/dev/null)
    [ "$owner" = nobody ] || fail "database made by root belongs to '$owner', not the data directory's owner"
    mode=$(stat -c %a "$T/data/vantage.db")
    [ "$mode" = 600 ] || fail "database mode $mode, not 600"
    pass "a database root creates belongs to its directory's owner, mode 600"
else
    echo "note: not root: database ownership not checked"
fi
