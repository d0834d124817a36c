# The lab's network: namespaces joined by veth pairs and bridges, the
# offices' NAT, the lab CA and its certificates, the authoritative DNS
# server and the offices' resolvers.
#
# Sourced by tests/lab/lab, after its globals and helpers; not run on its
# own.

# ---------------------------------------------------------------- network
link_pair() {
    # Creates veth A@nsA <-> B@nsB inside the namespaces, so that nothing
    # ever appears in the root namespace.
    local nsa=$1 a=$2 nsb=$3 b=$4
    ip -n "${P}$nsa" link add "${P}$a" type veth peer name "${P}$b" netns "${P}$nsb"
}

net_up() {
    local n i
    for n in "${ALL_NS[@]}"; do
        ip netns add "${P}$n"
        mkdir -p "/etc/netns/${P}$n"
        # No IPv6 (no DAD delays, one address family to reason about); no
        # ICMP rate limit, so a stopped server answers "port unreachable"
        # every time (LAB-NOTES).
        nsx "$n" sysctl -q -w net.ipv6.conf.all.disable_ipv6=1 \
            net.ipv6.conf.default.disable_ipv6=1 net.ipv4.icmp_ratelimit=0 \
            net.ipv4.conf.all.rp_filter=0 net.ipv4.conf.default.rp_filter=0 >/dev/null
        ip -n "${P}$n" link set lo up
    done
    nsx inet sysctl -q -w net.ipv4.ip_forward=1 >/dev/null

    # The internet: one bridge for servers, one for the offices' WAN links.
    ip -n "${P}inet" link add "${P}srv" type bridge
    ip -n "${P}inet" link add "${P}isp" type bridge
    ip -n "${P}inet" addr add "$INET_SRV/24" dev "${P}srv"
    ip -n "${P}inet" addr add "$INET_ISP/24" dev "${P}isp"
    ip -n "${P}inet" link set "${P}srv" up
    ip -n "${P}inet" link set "${P}isp" up
    for n in "${SERVERS[@]}"; do
        link_pair inet "s-$n" "$n" up
        ip -n "${P}inet" link set "${P}s-$n" master "${P}srv" up
        ip -n "${P}$n" addr add "${SERVER_ADDR[$n]}/24" dev "${P}up"
        ip -n "${P}$n" link set "${P}up" up
        ip -n "${P}$n" route add default via "$INET_SRV"
        echo "nameserver ${SERVER_ADDR[dns]}" >"/etc/netns/${P}$n/resolv.conf"
    done
    echo "nameserver ${SERVER_ADDR[dns]}" >"/etc/netns/${P}inet/resolv.conf"

    for n in "${OFFICES[@]}"; do
        local net=${OFFICE_NET[$n]}
        nsx "$n" sysctl -q -w net.ipv4.ip_forward=1 >/dev/null
        link_pair inet "i-$n" "$n" wan
        ip -n "${P}inet" link set "${P}i-$n" master "${P}isp" up
        ip -n "${P}$n" addr add "${OFFICE_WAN[$n]}/24" dev "${P}wan"
        ip -n "${P}$n" link set "${P}wan" up
        ip -n "${P}$n" route add default via "$INET_ISP"
        ip -n "${P}$n" link add "${P}lan" type bridge
        ip -n "${P}$n" addr add "$net.1/24" dev "${P}lan"
        ip -n "${P}$n" link set "${P}lan" up
        # The office's NAT: everything leaves with the office's public
        # address, which is how the collector tells networks apart.
        nsx "$n" nft -f - <<EOF
table ip lab {
    chain post {
        type nat hook postrouting priority srcnat; policy accept;
        oifname "${P}wan" ip saddr $net.0/24 masquerade
    }
}
EOF
        echo "nameserver $net.1" >"/etc/netns/${P}$n/resolv.conf"
        for i in ${OFFICE_HOSTS[$n]}; do
            link_pair "$n" "l-$i" "$i" eth
            ip -n "${P}$n" link set "${P}l-$i" master "${P}lan" up
            ip -n "${P}$i" addr add "${HOST_ADDR[$i]}/24" dev "${P}eth"
            ip -n "${P}$i" link set "${P}eth" up
            ip -n "${P}$i" route add default via "$net.1"
            printf 'nameserver %s\noptions timeout:2 attempts:1\n' "$net.1" \
                >"/etc/netns/${P}$i/resolv.conf"
        done
    done
}

# ---------------------------------------------------------------- certificates
# One lab CA; EC keys because they are generated in milliseconds.
ca_conf() {
    cat <<EOF
[ca]
default_ca = lab
[lab]
dir = $RUN/ca
database = $RUN/ca/index.txt
serial = $RUN/ca/serial
new_certs_dir = $RUN/ca/new
certificate = $RUN/ca/ca.pem
private_key = $RUN/ca/ca.key
default_md = sha256
policy = any
copy_extensions = copy
unique_subject = no
[any]
commonName = supplied
[leaf]
basicConstraints = critical,CA:false
keyUsage = critical,digitalSignature,keyEncipherment
extendedKeyUsage = serverAuth
EOF
}

