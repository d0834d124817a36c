#!/bin/bash
# migrate-store copies an sqlite store into a fresh PostgreSQL so that the
# collector's commands print the same on both, exactly once across re-runs
# and an interrupted copy.
#
# The source: 6 hours of history for 4 agents on 4 networks (diagnose-bench
# gen: raw results, 200 changes, the last hour through the real ingest
# path, a network failing imaps now), then a real collector on it for a
# few seconds: continuous diagnosis opens findings (with their events),
# and retention (retention = 3h) rolls every result into its hour and
# removes the raw results older than 3 h, so half the hourly history
# exists only as aggregates. The collector is stopped, then:
#   - a copy is refused while a collector runs on the source;
#   - a wrong target password is refused, naming the database, without
#     the password;
#   - the copy: agents, agents --json, compare, diagnose --json, timeline,
#     history, findings and results print the same on both, and (their
#     JSON forms) again after a copy of the copy back into a new sqlite file;
#   - the notification queued for a webhook that never answered is
#     reported as not copied;
#   - a second run copies nothing (every count unchanged);
#   - a copy killed mid-way (SIGKILL after its first batch) and run again
#     ends with exactly the source's results, changes and events;
#   - a target holding other data is refused.
. "$(dirname "$0")/lib/common.bash"
need_bins vantage-collector diagnose-bench
command -v psql >/dev/null || [ -x /usr/lib/postgresql/15/bin/psql ] ||
    skip "psql is missing (scripts/install-deps installs postgresql)"
PSQL=$(command -v psql || echo /usr/lib/postgresql/15/bin/psql)

cd "$T"
dir=$("$SRC/tests/servers/pg-up" 2>pg-up.err) || {
    rc=$?
    [ "$rc" = 77 ] && skip "$(cat pg-up.err)"
    fail "PostgreSQL did not start: $(cat pg-up.err)"
}
echo "$dir" >"$T/pg.dir" # stopped by the EXIT trap
newdb() { "$SRC/tests/servers/pg-db" "$dir" "$1" || fail "cannot create database $1"; }
sql() { "$PSQL" -X -qAt -h "$dir" -U vantage_admin -d "$1" -c "$2"; }

"$BIN/diagnose-bench" gen --db src.db --agents 4 --networks 4 --hours 6 --changes 200 \
    >gen.log 2>&1 || fail "diagnose-bench gen: $(cat gen.log)"

CPORT=$(free_port)
DEAD=$(free_port) # a webhook nobody answers: its notification stays queued
conf() { # conf NAME DATABASE
    cat >"$1.conf" <<CONF
[collector]
listen = tcp://127.0.0.1:$CPORT
database = $2
insecure_plaintext = yes
control = ipc://$T/$1.control
evaluate_every = 1s
retention = 3h

[target corp]
check = imaps://mail.example.com

[notify ops]
webhook = http://127.0.0.1:$DEAD/hook
CONF
}
conf src src.db
C=("$BIN/vantage-collector")
start_bg serve "${C[@]}" -c src.conf serve
SERVE=$LAST_PID
opened() { [ -n "$("${C[@]}" -c src.conf findings --open --json)" ]; }
wait_for 20 "continuous diagnosis to open a finding" opened

# While it runs, a copy is refused (and writes nothing).
TO=$(newdb target)
"${C[@]}" -c src.conf migrate-store --to "$TO" >running.out 2>running.err && fail "a copy ran beside a running collector"
grep -q "source src.db: 1 collector is running on it" running.err ||
    fail "no clear refusal of a running collector: $(cat running.err)"

kill -HUP "$SERVE"
pruned() { grep -q "retention: removed [1-9][0-9]* raw results" serve.log; }
wait_for 20 "the prune run" pruned
stop_pid "$SERVE"
# Results an agent's spool dropped and input the collector refused or
# clamped (the fixture has none): counts the store adds to, which a copy
# run twice must not double.
python3 -c 'import sqlite3, sys
db = sqlite3.connect(sys.argv[1])
db.execute("UPDATE agents SET lost = 7, duplicates = 3, invalid = 2, clamped = 5, refused = 1 WHERE name = ?", ("a001",))
db.commit()' src.db

