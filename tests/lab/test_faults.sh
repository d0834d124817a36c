#!/bin/bash
# Each lab fault affects exactly the hosts it should, applying it twice is
# the same as once, and clearing it restores every host. Hosts are checked
# with "lab check" (vantage-agent probe when it works, standard tools
# otherwise) from inside their own namespaces.
set -uo pipefail
VANTAGE_LAB_PREFIX=vtf-
. "$(dirname "$0")/testlib.sh"
lab_require

trap '"$LAB" down >/dev/null 2>&1' EXIT
"$LAB" down >/dev/null 2>&1
"$LAB" up || {
    echo "FAIL: lab up"
    exit 1
}

HOSTS="hq1 hq2 br1 br2 home1"
SPECS="dns://example.com/MX imaps://mail.example.com submission://mail.example.com https://webmail.example.com/"
TMP=$(mktemp -d)
trap '"$LAB" down >/dev/null 2>&1; rm -rf "$TMP"' EXIT

# Runs the specs from every host at once; leaves "$TMP/HOST" holding the
# error column ("ok ok tcp_timeout ...").
check_all() {
    local login=$1 h
    shift
    for h in $HOSTS; do
        # shellcheck disable=SC2086
        "$LAB" check $login --timeout 2 "$h" "$@" 2>/dev/null | awk '{ printf "%s ", $3 }' >"$TMP/$h" &
    done
    wait
}

