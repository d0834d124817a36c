#!/bin/bash
# Retention and the hourly history with a real collector: an agent
# (vantage-loadgen, the real protocol) delivers results that started hours
# ago (a spooled backlog, or a clock that is behind), then more for an hour
# that was rolled up already, then results older than rollup_retention and
# fresh ones. With retention = 2h and rollup_retention = 1d, the prune run
# (SIGHUP) removes every raw result older than 2 h and the aggregates of
# the day-old hours; each remaining hour counts exactly what was sent for
# it (results, failures, the first failure and its error, the slowest
# time), `history` and `timeline` answer from it, and the fresh results
# stay.
. "$(dirname "$0")/lib/common.bash"
need_bins vantage-collector vantage-loadgen

CPORT=$(free_port)
cd "$T"
cat >collector.conf <<CONF
[collector]
listen = tcp://127.0.0.1:$CPORT
database = $(store_location)
insecure_plaintext = yes
retention = 2h
rollup_retention = 1d

[target corp-mail]
check = imaps://mail.example.com
CONF
C=("$BIN/vantage-collector" -c collector.conf)
start_bg collector "${C[@]}" serve
COLLECTOR=$LAST_PID

load() {
    "$BIN/vantage-loadgen" load --plaintext --endpoint "tcp://127.0.0.1:$CPORT" --batch 50 "$@" \
        >>loadgen.log 2>&1 || fail "loadgen $*"
}
# total [ARGS]: results counted by the history of corp-mail.
total() {
    "${C[@]}" history corp-mail --json "$@" |
        python3 -c 'import json,sys; print(sum(json.loads(l)["results"] for l in sys.stdin))'
}
rolled() { [ "$(total)" = "$1" ]; }

# 300 results of 5 hours ago, every 7th failing (tcp_timeout).
load --results 300 --ago 18000 --fail-every 7
wait_for 15 "300 results in the hourly history" rolled 300
"${C[@]}" history corp-mail --json >first.jsonl
# 100 more for the same hours, after they were rolled up.
load --results 100 --ago 18000 --fail-every 7
wait_for 15 "400 results in the hourly history" rolled 400
# 20 older than rollup_retention, then 50 fresh ones.
load --results 20 --ago 108000 --fail-every 7
load --results 50
[ "$(count_results collector.conf)" = 470 ] || fail "not every result was stored"
"${C[@]}" results --json >raw.jsonl