# A wrong password: refused, the database named, the password nowhere.
sql postgres "CREATE ROLE pwauth; CREATE ROLE mig_pw LOGIN PASSWORD 'right-Secret-1' IN ROLE pwauth" ||
    fail "cannot create a role with a password"
BAD="postgresql://mig_pw:wrong-Secret-2@/target?host=$dir"
"${C[@]}" migrate-store --from src.db --to "$BAD" >bad.out 2>bad.err && fail "a wrong password was accepted"
grep -q "target postgresql://mig_pw:\*\*\*@/target" bad.err || fail "the error does not name the target: $(cat bad.err)"
grep -qi "password authentication failed" bad.err || fail "the error does not say why: $(cat bad.err)"
grep -q "wrong-Secret-2" bad.err bad.out && fail "the password was printed"

# The copy.
"${C[@]}" -c src.conf migrate-store --to "$TO" >copy.out 2>copy.err || fail "migrate-store: $(cat copy.err)"
grep -q "migrate-store: results: [0-9]* copied ([0-9]*/s)" copy.err || fail "no progress line: $(cat copy.err)"
grep -q "warning: [1-9][0-9]* notifications* waiting in source src.db .* not copied" copy.err ||
    fail "the undelivered notification was not reported: $(cat copy.err)"
conf dst "$TO"

