#!/bin/bash
# The fleet simulator (bench/fleet) against a real collector for a few
# seconds, so that it cannot rot: 50 agents, each with its own CURVE key,
# send batches at 300 results/s; every result must be acknowledged and
# stored exactly once (counted back from the store by agent and seq).
#
# Then the collector's descriptor limit: started with a soft limit of 64
# descriptors (as a service manager's default soft limit is far below a
# fleet), it must raise it to its hard limit and take 150 agents.
. "$(dirname "$0")/lib/common.bash"
need_bins vantage-fleet vantage-collector

out=$("$BIN/vantage-fleet" --dir "$T/f1" --agents 50 --checks 6 --interval 1 --warmup 0.5 \
    --duration 2 --drain 10 --cli-runs 1 2>&1) || fail "fleet run failed: $out"
echo "$out"
echo "$out" | grep -q '^connect: 50 agents answered' || fail "not every agent was answered"
echo "$out" | grep -qE '^exact: ([0-9]+) results generated, \1 acknowledged, .* \1 stored: each once$' ||
    fail "counts differ: $out"
gen=$(echo "$out" | sed -n 's/^exact: \([0-9]*\) results generated.*/\1/p')
[ "$gen" -ge 600 ] || fail "only $gen results generated in 2.5 s (expected about 750)"
echo "$out" | grep -qE '^cli while ingesting: agents median [0-9.]+ ms \(1 runs\)' ||
    fail "the CLI was not timed"

# A soft limit of 64 descriptors and 150 agents, one connection each.
hard=$(ulimit -Hn)
[ "$hard" = unlimited ] || [ "$hard" -ge 512 ] || skip "the hard descriptor limit ($hard) is too low"
out=$(ulimit -Sn 64 && "$BIN/vantage-fleet" --dir "$T/f2" --agents 150 --checks 2 --interval 1 \
    --warmup 0.2 --duration 1 --drain 10 2>&1) || fail "150 agents on a collector started with 64 descriptors: $out"
echo "$out" | grep -qE '^exact: ([0-9]+) results generated, \1 acknowledged, .* \1 stored: each once$' ||
    fail "counts differ with 150 agents: $out"
pass "50 agents: $gen results acknowledged and stored once; 150 agents past a soft limit of 64 descriptors"
