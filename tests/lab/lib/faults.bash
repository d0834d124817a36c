# Faults on demand: 'lab fault', 'lab faults' and 'lab clear'.
#
# Sourced by tests/lab/lab, after its globals and helpers; not run on its
# own.

# ---------------------------------------------------------------- faults
# Each fault is recorded as a file in $RUN/faults whose name identifies it;
# applying it again replaces it (idempotent), "clear" undoes it.
office_arg() {
    [ -n "${OFFICE_NET[${1:-}]:-}" ] || die "unknown office '${1:-}' (${OFFICES[*]})"
}
host_arg() {
    [ -n "${HOST_OFFICE[${1:-}]:-}" ] || die "unknown host '${1:-}' (${HOSTS[*]})"
}
server_arg() {
    case ${1:-} in mail | mail2) ;; *) die "unknown mail server '${1:-}' (mail, mail2)" ;; esac
}

# Ports: a list like 993,587, or "mail" for every mail port.
ports_arg() {
    local p=${1:-}
    [ "$p" = mail ] && p=$MAIL_TCP_PORTS
    [[ "$p" =~ ^[0-9]+(,[0-9]+)*$ ]] || die "bad port list '${1:-}' (e.g. 993 or 993,587 or mail)"
    echo "$p"
}

# The resolvers cache answers; after the zone changes they restart so that
# every office sees the change at once.
resolvers_refresh() {
    local o
    for o in "${OFFICES[@]}"; do resolver_apply "$o"; done
}

# Restarts the authoritative server with the zone as the faults say, then
# empties the resolvers' caches.
dns_restart() {
    stop_daemon dns-nsd 5
    wait_no_port dns udp 53
    dns_start
    resolvers_refresh
}

fault_apply() {
    local kind=${1:-}
    shift || true
    case $kind in
    block-port)
        # block-port OFFICE PORTS [drop|reject]: the office's firewall.
        local o=${1:-} ports mode=${3:-drop}
        office_arg "$o"
        ports=$(ports_arg "${2:-}")
        local verdict=drop
        [ "$mode" = reject ] && verdict="reject with tcp reset"
        nsx "$o" nft -f - <<EOF
table ip f_block
delete table ip f_block
table ip f_block {
    chain forward {
        type filter hook forward priority filter; policy accept;
        iifname "${P}lan" tcp dport { $ports } $verdict
    }
}
EOF
        echo "$ports $mode" >"$RUN/faults/block-port-$o"
        ;;
    host-block)
        # host-block HOST PORTS|dns [drop|reject]: the host's own firewall.
        local h=${1:-} ports rule mode=${3:-drop}
        host_arg "$h"
        local verdict=drop
        [ "$mode" = reject ] && verdict="reject"
        if [ "${2:-}" = dns ]; then
            rule="meta l4proto { tcp, udp } th dport 53 $verdict"
        else
            ports=$(ports_arg "${2:-}")
            [ "$mode" = reject ] && verdict="reject with tcp reset"
            rule="tcp dport { $ports } $verdict"
        fi
        nsx "$h" nft -f - <<EOF