# Only the time of the run may differ: generated_at, the text reports'
# "(TIME)" at the end of their header lines, and timeline's "Before TIME"
# (now - retention) above the hourly history, and agents' "last seen
# 11s ago" (the same time, seen a second later). results are compared
# as sets: diagnose-bench's raw history shares one record per check, whose
# started_at is not the row's, and a copy keeps the record (results --json
# prints it) while the row's time orders the listing.
now_out() { # the run's own time and config file left out
    sed -E 's/"generated_at":"[^"]*"//; s/ \(20[0-9-]{8}T[0-9:]{8}Z\)(\.?)$/ (NOW)\1/
            s/^Before 20[0-9-]{8}T[0-9:]{8}Z \(raw results/Before (NOW - retention) (raw results/
            s/ +[0-9]+[sm] ago +/ N ago /
            s/(src|dst|back)\.(conf|control)/X/g'
}
same() { # same CONF ARGS... — the source and CONF's store print the same
    local other=$1
    shift
    "${C[@]}" -c src.conf "$@" | now_out >a.out
    "${C[@]}" -c "$other.conf" "$@" | now_out >b.out
    [ -s a.out ] || fail "'$*' printed nothing on the source"
    diff a.out b.out >diff.out || fail "'$*' differs after the copy: $(head -c 2000 diff.out)"
}
COMMANDS=("agents" "agents --json" "compare corp" "compare corp --json" "diagnose corp --json"
    "timeline corp" "timeline corp --json" "history corp --json" "findings --json" "findings --open")
same_all() { # same_all CONF [COMMAND...] — every command prints the same
    local cmd conf=$1
    shift
    [ $# -gt 0 ] || set -- "${COMMANDS[@]}"
    for cmd in "$@"; do
        # shellcheck disable=SC2086
        same "$conf" $cmd
    done
    [ -s a.res ] || "${C[@]}" -c src.conf results --json | sort >a.res
    "${C[@]}" -c "$conf.conf" results --json | sort >b.res
    cmp -s a.res b.res || fail "results differ after the copy into $conf"
}
same_all dst

# The way back: PostgreSQL into a new sqlite file.
"${C[@]}" migrate-store --from "$TO" --to back.db >back.out 2>back.err || fail "copy back: $(cat back.err)"
conf back back.db
same_all back "agents --json" "compare corp --json" "diagnose corp --json" "timeline corp --json" \
    "history corp --json" "findings --json"
# Hours whose raw results were pruned are in the copied history: it has
# hours before the oldest raw result's (the rows' time: the fixture's
# records do not carry it).
oldest_raw=$(python3 -c 'import sqlite3, datetime, sys
us = sqlite3.connect(sys.argv[1]).execute("SELECT min(started_at_us) FROM results").fetchone()[0]
print(datetime.datetime.fromtimestamp(us / 1e6, datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"))' src.db)
oldest_hour=$("${C[@]}" -c dst.conf history corp --json | grep -o '"hour":"[^"]*"' | cut -d'"' -f4 | sort | head -1)
[[ $oldest_hour < ${oldest_raw:0:13} ]] ||
    fail "the copied history starts at $oldest_hour, not before the oldest raw result ($oldest_raw)"

counts() { # counts DB — rows of every copied table in the target
    sql "$1" "SELECT (SELECT count(*) FROM results), (SELECT count(*) FROM changes),
              (SELECT count(*) FROM findings), (SELECT count(*) FROM finding_events),
              (SELECT count(*) FROM rollups), (SELECT count(*) FROM latest),
              (SELECT sum(lost) FROM agents), (SELECT count(*) FROM agents),
              (SELECT sum(duplicates) || '/' || sum(invalid) || '/' || sum(clamped) || '/' || sum(refused) FROM agents)"
}
want=$(counts target)
nres=$(wc -l <a.res)
[ "$(cut -d'|' -f7 <<<"$want")" = 7 ] || fail "the lost count was not copied: $want"
[ "$(cut -d'|' -f9 <<<"$want")" = 3/2/5/1 ] || fail "the input counts were not copied: $want"
[ "${want%%|*}" = "$nres" ] || fail "target has ${want%%|*} results, source $nres"
grep -q "0 were there" copy.out || fail "the first copy found rows there: $(cat copy.out)"

# Again: nothing new, every count unchanged.
"${C[@]}" -c src.conf migrate-store --to "$TO" >again.out 2>again.err || fail "second run: $(cat again.err)"
grep -q " 0 results (0 were there)" again.out || fail "second run copied results: $(cat again.out)"
[ "$(counts target)" = "$want" ] || fail "second run changed the target: $(counts target), was $want"

# Interrupted: killed after its first batches, then run again.
T2=$(newdb target2)
"${C[@]}" -c src.conf migrate-store --to "$T2" --batch 10 >kill.out 2>kill.err &
MIG=$!
PIDS+=("$MIG")
batch() { grep -q "results: [0-9]* copied" kill.err; }
wait_for 20 "the first batches of the copy" batch
kill -KILL "$MIG"
wait "$MIG" 2>/dev/null
part=$(counts target2)
[ "${part%%|*}" -lt "$nres" ] || fail "the copy finished before it was killed; nothing was interrupted"
"${C[@]}" -c src.conf migrate-store --to "$T2" >resume.out 2>resume.err || fail "resume: $(cat resume.err)"
grep -q "holds a copy of this source" resume.err || fail "the resumed copy did not say so: $(cat resume.err)"
[ "$(counts target2)" = "$want" ] || fail "after the interrupted copy: $(counts target2), want $want (killed at ${part%%|*} results)"

# A target with other data is refused, and left as it was.
"${C[@]}" -c dst.conf migrate-store --to "$T2" >other.out 2>other.err && fail "copied into a target holding other data"
grep -q "already holds data that is not a copy of source" other.err || fail "no clear refusal: $(cat other.err)"
[ "$(counts target2)" = "$want" ] || fail "the refused copy changed the target"

pass "copied $nres results, ${want} (results|changes|findings|events|hours|latest|lost|agents|input counts); same output on both; re-run, interrupted copy (killed at ${part%%|*}) exact; refusals clear"
