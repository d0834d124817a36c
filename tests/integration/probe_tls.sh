#!/usr/bin/env bash
# tls:// probes against real TLS peers on 127.0.0.1: openssl s_server with
# each certificate of tests/servers/mkcerts, an old-TLS-only server, and
# misbehaving peers (plaintext, close, stall, reset). Asserts error code,
# layer, TLS facts and exit status of `vantage-agent probe --json`.
source "${VANTAGE_SOURCE_DIR:-$(dirname "$0")/../..}/tests/servers/probe-testlib.sh"
need openssl python3

certs=$WORK/certs
"$SERVERS/mkcerts" "$certs" >/dev/null || {
    echo "mkcerts failed" >&2
    exit 1
}

declare -A port
for name in valid ecdsa expired notyet wronghost untrusted selfsigned; do
    port[$name]=$(free_port)
    start "s_server-$name" openssl s_server -accept "127.0.0.1:${port[$name]}" \
        -cert "$certs/$name.pem" -key "$certs/$name.key" -quiet -naccept 20
done
# Only TLS 1.1 (allowed at security level 0): we require 1.2 or later.
port[old]=$(free_port)
start s_server-old openssl s_server -accept "127.0.0.1:${port[old]}" \
    -cert "$certs/valid.pem" -key "$certs/valid.key" -quiet -naccept 20 \
    -tls1_1 -cipher 'ALL:@SECLEVEL=0'
for mode in plaintext close stall reset; do
    port[$mode]=$(free_port)
    start "badpeer-$mode" python3 "$SERVERS/badpeer.py" "$mode" "${port[$mode]}"
done
for p in "${port[@]}"; do
    wait_port "$p" || exit 1
done
# s_server is sequential: every connection above used up one -naccept.

ca=(--ca-file "$certs/ca.pem")
t() { echo "tls://127.0.0.1:${port[$1]}"; }

probe_json "${ca[@]}" --timeout 2 "$(t valid)" "$(t ecdsa)" "tls://localhost:${port[valid]}"
expect_rc 0
expect_result "$(t valid)" ok -
expect_result "$(t ecdsa)" ok -
expect_result "tls://localhost:${port[valid]}" ok -
expect_field "$(t valid)" 'd["tls"]["verify"]' ok
expect_field "$(t valid)" '"127.0.0.1" in d["tls"]["sans"] and "mail.test" in d["tls"]["sans"]' True
expect_field "$(t valid)" 'd["tls"]["issuer"]' "CN=Vantage Test CA"
expect_field "$(t valid)" 'd["tls"]["days_left"] in (29, 30)' True
expect_field "$(t valid)" 'd["tls"]["version"]' TLSv1.3
expect_field "$(t valid)" 'd["address"] == "127.0.0.1" and d["port"] > 0' True
expect_field "$(t valid)" 'd["phases_us"]["connect"] > 0 and d["phases_us"]["tls"] > 0' True
fp=$(openssl x509 -in "$certs/valid.pem" -noout -fingerprint -sha256 | sed 's/.*=//; s/://g' |
    tr 'A-F' 'a-f')
expect_field "$(t valid)" 'd["tls"]["sha256"]' "$fp"

probe_json "${ca[@]}" --timeout 2 "$(t expired)" "$(t notyet)" "$(t wronghost)" \
    "$(t untrusted)" "$(t selfsigned)" "$(t old)"
expect_rc 1
expect_result "$(t expired)" tls_cert_expired tls
expect_field "$(t expired)" 'd["tls"]["days_left"] < 0' True
expect_result "$(t notyet)" tls_cert_not_yet_valid tls
expect_result "$(t wronghost)" tls_hostname_mismatch tls
expect_field "$(t wronghost)" 'd["tls"]["sans"]' "['wrong.test']"
expect_result "$(t untrusted)" tls_cert_untrusted tls
expect_result "$(t selfsigned)" tls_cert_untrusted tls
expect_result "$(t old)" tls_protocol_version tls

# Without --ca-file the test CA is not trusted.
probe_json --timeout 2 "$(t valid)"
expect_rc 1
expect_result "$(t valid)" tls_cert_untrusted tls

probe_json "${ca[@]}" --timeout 1 "$(t plaintext)" "$(t close)" "$(t stall)" "$(t reset)"
expect_rc 1
expect_result "$(t plaintext)" tls_handshake_failed tls
expect_result "$(t close)" tls_handshake_failed tls
expect_result "$(t stall)" tls_handshake_failed tls
expect_field "$(t stall)" '900000 <= d["phases_us"]["total"] < 1500000' True
expect_result "$(t reset)" tcp_reset tcp

# The report for a person: the verdict, the facts and a hint.
CHECKS=$((CHECKS + 1))
text=$("$AGENT" probe "${ca[@]}" --timeout 2 "$(t expired)")
if [[ $text != *"FAIL  tls / tls_cert_expired"* || $text != *"hint "*"renew"* ||
    $text != *"issuer  CN=Vantage Test CA"* ]]; then
    fail_check "human report lacks the verdict, issuer or hint:"
    echo "$text" >&2
fi

finish
