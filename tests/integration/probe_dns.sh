#!/usr/bin/env bash
# dns:// probes and host lookups against real DNS peers on 127.0.0.1: nsd
# (authoritative for vantage.test: MX, SRV, A/AAAA, CNAME chain, TXT;
# NXDOMAIN, NODATA, REFUSED for other zones) and tests/servers/badpeer.py
# (SERVFAIL, no answer), and unbound (SERVFAIL from a real resolver whose
# authoritative server is lame). Also --domain discovery. Asserts error code,
# layer, answers and exit status of `vantage-agent probe --json`.
source "${VANTAGE_SOURCE_DIR:-$(dirname "$0")/../..}/tests/servers/probe-testlib.sh"
need nsd nsd-checkconf dig python3 openssl

ns_port=$(free_port udp)
# quiet.vantage.test: a domain that receives no mail (null MX, RFC 7505)
# and publishes no SRV record nor autodiscover name.
export NSD_EXTRA_RECORDS='quiet IN MX 0 .'
nsd_pid=$("$SERVERS/nsd-up" "$WORK/nsd" "$ns_port") || {
    echo "nsd-up failed" >&2
    exit 1
}
PIDS+=("$nsd_pid")
servfail_port=$(free_port udp)
silent_port=$(free_port udp)
closed_port=$(free_port udp)
start servfail python3 "$SERVERS/badpeer.py" servfail "$servfail_port" --ready "$WORK/sf.ready"
start silent python3 "$SERVERS/badpeer.py" silent "$silent_port" --ready "$WORK/si.ready"
for _ in $(seq 50); do
    [[ -e $WORK/sf.ready && -e $WORK/si.ready ]] && break
    sleep 0.1
done
R=(--resolver "127.0.0.1:$ns_port")

probe_json "${R[@]}" dns://vantage.test/MX dns://_imaps._tcp.vantage.test/SRV \
    dns://webmail.vantage.test/A dns://mail.vantage.test/AAAA dns://vantage.test/TXT \
    dns://autodiscover.vantage.test/CNAME
expect_rc 0
expect_result dns://vantage.test/MX ok -
expect_field dns://vantage.test/MX 'd["dns"][0]["answers"]' "['10 mail.vantage.test', '20 mx2.vantage.test']"
expect_field dns://vantage.test/MX 'd["dns"][0]["rcode"], d["dns"][0]["ttl"]' "('NOERROR', 300)"
expect_field dns://vantage.test/MX 'd["dns"][0]["resolver"]' "127.0.0.1:$ns_port"
expect_field dns://_imaps._tcp.vantage.test/SRV 'd["dns"][0]["answers"]' "['0 1 993 mail.vantage.test']"
expect_field dns://webmail.vantage.test/A 'd["dns"][0]["answers"]' "['127.0.0.1']"
expect_field dns://webmail.vantage.test/A '[(r["name"], r["type"], r["answers"]) for r in d["dns"][1:]]' \
    "[('webmail.vantage.test', 'CNAME', ['www.vantage.test']), ('www.vantage.test', 'CNAME', ['mail.vantage.test'])]"
expect_field dns://mail.vantage.test/AAAA 'd["dns"][0]["answers"]' "['::1']"
expect_field dns://vantage.test/TXT 'd["dns"][0]["answers"]' "['v=spf1 mx -all']"
expect_field dns://autodiscover.vantage.test/CNAME 'd["dns"][0]["answers"]' "['mail.vantage.test']"

probe_json "${R[@]}" dns://nothing.vantage.test/A dns://mail.vantage.test/TXT dns://example.com/MX
expect_rc 1
expect_result dns://nothing.vantage.test/A dns_nxdomain dns
expect_field dns://nothing.vantage.test/A 'd["dns"][0]["rcode"], d["dns"][0]["ttl"]' "('NXDOMAIN', 120)"
expect_result dns://mail.vantage.test/TXT dns_nodata dns
expect_result dns://example.com/MX dns_refused dns

probe_json --resolver "127.0.0.1:$servfail_port" dns://vantage.test/MX
expect_rc 1
expect_result dns://vantage.test/MX dns_servfail dns
# A real resolver's SERVFAIL: unbound asking a lame server for broken.test.
if command -v unbound >/dev/null && command -v ss >/dev/null; then
    ub_port=$(free_port udp)
    lame_port=$(free_port udp)
    start lame python3 "$SERVERS/badpeer.py" refused "$lame_port"
    if ub_pid=$("$SERVERS/unbound-up" "$WORK/unbound" "$ub_port" "$lame_port"); then
        PIDS+=("$ub_pid")
        probe_json --timeout 5 --resolver "127.0.0.1:$ub_port" dns://mail.broken.test/A
        expect_rc 1
        expect_result dns://mail.broken.test/A dns_servfail dns
        expect_field dns://mail.broken.test/A 'd["dns"][0]["rcode"]' SERVFAIL
    else
        fail_check "unbound-up failed"
    fi