# make_cert NAME CN "DNS:a,DNS:b" START END  (dates as YYYYMMDDHHMMSSZ)
make_cert() {
    local name=$1 cn=$2 sans=$3 start=$4 end=$5 d="$RUN/ca"
    openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes \
        -keyout "$d/$name.key" -out "$d/$name.csr" -subj "/CN=$cn" \
        -addext "subjectAltName=$sans" 2>/dev/null
    openssl ca -batch -config "$d/ca.cnf" -extensions leaf -startdate "$start" \
        -enddate "$end" -in "$d/$name.csr" -out "$d/$name.crt" -notext 2>/dev/null
    cat "$d/$name.crt" >"$d/$name.pem"
}

certs_up() {
    local d="$RUN/ca"
    mkdir -p "$d/new"
    : >"$d/index.txt"
    echo 1000 >"$d/serial"
    ca_conf >"$d/ca.cnf"
    openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 30 \
        -keyout "$d/ca.key" -out "$d/ca.pem" -subj "/CN=Vantage lab CA ($P)" \
        -addext "basicConstraints=critical,CA:true" \
        -addext "keyUsage=critical,keyCertSign,cRLSign" 2>/dev/null
    local now later
    now=$(date -u -d '-1 day' +%Y%m%d%H%M%SZ)
    later=$(date -u -d '+30 days' +%Y%m%d%H%M%SZ)
    make_cert mail "mail.$DOMAIN" \
        "DNS:mail.$DOMAIN,DNS:webmail.$DOMAIN,DNS:autodiscover.$DOMAIN,DNS:autoconfig.$DOMAIN" \
        "$now" "$later"
    make_cert mail2 "newmail.$DOMAIN" \
        "DNS:newmail.$DOMAIN,DNS:webmail.$DOMAIN,DNS:autodiscover.$DOMAIN,DNS:autoconfig.$DOMAIN" \
        "$now" "$later"
    # The faults' certificates: right names but expired; valid but for
    # another host.
    make_cert expired "mail.$DOMAIN" \
        "DNS:mail.$DOMAIN,DNS:newmail.$DOMAIN,DNS:webmail.$DOMAIN,DNS:autodiscover.$DOMAIN" \
        "$(date -u -d '-60 days' +%Y%m%d%H%M%SZ)" "$(date -u -d '-30 days' +%Y%m%d%H%M%SZ)"
    make_cert wronghost "wrong.example.net" "DNS:wrong.example.net" "$now" "$later"
    # The registry's RDAP server, reached by address: pulling the
    # domain's zone must not take the registry off the air (LAB-NOTES).
    make_cert reg "${SERVER_ADDR[reg]}" "IP:${SERVER_ADDR[reg]}" "$now" "$later"
    # Valid, right names, but expiring in 5 days: a warning, not a failure.
    make_cert expiring "mail.$DOMAIN" \
        "DNS:mail.$DOMAIN,DNS:newmail.$DOMAIN,DNS:webmail.$DOMAIN,DNS:autodiscover.$DOMAIN,DNS:autoconfig.$DOMAIN" \
        "$now" "$(date -u -d '+5 days' +%Y%m%d%H%M%SZ)"
}

# Puts certificate NAME in place for server S's daemons.
install_cert() {
    local s=$1 name=$2
    mkdir -p "$RUN/$s/tls"
    cp "$RUN/ca/$name.pem" "$RUN/$s/tls/server.pem.new"
    cp "$RUN/ca/$name.key" "$RUN/$s/tls/server.key.new"
    chmod 600 "$RUN/$s/tls/server.key.new"
    mv "$RUN/$s/tls/server.pem.new" "$RUN/$s/tls/server.pem"
    mv "$RUN/$s/tls/server.key.new" "$RUN/$s/tls/server.key"
}

# ---------------------------------------------------------------- DNS
zone_file() {
    local migrated=$1 cur=mail
    [ "$migrated" = yes ] && cur=mail2
    local a=${SERVER_ADDR[$cur]} host=${MAIL_HOST[$cur]}
    cat <<EOF
\$ORIGIN $DOMAIN.
\$TTL 30
@            IN SOA ns1.$DOMAIN. hostmaster.$DOMAIN. ( $(date +%s) 60 60 600 10 )
@            IN NS   ns1.$DOMAIN.
ns1          IN A    ${SERVER_ADDR[dns]}
@            IN MX   10 $host.
mail         IN A    ${SERVER_ADDR[mail]}
newmail      IN A    ${SERVER_ADDR[mail2]}
webmail      IN A    $a
autodiscover IN A    $a
autoconfig   IN A    $a
_imaps._tcp      IN SRV 0 1 993 $host.
_imap._tcp       IN SRV 0 1 143 $host.
_pop3s._tcp      IN SRV 0 1 995 $host.
_submission._tcp IN SRV 0 1 587 $host.
_autodiscover._tcp IN SRV 0 1 443 autodiscover.$DOMAIN.
collector    IN A    ${SERVER_ADDR[coll]}
; a name that answers on no mail port ("autoconfig dead")
dead         IN A    ${SERVER_ADDR[dns]}
EOF
}

