# shellcheck shell=bash disable=SC2034
# Shared by the lab tests (sourced, not run; ctest only runs test_*.sh).
# Each test sets VANTAGE_LAB_PREFIX to its own prefix before sourcing, so
# tests never touch each other's lab or one an operator has up.

LAB=${VANTAGE_SOURCE_DIR:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)}/tests/lab/lab
export VANTAGE_LAB_PREFIX
LAB_RUN=/run/${VANTAGE_LAB_PREFIX}lab
export VANTAGE_LAB_RUN=$LAB_RUN

skip() {
    echo "SKIP: $*"
    exit 77
}

# Exits 77 (skipped) when the lab cannot run here, saying why.
lab_require() {
    [ "$(id -u)" -eq 0 ] || skip "the lab needs root (network namespaces); CI runs it as root"
    ip netns list >/dev/null 2>&1 || skip "'ip netns' does not work here"
    local tool
    for tool in nft nsd unbound dovecot nginx openssl dig curl /usr/lib/postfix/sbin/master \
        /usr/lib/dovecot/lmtp; do
        command -v "$tool" >/dev/null 2>&1 ||
            skip "$tool is missing (scripts/install-deps installs the lab's packages)"
    done
    if [ "${VANTAGE_LAB_STORE:-sqlite}" = postgresql ]; then
        [ -x "${VANTAGE_PG_BINDIR:-/usr/lib/postgresql/15/bin}/postgres" ] ||
            skip "VANTAGE_LAB_STORE=postgresql: PostgreSQL 15 is missing (scripts/install-deps installs it)"
        echo "lab: the collector's store is PostgreSQL (VANTAGE_LAB_STORE=postgresql)"
    fi
    # A namespace of our own proves we may create them (e.g. not in an
    # unprivileged container).
    ip netns add "${VANTAGE_LAB_PREFIX}probe" 2>/dev/null ||
        skip "cannot create network namespaces here"
    ip netns del "${VANTAGE_LAB_PREFIX}probe"
}

FAILS=0
fail() {
    echo "FAIL: $*"
    FAILS=$((FAILS + 1))
}
pass() {
    echo "ok: $*"
}

# Everything a lab with our prefix may have left: prints one line per
# leftover, nothing when clean.
lab_leftovers() {
    local p=$VANTAGE_LAB_PREFIX
    ip netns list 2>/dev/null | awk '{ print $1 }' | grep "^$p" | sed 's/^/namespace /'
    ip -o link show 2>/dev/null | awk -F': ' '{ print $2 }' | grep "^$p" | sed 's/^/root link /'
    ls -d /etc/netns/"$p"* 2>/dev/null | sed 's/^/netns config /'
    [ -e "$LAB_RUN" ] && echo "run directory $LAB_RUN"
    ps -e -o pid=,args= | grep -F -- "$LAB_RUN" | grep -v -F -e grep -e testlib | sed 's/^/process /'
    return 0
}

# ---- diagnosis scenarios (test_diagnose*.sh) --------------------------------
# After "lab up" and "lab vantage up": apply a fault, let every agent probe
# now, and poll the collector's diagnosis until it matches or a deadline
# passes. DIAG_TARGET and DIAG_INTERVAL (seconds, = VANTAGE_LAB_INTERVAL)
# must be set; DIAG_T0/DIAG_T1 are set by diag_fault.
DIAG_TARGET=${DIAG_TARGET:-lab-mail}
DIAG_DEADLINE=${DIAG_DEADLINE:-45}

# diagnose --json; its exit status (1 = a problem diagnosed) is data here.
diag_json() {
    "$LAB" collector diagnose "$DIAG_TARGET" --json 2>/dev/null || true
}

# Every connected agent probes now; the answers are in the store when it
# returns (up to 30 s: a dropped port costs the check's 5 s timeout).
diag_probe() {
    "$LAB" collector probe-now "$DIAG_TARGET" --wait 30 >/dev/null 2>&1
}

# What an operator needs when a scenario fails: the diagnosis and the
# matrix of vantage points x checks.
diag_dump() {
    echo "---- diagnose $DIAG_TARGET"
    "$LAB" collector diagnose "$DIAG_TARGET" 2>&1 | sed 's/^/    /'
    echo "---- compare $DIAG_TARGET"
    "$LAB" collector compare "$DIAG_TARGET" 2>&1 | sed 's/^/    /'
    echo "---- faults"
    "$LAB" faults 2>&1 | sed 's/^/    /'
}

# diag_fault FAULT ARGS...: records when the fault began (DIAG_T0, before
# "lab fault"; DIAG_T1, when it is in force) and applies it.
diag_fault() {
    DIAG_T0=$(date +%s)
    "$LAB" fault "$@" >/dev/null || fail "lab fault $*"
    DIAG_T1=$(date +%s)
}

