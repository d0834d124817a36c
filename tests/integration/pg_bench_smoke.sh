#!/bin/bash
# bench/pg/run for a few seconds, so that it cannot rot: its ingest mode
# with 2 agents x 1,000 results (one collector, the COPY ceiling of the
# same rows, two collectors; the script itself fails unless every
# (agent, seq) is stored exactly once in each), and its diagnose mode on
# a small PostgreSQL store (diagnose-bench gen's COPY path, then diagnose
# and compare in-process and through the CLI). Skips without PostgreSQL 15.
. "$(dirname "$0")/lib/common.bash"
need_bins vantage-collector vantage-loadgen diagnose-bench
[ -x /usr/lib/postgresql/15/bin/postgres ] || skip "PostgreSQL 15 is not installed"
export VANTAGE_BIN_DIR=$BIN

out=$("$SRC/bench/pg/run" ingest 1 2 1000 2>&1) || fail "bench/pg/run ingest: $out"
echo "$out"
echo "$out" | grep -qE '^  b\. one collector: 2000 rows stored once in [0-9.]+ s = [0-9]+ results/s' ||
    fail "no one-collector figure"
echo "$out" | grep -qE '^  a\. COPY ceiling: 2000 rows .* = [0-9]+ rows/s' || fail "no COPY ceiling"
echo "$out" | grep -qE '^  c\. two collectors: 2000 rows stored once' || fail "no two-collector figure"
echo "$out" | grep -qE 'machine busy [0-9.]+ of [0-9.]+ core-s' || fail "no machine CPU figure"
echo "$out" | grep -qE '^ratio of the medians: one collector / COPY [0-9.]+ .* two / one [0-9.]+' ||
    fail "no ratios"

out=$("$SRC/bench/pg/run" diagnose 1 10 1 2>&1) || fail "bench/pg/run diagnose: $out"
echo "$out"
# 10 agents x 6 checks x (24 h - 1 h) of minutes, written by COPY.
echo "$out" | grep -q '^history: 82800 rows' || fail "the history was not written"
echo "$out" | grep -q '^last hour: 3600 results through ingest' || fail "the last hour was not ingested"
for cmd in diagnose compare; do
    echo "$out" | grep -qE "^$cmd --json \\(CLI, 1 runs\\): median [0-9.]+ ms" || fail "$cmd not timed"
done
pass "bench/pg/run ingest and diagnose"
