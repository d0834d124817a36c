#!/bin/bash
# Issue 14, chaos 7: one agent probes 1,000 hostile mail servers at once
# (tests/chaos/hostile.py: silent, one byte a second, an endless line,
# TLS that stalls mid-handshake). Every check must end by its timeout with
# the right error (an endless line sooner: it is refused at the line
# limit), and the agent's memory stays bounded.
. "$(dirname "$0")/lib.bash"
need_bins vantage-agent
[ -x /usr/bin/time ] || skip "/usr/bin/time is missing (package time; scripts/install-deps installs it)"
SERVERS=$(pick 1000 1000)
ROUNDS=$(pick 1 10)
TIMEOUT=3
RSS_MAX_KB=$((64 * 1024))
ulimit -n 8192 2>/dev/null || skip "cannot raise the open files limit to 8192 for $SERVERS connections"
cd "$T"
start_bg hostile python3 "$SRC/tests/chaos/hostile.py" "$SERVERS" ports.txt
listening() { [ -f ports.txt ]; }
wait_for 60 "the hostile servers to listen" listening
# Plain dialogs for the first three modes, TLS for the last; three kinds
# of mail protocol each.
awk '{
    k = NR % 3
    if ($1 == "tlsstall") print (k == 0 ? "imaps" : k == 1 ? "smtps" : "pop3s") "://127.0.0.1:" $2, $1
    else print (k == 0 ? "smtp" : k == 1 ? "imap" : "pop3") "://127.0.0.1:" $2, $1
}' ports.txt >specs.txt
worst=0
t0=$SECONDS
for round in $(seq "$ROUNDS"); do
    # shellcheck disable=SC2046
    rc=0
    /usr/bin/time -f "%M %e" -o time.txt "$BIN/vantage-agent" probe --json \
        --timeout "$TIMEOUT" --concurrency "$SERVERS" $(cut -d' ' -f1 specs.txt) \
        >results.jsonl 2>probe.log || rc=$?
    [ "$rc" = 1 ] || fail "probe exited $rc (1 expected: every check fails)"
    read -r rss wall < <(tail -1 time.txt)
    out=$(python3 - "$TIMEOUT" "$wall" <<'PY') || fail "round $round: $out"
import json, sys, collections
timeout, wall = float(sys.argv[1]), float(sys.argv[2])
mode = dict(l.split() for l in open("specs.txt"))
want = {"silent": "proto_timeout", "trickle": "proto_timeout",
        "endless": "proto_bad_greeting", "tlsstall": "tls_handshake_failed"}
got = collections.Counter()
bad = []
longest = 0
n = 0
for l in open("results.jsonl"):
    if not l.startswith("{"):
        continue
    r = json.loads(l)
    n += 1
    m = mode[r["check"]]
    t = r["phases_us"]["total"] / 1e6
    longest = max(longest, t)
    got[(m, r["error"])] += 1
    # At the timeout (and not much later: 1 s of slack on a loaded
    # machine); an endless line well before it.
    late = t > timeout + 1 or (m != "endless" and t < timeout - 0.2)
    if r["error"] != want[m] or late:
        bad.append(f"{r['check']} ({m}): {r['error']} after {t:.2f} s")
print(f"{n} checks, {dict(got)}, longest {longest:.2f} s, wall {wall} s")
if bad:
    print("wrong: " + "; ".join(bad[:5]))
sys.exit(0 if n == len(mode) and not bad and wall < timeout + 4 else 1)
PY
    [ "$rss" -le "$RSS_MAX_KB" ] || fail "the agent used $rss KiB (bound $RSS_MAX_KB KiB)"
    [ "$rss" -gt "$worst" ] && worst=$rss
    echo "   round $round: $out; agent max RSS $rss KiB"
done
figure "one agent against $SERVERS hostile servers at once (silent, 1 byte/s, endless line, TLS stalled mid-handshake; smtp/imap/pop3 and their TLS ports), $ROUNDS round(s) of $SERVERS checks with timeout ${TIMEOUT}s ($((SECONDS - t0)) s): every check ended by its timeout with the right error (proto_timeout, proto_bad_greeting at the line limit, tls_handshake_failed); agent max RSS $((worst / 1024)) MiB"
pass "$((SERVERS * ROUNDS)) hostile checks ended on time with the right error; max RSS $worst KiB"