# diag_match SPEC < diagnose.json: exit 0 and a one-line summary when the
# diagnosis matches SPEC, else exit 1 and why. SPEC is JSON:
#   {"status": "ok"}  healthy: status ok, no findings, every agent reporting
#   {"findings": [{"verdict", "layer", "error", "severity", "agents",
#                  "networks", "check", "change", "any_start"}...],
#    "count": N, "status": "problem" (the default) or "warning"}
# Each expected finding must be matched by one finding: the same verdict,
# layer and error (when given), exactly the same agents and networks (when
# given), "check" among its checks, started_at from DIAG_T0 - 1 s (the
# contract's times are whole seconds) to DIAG_T1 + 2 probe intervals, and
# with "change" given, a correlated change of that kind at or after
# DIAG_T0 - 1 s (any_start: true skips the started_at window, for
# warnings dated by their facts, e.g. a certificate's expiry;
# random_start: true ends the window now instead, for faults that strike
# checks at random, e.g. packet loss, whose first victim may come late). Every other finding must have the verdict and agents of
# an expected one (one fault may show as one finding per server), and
# with "count" there must be exactly N findings.
diag_match() {
    DIAG_SPEC=$1 DIAG_T0=${DIAG_T0:-0} DIAG_T1=${DIAG_T1:-0} DIAG_INTERVAL=$DIAG_INTERVAL \
        DIAG_AGENTS=${DIAG_AGENTS:-5} /usr/bin/python3 -c '
import calendar, json, os, sys, time
spec = json.loads(os.environ["DIAG_SPEC"])
t0, t1 = int(os.environ["DIAG_T0"]), int(os.environ["DIAG_T1"])
window = 2 * int(os.environ["DIAG_INTERVAL"])
def when(s):
    return calendar.timegm(time.strptime(s, "%Y-%m-%dT%H:%M:%SZ"))
def stamp(t):
    return time.strftime("%H:%M:%S", time.gmtime(t))
try:
    d = json.load(sys.stdin)
except ValueError as e:
    print("diagnose --json gave no JSON:", e)
    sys.exit(1)
fs = d.get("findings", [])
got = "; ".join("%s/%s/%s %s on %s since %s" % (f.get("verdict"), f.get("layer"), f.get("error"),
                ",".join(f.get("agents", [])), ",".join(f.get("networks", [])),
                f.get("started_at")) for f in fs) or "no findings"
vp = d.get("vantage_points", {})
if spec.get("status") == "ok":
    want = int(os.environ["DIAG_AGENTS"])
    if d.get("status") == "ok" and not fs and vp.get("reporting") == want:
        print("status ok, no findings, %d agents reporting" % want)
        sys.exit(0)
    print("want status ok from %d agents, got %s (%s reporting): %s" %
          (want, d.get("status"), vp.get("reporting"), got))
    sys.exit(1)
def mismatch(e, f):
    for k in ("verdict", "layer", "error", "severity"):
        if k in e and f.get(k) != e[k]:
            return "%s %s, not %s" % (k, f.get(k), e[k])
    for k in ("agents", "networks"):
        if k in e and sorted(f.get(k, [])) != sorted(e[k]):
            return "%s %s, not %s" % (k, sorted(f.get(k, [])), sorted(e[k]))
    if set(f.get("agents", [])) & set(f.get("healthy_agents", [])):
        return "agents also listed healthy"
    if "check" in e and e["check"] not in f.get("checks", []):
        return "checks %s lack %s" % (f.get("checks"), e["check"])
    try:
        s = when(f.get("started_at", ""))
    except ValueError:
        return "started_at %r is no time" % f.get("started_at")
    if e.get("random_start") and not t0 - 1 <= s <= time.time() + 1:
        return "started_at %s not within %s..now (fault began %s)" % (
            stamp(s), stamp(t0 - 1), stamp(t0))
    if not e.get("any_start") and not e.get("random_start") and not t0 - 1 <= s <= t1 + window:
        return "started_at %s not within %s..%s (fault began %s)" % (
            stamp(s), stamp(t0 - 1), stamp(t1 + window), stamp(t0))
    if "change" in e:
        ok = [c for c in f.get("correlated_changes", [])
              if c.get("kind") == e["change"] and when(c.get("at", "")) >= t0 - 1]
        if not ok:
            return "no %s at or after %s among correlated_changes" % (e["change"], stamp(t0))
    return None
if d.get("status") != spec.get("status", "problem"):
    print("status %s, want %s: %s" % (d.get("status"), spec.get("status", "problem"), got))
    sys.exit(1)
used, why = set(), []
for e in spec["findings"]:
    hit = None
    for i, f in enumerate(fs):
        if i in used:
            continue
        m = mismatch(e, f)
        if m is None:
            hit = i
            break
        why.append("%s: %s" % (e["verdict"], m))
    if hit is None:
        print("no finding matches %s (%s); got: %s" % (json.dumps(e), "; ".join(why) or "none", got))
        sys.exit(1)
    used.add(hit)
for i, f in enumerate(fs):
    if i not in used and not any(f.get("verdict") == e["verdict"] and
            ("agents" not in e or sorted(f.get("agents", [])) == sorted(e["agents"]))
            for e in spec["findings"]):
        print("unexpected finding %s/%s on %s; got: %s" % (f.get("verdict"), f.get("layer"),
              ",".join(f.get("agents", [])), got))
        sys.exit(1)
if "count" in spec and len(fs) != spec["count"]:
    print("%d findings, want %d: %s" % (len(fs), spec["count"], got))
    sys.exit(1)
print(got)
'
}