dns_start() {
    local d="$RUN/dns" migrated=no
    [ -f "$RUN/faults/migrate" ] && migrated=yes
    mkdir -p "$d"
    zone_file "$migrated" >"$d/$DOMAIN.zone"
    cat >"$d/nsd.conf" <<EOF
server:
    ip-address: ${SERVER_ADDR[dns]}
    port: 53
    username: ""
    chroot: ""
    database: ""
    zonesdir: "$d"
    zonelistfile: "$d/zone.list"
    xfrdfile: "$d/xfrd.state"
    xfrdir: "$d"
    pidfile: "$d/nsd.pid"
    logfile: "$RUN/logs/dns-nsd.log"
    server-count: 1
    hide-version: yes
    verbosity: 1
remote-control:
    control-enable: no
EOF
    # "zone-down": the server runs but no longer serves the zone, as when
    # a DNS hosting account lapses. It answers REFUSED, and the offices'
    # resolvers give SERVFAIL at once (a silent server would only make
    # clients wait for timeouts).
    if [ ! -f "$RUN/faults/zone-down" ]; then
        printf 'zone:\n    name: "%s"\n    zonefile: "%s.zone"\n' "$DOMAIN" "$DOMAIN" >>"$d/nsd.conf"
    fi
    start_daemon dns-nsd dns nsd -d -c "$d/nsd.conf"
    wait_port dns udp 53
}

# The resolver's behaviour per fault mode: normal, servfail, nxdomain.
resolver_conf() {
    local o=$1 mode=$2 net=${OFFICE_NET[$1]}
    cat <<EOF
server:
    interface: $net.1
    port: 53
    access-control: $net.0/24 allow
    access-control: 127.0.0.0/8 refuse
    interface: 127.0.0.1
    username: ""
    chroot: ""
    directory: "$RUN/$o"
    pidfile: "$RUN/$o/unbound.pid"
    use-syslog: no
    logfile: ""
    do-ip6: no
    num-threads: 1
    module-config: "iterator"
    do-not-query-localhost: no
    domain-insecure: "$DOMAIN"
    qname-minimisation: no
EOF
    case $mode in
    nxdomain)
        echo "    local-zone: \"$DOMAIN.\" always_nxdomain"
        ;;
    esac
    echo "stub-zone:"
    echo "    name: \"$DOMAIN\""
    case $mode in
    # The upstream becomes this resolver's own loopback port, which refuses
    # every query: the lookup fails at once and clients get SERVFAIL, as
    # when a provider's resolver loses its upstream. (A silent upstream
    # would make clients wait for timeouts instead.)
    servfail) echo "    stub-addr: 127.0.0.1@53" ;;
    *) echo "    stub-addr: ${SERVER_ADDR[dns]}" ;;
    esac
}

resolver_mode() {
    local mode=normal
    [ -f "$RUN/faults/resolver-$1" ] && mode=$(cat "$RUN/faults/resolver-$1")
    echo "$mode"
}

# Brings office O's resolver to the state its fault file says: stopped, or
# running with the matching configuration. A running unbound reloads on
# SIGHUP, which also empties its caches, so zone changes show at once.
resolver_apply() {
    local o=$1 mode pid
    mode=$(resolver_mode "$o")
    if [ "$mode" = down ]; then
        # Nothing to save in a resolver: a short grace is enough.
        stop_daemon "$o-unbound" 5
        wait_no_port "$o" udp 53
        return 0
    fi
    mkdir -p "$RUN/$o"
    resolver_conf "$o" "$mode" >"$RUN/$o/unbound.conf"
    if pid=$(daemon_pid "$o-unbound"); then
        kill -HUP "$pid"
    else
        start_daemon "$o-unbound" "$o" unbound -d -c "$RUN/$o/unbound.conf"
        wait_port "$o" udp 53
    fi
    resolver_wait "$o"
}

resolver_flush() {
    local pid
    pid=$(daemon_pid "$1-unbound") || return 0
    kill -HUP "$pid"
    # No answer to wait for (the uplink may be gone): give the reload time.
    sleep 0.3
}

# Waits until office O's resolver gives the answer its state implies, so
# that a fault is in force when "lab fault" returns.
resolver_wait() {
    local o=$1 want i out
    case $(resolver_mode "$o") in
    nxdomain) want=NXDOMAIN ;;
    servfail) want=SERVFAIL ;;
    *)
        want=NOERROR
        [ -f "$RUN/faults/zone-down" ] && want=SERVFAIL
        ;;
    esac
    for i in $(seq 1 50); do
        out=$(nsx "$o" dig +tries=1 +time=1 @"${OFFICE_NET[$o]}.1" "$DOMAIN" SOA 2>&1 || true)
        grep -q "status: $want" <<<"$out" && return 0
        sleep 0.1
    done
    die "resolver of $o does not answer $want after 5 s (see $RUN/logs/$o-unbound.log)"
}