table ip f_block
delete table ip f_block
table ip f_block {
    chain out {
        type filter hook output priority filter; policy accept;
        $rule
    }
}
EOF
        echo "${2:-} $mode" >"$RUN/faults/host-block-$h"
        ;;
    resolver)
        # resolver OFFICE down|servfail|nxdomain
        local o=${1:-} mode=${2:-}
        office_arg "$o"
        case $mode in down | servfail | nxdomain) ;; *) die "resolver mode must be down, servfail or nxdomain" ;; esac
        echo "$mode" >"$RUN/faults/resolver-$o"
        resolver_apply "$o"
        ;;
    service)
        # service SERVER dovecot|postfix|nginx|all: stop daemons.
        local s=${1:-} svc=${2:-all} x
        server_arg "$s"
        [ "$svc" = all ] && svc="dovecot postfix nginx"
        for x in $svc; do
            case $x in dovecot | postfix | nginx) ;; *) die "unknown service '$x'" ;; esac
            echo stopped >"$RUN/faults/service-$s-$x"
            service_stop "$s" "$x"
        done
        ;;
    mail-down)
        fault_apply service "${1:-mail}" all
        ;;
    cert)
        # cert expired|wronghost|expiring [SERVER]
        local what=${1:-} s=${2:-mail} x
        server_arg "$s"
        case $what in
        expired | wronghost | expiring) ;;
        *) die "cert fault must be expired, wronghost or expiring" ;;
        esac
        echo "$what" >"$RUN/faults/cert-$s"
        install_cert "$s" "$what"
        cert_reload "$s"
        ;;
    latency)
        # latency OFFICE MS: every packet leaving the office is held MS ms.
        local o=${1:-} ms=${2:-}
        office_arg "$o"
        [[ "$ms" =~ ^[0-9]+$ ]] && [ "$ms" -le 10000 ] || die "latency needs milliseconds (0-10000)"
        delayq_build
        stop_daemon "$o-delayq"
        nsx "$o" iptables-legacy -w -t mangle -N LABDELAY 2>/dev/null || true
        nsx "$o" iptables-legacy -w -t mangle -F LABDELAY
        nsx "$o" iptables-legacy -w -t mangle -C POSTROUTING -j LABDELAY 2>/dev/null ||
            nsx "$o" iptables-legacy -w -t mangle -A POSTROUTING -j LABDELAY
        # --queue-bypass: if delayq is not there, packets pass undelayed.
        nsx "$o" iptables-legacy -w -t mangle -A LABDELAY -o "${P}wan" -j NFQUEUE \
            --queue-num 1 --queue-bypass
        start_daemon "$o-delayq" "$o" "$RUN/bin/delayq" 1 "$ms"
        echo "$ms ms" >"$RUN/faults/latency-$o"
        ;;
    loss)
        # loss OFFICE PERCENT: each direction of the office's WAN link.
        local o=${1:-} pct=${2:-}
        office_arg "$o"
        [[ "$pct" =~ ^[0-9]+$ ]] && [ "$pct" -le 100 ] || die "loss needs a percentage (0-100)"
        local loss_rule="numgen random mod 100 < $pct drop"
        [ "$pct" -eq 100 ] && loss_rule=drop
        nsx "$o" nft -f - <<EOF
table ip f_loss
delete table ip f_loss
table ip f_loss {
    chain in {
        type filter hook prerouting priority filter; policy accept;
        iifname "${P}wan" $loss_rule
    }
    chain out {
        type filter hook postrouting priority filter; policy accept;
        oifname "${P}wan" $loss_rule
    }
}
EOF
        echo "$pct %" >"$RUN/faults/loss-$o"
        # Empty the office resolver's cache, so that names fail (or not) by
        # the loss alone and not by what happened to be cached.
        resolver_flush "$o"
        ;;
    migrate)
        # The domain moves to mail2: MX, SRV, webmail and autodiscover
        # point there, and the old server refuses every connection.
        echo "mail -> mail2" >"$RUN/faults/migrate"
        nsx mail nft -f - <<EOF
table ip f_migrate
delete table ip f_migrate
table ip f_migrate {
    chain in {
        type filter hook input priority filter; policy accept;
        iifname "${P}up" tcp dport { $MAIL_TCP_PORTS,443 } reject with tcp reset
    }
}
EOF
        dns_restart
        ;;
    password)
        # password [NEW]: the mailbox password changes on both servers.
        local pass=${1:-changed-by-lab-fault}
        [ "$pass" != "$MAIL_PASSWORD" ] || die "the new password must differ from the lab's"
        echo "$pass" >"$RUN/faults/password"
        write_passwd mail "$pass"
        write_passwd mail2 "$pass" wait
        ;;
    zone-down)
        echo "down" >"$RUN/faults/zone-down"
        dns_restart
        ;;
    delivery)
        # delivery hold|reject|junk [SERVER]: mail is accepted and kept in
        # the queue, refused at RCPT with a text, or filed into Junk.
        local mode=${1:-} s=${2:-mail}
        server_arg "$s"
        case $mode in hold | reject | junk) ;; *) die "delivery fault must be hold, reject or junk" ;; esac
        echo "$mode" >"$RUN/faults/delivery-$s"
        delivery_apply "$s"
        ;;
    registration)
        # registration hold|expired|expiring DAYS: what the registry says.
        local mode=${1:-} days=${2:-}
        case $mode in
        hold | expired) days= ;;
        expiring) [[ "$days" =~ ^[0-9]+$ ]] || die "registration expiring needs DAYS" ;;
        *) die "registration fault must be hold, expired or expiring DAYS" ;;
        esac
        echo "$mode${days:+ $days}" >"$RUN/faults/registration"
        reg_write
        ;;
    autodiscover)
        # autodiscover move HOST: Autodiscover names HOST (a migration
        # announced through autodiscover only; DNS unchanged).
        [ "${1:-}" = move ] && [ -n "${2:-}" ] || die "usage: fault autodiscover move HOST"
        [[ "$2" =~ ^[a-z0-9.-]+$ ]] || die "bad host name '$2'"
        echo "$2" >"$RUN/faults/autodiscover-move"
        autoconfig_reload
        ;;
    autoconfig)
        # autoconfig dead: Thunderbird's autoconfig names a server that
        # answers on no mail port.
        [ "${1:-}" = dead ] || die "usage: fault autoconfig dead"
        echo "dead.$DOMAIN" >"$RUN/faults/autoconfig-dead"
        autoconfig_reload
        ;;
    *) die "unknown fault '$kind' (see 'lab help')" ;;
    esac
}