# diag_expect NAME SPEC: probes and polls until the diagnosis matches SPEC
# (diag_match) or DIAG_DEADLINE seconds pass; a round may be needed for
# the diagnosis to settle (e.g. a check found through DNS is probed in the
# round after the answer that names it). With DIAG_ROUNDS=N set, it must
# match within N probe-now rounds: for a wrong verdict that only lasts
# until old states go stale. Passes or fails NAME; on failure prints the
# diagnosis and the matrix.
diag_expect() {
    local name=$1 spec=$2 deadline=$((SECONDS + DIAG_DEADLINE)) why start=$SECONDS seen=""
    local rounds=0
    while :; do
        diag_probe
        rounds=$((rounds + 1))
        if why=$(diag_json | diag_match "$spec"); then
            pass "$name ($((SECONDS - start)) s): $why"
            # A diagnosis that needed rounds to settle is worth a look.
            [ -n "$seen" ] && echo "   before it settled:$seen"
            return 0
        fi
        seen="$seen
     at $((SECONDS - start)) s: $why"
        [ "$SECONDS" -ge "$deadline" ] && break
        [ -n "${DIAG_ROUNDS:-}" ] && [ "$rounds" -ge "$DIAG_ROUNDS" ] && break
        sleep 1
    done
    fail "$name: after $((SECONDS - start)) s, $rounds probe rounds: $why"
    diag_dump
    return 1
}

# diag_heal NAME: clears every fault, waits until the target is healthy
# again, then lets every check pass a few more rounds, so that the next
# scenario's failure starts a new episode instead of continuing a
# flapping one (store_impl.h STORE_FLAP_GAP_MAX).
diag_heal() {
    DIAG_CLEARED=$(date +%s)
    "$LAB" clear >/dev/null || fail "lab clear"
    DIAG_T0=0 DIAG_T1=0 diag_expect "$1: heals, back to ok" '{"status": "ok"}' || return 1
    local i
    for i in 1 2 3; do diag_probe; done
}

# diag_recovered CHECK AGENT...: the timeline shows, for each agent, that
# CHECK failed at or after DIAG_T0 - 1 s and recovered after that, at or
# after DIAG_CLEARED - 1 s - DIAG_TIMEOUT (when "lab clear" began; a probe
# started up to one check timeout, default 5 s, before the clear may pass
# because of it: a dropped SYN is retried once the firewall lets it
# through). Prints why not.
diag_recovered() {
    local check=$1
    shift
    "$LAB" collector timeline "$DIAG_TARGET" --json 2>/dev/null |
        DIAG_CHECK=$check DIAG_T0=$DIAG_T0 DIAG_CLEARED=$DIAG_CLEARED \
        DIAG_TIMEOUT=${DIAG_TIMEOUT:-5} /usr/bin/python3 -c '
import calendar, json, os, sys, time
def when(s):
    return calendar.timegm(time.strptime(s, "%Y-%m-%dT%H:%M:%SZ"))
check, t0, cleared = os.environ["DIAG_CHECK"], int(os.environ["DIAG_T0"]), int(os.environ["DIAG_CLEARED"])
ev = {}
for line in sys.stdin:
    if line.strip():
        e = json.loads(line)
        if e.get("check") == check and e.get("event") in ("failed", "recovered"):
            ev.setdefault(e.get("agent"), {})[e["event"]] = when(e["at"])
bad = []
for a in sys.argv[1:]:
    f, r = ev.get(a, {}).get("failed"), ev.get(a, {}).get("recovered")
    if f is None or r is None or f < t0 - 1 or r < f or r < cleared - 1 - int(os.environ["DIAG_TIMEOUT"]):
        bad.append("%s: failed %s, recovered %s" % (a, f, r))
if bad:
    print("timeline of %s: %s (fault at %d, cleared at %d)" % (check, "; ".join(bad), t0, cleared))
    sys.exit(1)
print("timeline: %s failed and recovered from %s" % (check, ", ".join(sys.argv[1:])))
' "$@"
}
