# Shared helpers for the chaos tests (sourced). Counts are small by
# default so that the suite fits CI; VANTAGE_CHAOS_LONG=1 (scripts/chaos
# --long) gives the full counts of issue 14.
. "$(dirname "${BASH_SOURCE[0]}")/../integration/lib/common.bash"
LONG=${VANTAGE_CHAOS_LONG:-0}

# pick CI LONG — the count for this run.
pick() {
    if [ "$LONG" = 1 ]; then echo "$2"; else echo "$1"; fi
}

# rss_kb PID — resident memory of a process in KiB (0 when gone).
rss_kb() {
    awk '/^VmRSS:/ {print $2; f=1} END {if (!f) print 0}' "/proc/$1/status" 2>/dev/null || echo 0
}

# rand_sleep LO_MS HI_MS — sleeps a random time between LO and HI ms
# (in bash: a python start costs seconds on a loaded machine).
rand_sleep() {
    local ms=$(($1 + RANDOM % ($2 - $1 + 1)))
    sleep "$((ms / 1000)).$(printf %03d $((ms % 1000)))"
}

# figure LINE — a line for docs/reliability.md, also in the ctest log.
# The store is named, since the same test runs on both (chaos.pg.*).
figure() {
    local store=sqlite
    [ "${VANTAGE_TEST_STORE:-sqlite}" = pg ] && store=PostgreSQL
    echo "FIGURE [$TEST_NAME] ($store): $*"
    [ -n "${VANTAGE_CHAOS_FIGURES:-}" ] && echo "$TEST_NAME ($store): $*" >>"$VANTAGE_CHAOS_FIGURES"
    return 0
}

# check_exactly_once CONF PER AGENTS... — every seq 1..PER of every agent
# stored exactly once and none counted lost (through the CLI, so it holds
# on either store backend).
check_exactly_once() {
    local conf=$1 per=$2
    shift 2
    local a
    : >"$T/all.jsonl"
    for a in "$@"; do
        "$BIN/vantage-collector" -c "$conf" results --json --agent "$a" >>"$T/all.jsonl" ||
            fail "results --json --agent $a failed"
    done
    "$BIN/vantage-collector" -c "$conf" agents --json >"$T/agents.jsonl" ||
        fail "agents --json failed"
    python3 - "$per" "$T/all.jsonl" "$T/agents.jsonl" "$@" <<'PY' || fail "not every result stored exactly once"
import json, sys, collections
per, path, apath, names = int(sys.argv[1]), sys.argv[2], sys.argv[3], sys.argv[4:]
seqs = collections.defaultdict(list)
for l in open(path):
    r = json.loads(l)
    seqs[r["agent"]].append(r["seq"])
lost = {json.loads(l)["name"]: json.loads(l).get("lost", 0) for l in open(apath)}
bad = 0
total = dups = missing = 0
for a in names:
    s = seqs.get(a, [])
    d = len(s) - len(set(s))
    m = len(set(range(1, per + 1)) - set(s))
    x = len(set(s) - set(range(1, per + 1)))
    total += len(s); dups += d; missing += m
    if d or m or x or lost.get(a, 0):
        bad += 1
        print(f"   {a}: stored {len(s)}, duplicates {d}, missing {m}, unknown {x}, lost {lost.get(a)}")
print(f"   {len(names)} agents x {per}: stored {total}, duplicates {dups}, missing {missing}")
sys.exit(1 if bad else 0)
PY
}