# expect NAME AFFECTED_HOSTS "ERRORS" [--login] [SPECS...]: the affected
# hosts must show ERRORS (one per spec; "a|b" accepts either, "fail" any
# failure), all the others must be ok.
expect() {
    local name=$1 affected=$2 want=$3 login=""
    shift 3
    if [ "${1:-}" = --login ]; then
        login=--login
        shift
    fi
    local specs=("$@")
    [ ${#specs[@]} -gt 0 ] || read -r -a specs <<<"$SPECS"
    check_all "$login" "${specs[@]}"
    local h got exp ok=yes
    for h in $HOSTS; do
        got=$(cat "$TMP/$h")
        if [[ " $affected " == *" $h "* ]]; then exp=$want; else exp=$(printf 'ok %.0s' "${specs[@]}"); fi
        if ! match "$exp" "$got"; then
            fail "$name: $h got '${got% }', want '$exp'"
            ok=no
        fi
    done
    [ $ok = yes ] && pass "$name: [$affected] -> $want; others ok"
}

match() {
    local -a e g
    read -r -a e <<<"$1"
    read -r -a g <<<"$2"
    [ ${#e[@]} -eq ${#g[@]} ] || return 1
    local i
    for i in "${!e[@]}"; do
        if [ "${e[$i]}" = fail ]; then
            [ "${g[$i]}" != ok ] || return 1
        elif [[ "|${e[$i]}|" != *"|${g[$i]}|"* ]]; then
            return 1
        fi
    done
}

# fault_case NAME "FAULT ARGS" AFFECTED "ERRORS" [--login] [SPECS...]
fault_case() {
    local name=$1 fault=$2
    shift 2
    # shellcheck disable=SC2086
    if ! "$LAB" fault $fault || ! "$LAB" fault $fault; then
        fail "$name: 'lab fault $fault' failed"
        "$LAB" clear
        return
    fi
    local n
    n=$("$LAB" faults | wc -l)
    [ "$n" -ge 1 ] || fail "$name: 'lab faults' lists nothing"
    expect "$name" "$@"
    "$LAB" clear || fail "$name: clear failed"
    "$LAB" clear || fail "$name: second clear failed"
    [ -z "$("$LAB" faults)" ] || fail "$name: faults left after clear: $("$LAB" faults)"
    shift 2
    expect "$name cleared" "" "" "$@"
}

expect "baseline" "" ""
expect "baseline login" "" "" --login imaps://mail.example.com pop3s://mail.example.com \
    submission://mail.example.com smtps://mail.example.com

fault_case "office firewall drops 993" "block-port hq 993" "hq1 hq2" \
    "ok tcp_timeout ok ok"
fault_case "office firewall rejects mail ports" "block-port branch mail reject" "br1 br2" \
    "ok tcp_refused tcp_refused ok"
fault_case "host firewall on one host" "host-block hq2 993 reject" "hq2" \
    "ok tcp_refused ok ok"
# A closed resolver port ("port unreachable") is refused for dig and the
# agent alike; a reject rule that drops the ICMP answer makes it a timeout.
DNS_CLOSED="dns_refused|dns_timeout"
fault_case "host firewall blocks DNS" "host-block br1 dns reject" "br1" \
    "$DNS_CLOSED $DNS_CLOSED $DNS_CLOSED $DNS_CLOSED"
fault_case "resolver down" "resolver home down" "home1" \
    "$DNS_CLOSED $DNS_CLOSED $DNS_CLOSED $DNS_CLOSED"
fault_case "resolver SERVFAIL" "resolver branch servfail" "br1 br2" \
    "dns_servfail dns_servfail dns_servfail dns_servfail"
fault_case "resolver NXDOMAIN" "resolver hq nxdomain" "hq1 hq2" \
    "dns_nxdomain dns_nxdomain dns_nxdomain dns_nxdomain"
# Postfix authenticates through dovecot: a submission process started
# after dovecot stopped finds no SASL service and exits on connect (a
# reset, or a close before the banner), one still running from before
# keeps answering. Either is the truth of a stopped dovecot.
fault_case "dovecot stopped" "service mail dovecot" "$HOSTS" \
    "ok tcp_refused ok|tcp_reset|proto_closed ok"
fault_case "nginx stopped" "service mail nginx" "$HOSTS" \
    "ok ok ok tcp_refused"
fault_case "mail server down" "mail-down mail" "$HOSTS" \
    "ok tcp_refused tcp_refused tcp_refused"
fault_case "expired certificate" "cert expired" "$HOSTS" \
    "ok tls_cert_expired tls_cert_expired tls_cert_expired"
fault_case "wrong-host certificate" "cert wronghost" "$HOSTS" \
    "ok tls_hostname_mismatch tls_hostname_mismatch tls_hostname_mismatch"
fault_case "all traffic lost at home" "loss home 100" "home1" "fail fail fail fail"
fault_case "zone down" "zone-down" "$HOSTS" \
    "dns_servfail dns_servfail dns_servfail dns_servfail"
fault_case "password changed" "password" "$HOSTS" "auth_failed auth_failed" --login \
    imaps://mail.example.com submission://mail.example.com
# Migration: the old server refuses, the domain's DNS points to the new
# one, which works; names that follow DNS (webmail) keep working.
fault_case "migration" "migrate" "$HOSTS" "ok tcp_refused ok ok" \
    dns://example.com/MX imaps://mail.example.com imaps://newmail.example.com \
    https://webmail.example.com/
"$LAB" fault migrate
mx=$("$LAB" exec br2 dig +short example.com MX)
srv=$("$LAB" exec home1 dig +short _imaps._tcp.example.com SRV)
"$LAB" clear
mx_after=$("$LAB" exec br2 dig +short example.com MX)
if [ "$mx" = "10 newmail.example.com." ] && [ "$srv" = "0 1 993 newmail.example.com." ] &&
    [ "$mx_after" = "10 mail.example.com." ]; then
    pass "migration moves MX and SRV to newmail and back"
else
    fail "migration: MX '$mx', SRV '$srv', MX after clear '$mx_after'"
fi

# Latency: the office's round trip grows by the delay, the others' not.
connect_ms() {
    "$LAB" exec "$1" bash -c 's=$(date +%s%N); exec 3<>/dev/tcp/203.0.113.10/993;
        echo $(( ($(date +%s%N) - s) / 1000000 ))'
}
if command -v iptables-legacy >/dev/null && [ -e /usr/include/libnetfilter_queue/libnetfilter_queue.h ]; then
    "$LAB" fault latency branch 250 && "$LAB" fault latency branch 250
    lat_ok=yes
    for h in $HOSTS; do
        ms=$(connect_ms "$h")
        case $h in
        br*) [ "$ms" -ge 240 ] && [ "$ms" -lt 1000 ] || lat_ok="$h took $ms ms" ;;
        *) [ "$ms" -lt 100 ] || lat_ok="$h took $ms ms" ;;
        esac
    done
    "$LAB" clear
    ms=$(connect_ms br1)
    [ "$ms" -lt 100 ] || lat_ok="br1 took $ms ms after clear"
    if [ "$lat_ok" = yes ]; then
        pass "latency 250 ms at branch only, gone after clear"
    else
        fail "latency: $lat_ok"
    fi
else
    echo "skipped latency: needs iptables-legacy and libnetfilter-queue-dev"
fi

# Partial loss: both directions drop 50 %, so about 75 % of pings fail.
"$LAB" fault loss branch 50
lost=$("$LAB" exec br1 ping -n -q -c 40 -i 0.05 -W 1 203.0.113.10 |
    awk -F', ' '/packets transmitted/ { print $1 - $2 + 0 }')
sent_ok=$("$LAB" exec hq1 ping -n -q -c 20 -i 0.05 -W 1 203.0.113.10 | grep -c ' 0% packet loss')
"$LAB" clear
if [ -n "$lost" ] && [ "$lost" -ge 15 ] && [ "$lost" -le 39 ] && [ "$sent_ok" = 1 ]; then
    pass "loss 50 % at branch drops $lost of 40 pings, none at hq"
else
    fail "loss: branch lost '$lost' of 40 pings (want 15-39), hq clean: '$sent_ok'"
fi

expect "final" "" ""
[ "$FAILS" -eq 0 ] || {
    echo "$FAILS failure(s)"
    exit 1
}
echo "all passed"