# What the prune run must remove: on sqlite every raw result started
# before the horizon (now - 2h); on PostgreSQL whole UTC days of them
# (store_pg_retention.c), the days that ended before the horizon: the
# 300+100 of five hours ago go only when their day has ended two hours
# ago (depending on the time of day this runs), the 20 of 30 hours ago
# always. Days before the store's first day partition (it makes them
# from the day it was created on) are in results_default, whose rows go
# one by one, as on sqlite: so are five hours ago when that was
# yesterday in this fresh store.
first_day=0
if [ "${VANTAGE_TEST_STORE:-sqlite}" = pg ]; then
    first_day=$("${VANTAGE_PG_BINDIR:-/usr/lib/postgresql/15/bin}/psql" -X -q -At \
        -h "$(cat "$T/pg.dir")" -U vantage_admin -d vantage -v ON_ERROR_STOP=1 -c \
        "SELECT min(substr(c.relname, 9)) FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
         WHERE c.relname ~ '^results_[0-9]{8}$'") || fail "cannot list the day partitions"
fi
gone=$(python3 - raw.jsonl "${VANTAGE_TEST_STORE:-sqlite}" "$first_day" <<'PY'
import json, sys, datetime, time
D, H = 86400 * 1000000, 3600 * 1000000
def us(t):
    d = datetime.datetime.strptime(t.replace("Z", ""), "%Y-%m-%dT%H:%M:%S.%f" if "." in t else "%Y-%m-%dT%H:%M:%S")
    return int(d.replace(tzinfo=datetime.timezone.utc).timestamp() * 1000000)
horizon = int(time.time() * 1000000) - 2 * H
first = 0
if sys.argv[2] == "pg":
    d = datetime.datetime.strptime(sys.argv[3], "%Y%m%d").replace(tzinfo=datetime.timezone.utc)
    first = int(d.timestamp() * 1000000)
n = 0
for l in open(sys.argv[1]):
    t = us(json.loads(l)["started_at"])
    in_day_partition = sys.argv[2] == "pg" and t >= first
    n += (t // D + 1) * D <= horizon if in_day_partition else t < horizon
print(n)
PY
)
# (Five hours ago may straddle midnight on PostgreSQL: between 20 and 420.)
if [ "${VANTAGE_TEST_STORE:-sqlite}" = pg ]; then
    [ "$gone" -ge 20 ] && [ "$gone" -le 420 ] || fail "expected removals computed as $gone"
else
    [ "$gone" = 420 ] || fail "expected removals computed as $gone, not 420"
fi
kill -HUP "$COLLECTOR"
pruned() { grep -q "retention: removed $gone raw results" collector.log; }
wait_for 15 "the prune run's log line (removed $gone)" pruned
grep -Eq "retention: removed $gone raw results started before .* \(retention 2h\) and [12] hourly aggregates" \
    collector.log || fail "the prune run's log line does not say what it removed"
[ "$(count_results collector.conf)" = $((470 - gone)) ] || fail "raw results other than the $((470 - gone)) expected remain"
[ "$(grep -c 'retention: removed' collector.log)" = 1 ] || fail "more than one log line per run"

"${C[@]}" history corp-mail --json >after.jsonl || fail "history failed"
"${C[@]}" timeline corp-mail --json >timeline.jsonl || fail "timeline failed"
# Every hour as the raw results say it should be: exactly once each.
python3 - raw.jsonl first.jsonl after.jsonl timeline.jsonl <<'PY' || fail "the hourly history is not exact"
import json, sys, datetime
def us(t):
    d = datetime.datetime.strptime(t.replace("Z", ""), "%Y-%m-%dT%H:%M:%S.%f" if "." in t else "%Y-%m-%dT%H:%M:%S")
    return int(d.replace(tzinfo=datetime.timezone.utc).timestamp() * 1000000)
H = 3600 * 1000000
now = int(datetime.datetime.now(datetime.timezone.utc).timestamp() * 1000000)
raw = [json.loads(l) for l in open(sys.argv[1])]
want = {}
for r in raw:
    t = us(r["started_at"])
    if t < (now - 24 * H) // H * H:
        continue  # beyond rollup_retention: its hours went too
    h = want.setdefault(t // H * H, {"results": 0, "failed": 0, "first": None, "max": 0, "seqs": []})
    h["results"] += 1
    h["max"] = max(h["max"], r["phases_us"]["total"])
    h["seqs"].append(r["seq"])
    if r["status"] != "ok":
        h["failed"] += 1
        assert r["error"] == "tcp_timeout", r
        if h["first"] is None or t < h["first"]:
            h["first"] = t
after = [json.loads(l) for l in open(sys.argv[3])]
got = {us(h["hour"]): h for h in after}
assert sorted(got) == sorted(want), (sorted(got), sorted(want))
old = 0
for hour, w in want.items():
    g = got[hour]
    assert g["target"] == "corp-mail" and g["check"] == "imaps://mail.example.com", g
    assert (g["results"], g["failed"], g["ok"]) == (w["results"], w["failed"], w["results"] - w["failed"]), (g, w)
    assert g["total_us_max"] == w["max"], (g, w)
    if w["failed"]:
        assert us(g["first_failure_at"]) == w["first"] and g["error"] == "tcp_timeout" and g["layer"] == "tcp", (g, w)
    else:
        assert g["first_failure_at"] is None and g["error"] is None, g
    if hour < now - 2 * H:
        old += g["results"]
assert old == 400, old
assert sum(g["failed"] for g in after) == 400 // 7, after
# The late 100 went into hours rolled up before, not into new rows.
first = {us(h["hour"]): h["results"] for h in map(json.loads, open(sys.argv[2]))}
assert sum(first.values()) == 300 and set(first) <= set(got), first
assert sum(got[h]["results"] - first[h] for h in first) == 100, (first, got)
# timeline: the failures before retention, one event per run of hours.
ev = [json.loads(l) for l in open(sys.argv[4])]
fails = [e for e in ev if e["event"] == "failures"]
assert fails and sum(e["failed"] for e in fails) == 400 // 7, fails
assert sum(e["results"] for e in fails) == 400, fails
assert min(us(e["at"]) for e in fails) == min(w["first"] for w in want.values() if w["first"]) // 1000000 * 1000000, fails
print("hours:", {datetime.datetime.utcfromtimestamp(h / 1e6).strftime("%H:00"): got[h]["results"] for h in sorted(got)})
PY

# The filters: a check as written in the configuration, with its default
# port; a network nobody reports from; --since.
net=$(python3 -c 'import json,sys; print(json.loads(sys.stdin.readline())["network"])' <after.jsonl)
[ "$(total --check imaps://mail.example.com:993 --network "$net")" = 450 ] || fail "history --check/--network"
[ "$(total --network nowhere)" = 0 ] || fail "history --network nowhere"
[ "$(total --since 1h)" = 50 ] || fail "history --since 1h"
"${C[@]}" history corp-mail >history.txt || fail "history (text) failed"
grep -q "FIRST FAILURE" history.txt && grep -q tcp_timeout history.txt || fail "history text lacks the failures"
"${C[@]}" timeline corp-mail >timeline.txt || fail "timeline (text) failed"
grep -q "hours with failures from the hourly history" timeline.txt || fail "timeline text lacks the history"
"${C[@]}" history >/dev/null 2>err.txt
[ $? = 2 ] && grep -q "needs a TARGET" err.txt || fail "history without TARGET is not a usage error"
"${C[@]}" history corp-mail --agent x >/dev/null 2>&1
[ $? = 2 ] || fail "history --agent is not a usage error"
kill -0 "$COLLECTOR" || fail "collector died"
pass "$gone old raw results pruned, day-old hours dropped, 400 results counted once in their hours (100 late), history and timeline answer"