else
    echo "note: unbound or ss missing: SERVFAIL from a real resolver not checked"
fi

probe_json --timeout 1 --resolver "127.0.0.1:$silent_port" dns://vantage.test/MX
expect_result dns://vantage.test/MX dns_timeout dns
expect_field dns://vantage.test/MX '900000 <= d["phases_us"]["total"] < 1500000' True
# A closed port answers with ICMP "port unreachable": refused at once, not
# a timeout, and the detail says why.
probe_json --timeout 2 --resolver "127.0.0.1:$closed_port" dns://vantage.test/MX
expect_rc 1
expect_result dns://vantage.test/MX dns_refused dns
expect_field dns://vantage.test/MX '"port is closed" in d["detail"]' True
expect_field dns://vantage.test/MX 'd["phases_us"]["total"] < 900000' True

# Host lookups of connection checks: both families asked and kept; the
# AAAA (::1, nothing listens) is tried first, then 127.0.0.1.
tcp_port=$(free_port)
start listener python3 -c "
import socket, time
s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(('127.0.0.1', $tcp_port)); s.listen(16); time.sleep(300)"
wait_port "$tcp_port" || exit 1
probe_json "${R[@]}" "tcp://mail.vantage.test:$tcp_port" "tcp://nothing.vantage.test:$tcp_port" \
    "tcp://vantage.test:$tcp_port"
expect_rc 1
expect_result "tcp://mail.vantage.test:$tcp_port" ok -
expect_field "tcp://mail.vantage.test:$tcp_port" 'd["address"]' 127.0.0.1
expect_field "tcp://mail.vantage.test:$tcp_port" 'sorted(r["type"] for r in d["dns"])' "['A', 'AAAA']"
expect_field "tcp://mail.vantage.test:$tcp_port" 'd["phases_us"]["dns"] > 0' True
expect_result "tcp://nothing.vantage.test:$tcp_port" dns_nxdomain dns
expect_result "tcp://vantage.test:$tcp_port" dns_nodata dns
probe_json --timeout 1 --resolver "127.0.0.1:$silent_port" "tcp://mail.vantage.test:$tcp_port"
expect_result "tcp://mail.vantage.test:$tcp_port" dns_timeout dns

# --domain: the domain's DNS checks, then the servers they name.
probe_json "${R[@]}" --timeout 2 --domain vantage.test "tcp://mail.vantage.test:$tcp_port"
expect_result dns://vantage.test/MX ok -
expect_result dns://_submission._tcp.vantage.test/SRV ok -
expect_result dns://_pop3s._tcp.vantage.test/SRV dns_nxdomain dns
expect_result dns://autodiscover.vantage.test/A ok -
expect_result dns://mail.vantage.test/AAAA ok -
expect_field "tls://autodiscover.vantage.test:443" 'd["discovered"]' True
expect_field dns://vantage.test/MX 'd["discovered"]' False
# Discovered server checks of kinds other engineers write (imaps, smtp,
# submission) are reported here only once they are built.
CHECKS=$((CHECKS + 1))
if ! grep -q 'smtp://mx2.vantage.test' <<<"$OUT$(cat "$WORK/stderr")"; then
    fail_check "the MX host mx2.vantage.test was not turned into an smtp:// check"
fi

# Issue 15: an optional record the domain does not publish (SRV,
# autodiscover, AAAA) reads "none published" as in compare, not FAIL, and
# alone does not make the exit status 1. v4only has no AAAA (NODATA).
OUT=$("$AGENT" probe "${R[@]}" --timeout 2 --domain quiet.vantage.test \
    "tcp://v4only.vantage.test:$tcp_port" 2>"$WORK/stderr")
RC=$?
expect_rc 0
for rec in dns://_imaps._tcp.quiet.vantage.test/SRV dns://_pop3s._tcp.quiet.vantage.test/SRV \
    dns://autodiscover.quiet.vantage.test/A dns://v4only.vantage.test/AAAA; do
    CHECKS=$((CHECKS + 1))
    grep -qF "$rec  none published" <<<"$OUT" || fail_check "$rec is not 'none published': $OUT"
done
CHECKS=$((CHECKS + 1))
if grep -q "FAIL" <<<"$OUT"; then
    fail_check "an unpublished optional record reads FAIL: $OUT"
fi
probe_json "${R[@]}" --timeout 2 --domain quiet.vantage.test "tcp://v4only.vantage.test:$tcp_port"
expect_rc 0
expect_result dns://_imaps._tcp.quiet.vantage.test/SRV dns_nxdomain dns
expect_result dns://v4only.vantage.test/AAAA dns_nodata dns
expect_result dns://quiet.vantage.test/MX ok -
# A required record missing still fails: the MX of a name without one.
probe_json "${R[@]}" --timeout 2 --domain nothing.vantage.test "tcp://v4only.vantage.test:$tcp_port"
expect_rc 1
expect_result dns://nothing.vantage.test/MX dns_nxdomain dns

finish