cert_reload() {
    local s=$1 svc pid
    for svc in dovecot postfix nginx; do
        pid=$(daemon_pid "$s-$svc") || continue
        kill -HUP "$pid"
    done
    # Postfix's idle smtpd processes keep the old certificate until they
    # exit; ending them makes the next connection use the new one.
    smtpd_end_idle "$s"
    # Give the daemons time to re-read their configuration.
    sleep 0.5
}

# smtpd_end_idle SERVER: ends postfix's smtpd processes, which keep what
# they read at start (a certificate, the rcpt_access table's old contents
# for their next client) until they exit. One may exit on its own between
# the look and the kill: under "set -e" that failed kill would end the
# whole fault command.
smtpd_end_idle() {
    local pid p
    pid=$(daemon_pid "$1-postfix") || return 0
    for p in $(session_pids "$pid"); do
        if [ "$p" != "$pid" ] && [ "$(cat "/proc/$p/comm" 2>/dev/null)" = smtpd ]; then
            kill -TERM "$p" 2>/dev/null || true
        fi
    done
}

fault_clear_one() {
    local id=$1 f="$RUN/faults/$1" s o
    [ -f "$f" ] || return 0
    case $id in
    block-port-*)
        o=${id#block-port-}
        nsx "$o" nft delete table ip f_block 2>/dev/null || true
        rm -f "$f"
        ;;
    host-block-*)
        nsx "${id#host-block-}" nft delete table ip f_block 2>/dev/null || true
        rm -f "$f"
        ;;
    resolver-*)
        rm -f "$f"
        resolver_apply "${id#resolver-}"
        ;;
    service-*)
        # service-SERVER-SVC
        local rest=${id#service-}
        s=${rest%-*}
        rm -f "$f"
        service_start "$s" "${rest##*-}"
        ;;
    cert-*)
        s=${id#cert-}
        rm -f "$f"
        install_cert "$s" "$s"
        cert_reload "$s"
        ;;
    latency-*)
        o=${id#latency-}
        nsx "$o" iptables-legacy -w -t mangle -D POSTROUTING -j LABDELAY 2>/dev/null || true
        nsx "$o" iptables-legacy -w -t mangle -F LABDELAY 2>/dev/null || true
        nsx "$o" iptables-legacy -w -t mangle -X LABDELAY 2>/dev/null || true
        stop_daemon "$o-delayq"
        rm -f "$f"
        ;;
    loss-*)
        o=${id#loss-}
        nsx "$o" nft delete table ip f_loss 2>/dev/null || true
        rm -f "$f"
        # The resolver may have marked its upstream as dead meanwhile.
        resolver_apply "$o"
        ;;
    migrate)
        nsx mail nft delete table ip f_migrate 2>/dev/null || true
        rm -f "$f"
        dns_restart
        ;;
    password)
        rm -f "$f"
        write_passwd mail "$MAIL_PASSWORD"
        write_passwd mail2 "$MAIL_PASSWORD" wait
        ;;
    zone-down)
        rm -f "$f"
        dns_restart
        ;;
    delivery-*)
        s=${id#delivery-}
        rm -f "$f"
        delivery_apply "$s"
        delivery_release "$s"
        ;;
    registration)
        rm -f "$f"
        reg_write
        ;;
    autodiscover-move | autoconfig-dead)
        rm -f "$f"
        autoconfig_reload
        ;;
    *) rm -f "$f" ;;
    esac
}

cmd_clear() {
    local f
    if [ $# -gt 0 ]; then
        for f in "$@"; do fault_clear_one "$f"; done
        return 0
    fi
    for f in "$RUN"/faults/*; do
        [ -e "$f" ] || continue
        fault_clear_one "$(basename "$f")"
    done
}

delayq_build() {
    [ -x "$RUN/bin/delayq" ] && return 0
    mkdir -p "$RUN/bin"
    cc -std=c11 -O2 -Wall -Wextra -o "$RUN/bin/delayq" "$LAB_DIR/delayq.c" -lnetfilter_queue ||
        die "cannot build delayq (needs libnetfilter-queue-dev)"
}
