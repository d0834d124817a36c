# 'lab vantage': the collector on coll and an agent on every host.
#
# Sourced by tests/lab/lab, after its globals and helpers; not run on its
# own.

# ---------------------------------------------------------------- vantage
# lab vantage up [--no-site] | down | status
# Keys and configs per docs/reference.md's contracts, the collector on "coll",
# an agent on every host; waits until every agent has reported.
VANTAGE_TARGET=lab-mail

cmd_vantage() {
    local sub=${1:-status}
    shift || true
    case $sub in
    up) vantage_up "$@" ;;
    down) vantage_down ;;
    status) vantage_status ;;
    *) die "usage: lab vantage up [--no-site] | down | status" ;;
    esac
}

vantage_collector_conf() {
    local v="$RUN/vantage"
    cat <<EOF
[collector]
listen = tcp://0.0.0.0:$COLLECTOR_PORT
database = $(vantage_store_location)
secret_key = $v/collector/collector.key
authorized_keys = $v/collector/authorized_keys
control = ipc://$v/collector/control.sock
; the lab's registry (lab up), pushed to the agents
rdap_bootstrap = $RUN/reg/dns.json
${VANTAGE_LAB_EVALUATE_EVERY:+evaluate_every = $VANTAGE_LAB_EVALUATE_EVERY}
; metrics, the status page and /api/v1 on coll's own loopback; 'lab web'
; makes them reachable from this machine's 127.0.0.1
http = 127.0.0.1:$LAB_HTTP_PORT

[target $VANTAGE_TARGET]
domain = $DOMAIN
check = imaps://mail.$DOMAIN
check = submission://mail.$DOMAIN
check = pop3s://mail.$DOMAIN
check = https://webmail.$DOMAIN/
interval = ${VANTAGE_LAB_INTERVAL:-10s}
timeout = 5s
; the registration (rdap://$DOMAIN, on three agents)
rdap_interval = ${VANTAGE_LAB_RDAP_INTERVAL:-10m}
EOF
    # VANTAGE_LAB_CREDENTIALS=no: no logins and no test mail, for
    # scenarios about what stays before the login.
    [ "${VANTAGE_LAB_CREDENTIALS:-yes}" = no ] && return 0
    cat <<EOF
credentials = $VANTAGE_TARGET
; test mail (mailflow://@$VANTAGE_TARGET, added because of credentials and
; submission): short, so that scenarios see delivery within seconds
mailflow_interval = ${VANTAGE_LAB_MAILFLOW_INTERVAL:-20s}
mailflow_timeout = ${VANTAGE_LAB_MAILFLOW_TIMEOUT:-8s}
delivery_warn = ${VANTAGE_LAB_DELIVERY_WARN:-10s}
EOF
}

# The collector's store: sqlite in its directory, or with
# VANTAGE_LAB_STORE=postgresql a database in the PostgreSQL 15 that
# vantage_store_up started (tests/servers/pg-up).
vantage_store_location() {
    local v="$RUN/vantage"
    if [ -f "$v/pg/location" ]; then
        cat "$v/pg/location"
    else
        echo "$v/collector/vantage.db"
    fi
}

# VANTAGE_LAB_STORE=postgresql: a throwaway PostgreSQL for the collector,
# started inside coll (so that "lab down" ends it with the namespace's
# other processes, also after a crash) with its data and Unix socket under
# $RUN/vantage/pg. Nothing listens on TCP: the collector reaches it through
# the socket, which a network namespace does not hide.
vantage_store_up() {
    local v="$RUN/vantage" store=${VANTAGE_LAB_STORE:-sqlite} dir rc=0
    case $store in
    sqlite) return 0 ;;
    postgresql) ;;
    *) die "VANTAGE_LAB_STORE='$store': want sqlite or postgresql" ;;
    esac
    mkdir -p "$v/pg"
    chmod 755 "$RUN" "$v" "$v/pg"
    dir=$(VANTAGE_PG_PARENT="$v/pg" nsx coll "$LAB_DIR/../servers/pg-up" 2>"$v/pg/up.err") || rc=$?
    [ "$rc" -eq 77 ] && die "VANTAGE_LAB_STORE=postgresql: $(cat "$v/pg/up.err")"
    [ "$rc" -eq 0 ] || die "PostgreSQL did not start: $(cat "$v/pg/up.err")"
    echo "$dir" >"$v/pg/dir"
    "$LAB_DIR/../servers/pg-db" "$dir" vantage >"$v/pg/location.new" ||
        die "cannot create the collector's PostgreSQL database"
    mv "$v/pg/location.new" "$v/pg/location"
}

vantage_store_down() {
    local f="$RUN/vantage/pg/dir"
    [ -f "$f" ] || return 0
    "$LAB_DIR/../servers/pg-down" "$(cat "$f")"
    rm -f "$f"
}

# [notify] sections from VANTAGE_LAB_ALERTMANAGER, VANTAGE_LAB_WEBHOOK and
# VANTAGE_LAB_WEBHOOK_SECRET_FILE. The collector runs in "coll": a receiver
# must listen there (lab exec coll ..., on coll's own 127.0.0.1), since
# nothing in the lab reaches the machine's loopback.
vantage_notify_conf() {
    local am=${VANTAGE_LAB_ALERTMANAGER:-} wh=${VANTAGE_LAB_WEBHOOK:-}
    local secret=${VANTAGE_LAB_WEBHOOK_SECRET_FILE:-}
    if [ -n "$am" ]; then
        printf '\n[notify lab-alertmanager]\nalertmanager = %s\n' "$am"
    fi
    if [ -n "$wh" ]; then
        printf '\n[notify lab-webhook]\nwebhook = %s\n' "$wh"
        [ -n "$secret" ] && printf 'secret_file = %s\n' "$secret"
    fi
    return 0
}

# Refuses notify settings that would not make one line of collector.conf
# or that point where the lab's collector cannot be meant to send.
vantage_notify_check() {
    local v
    for v in VANTAGE_LAB_ALERTMANAGER VANTAGE_LAB_WEBHOOK VANTAGE_LAB_WEBHOOK_SECRET_FILE \
        VANTAGE_LAB_EVALUATE_EVERY; do
        [[ ${!v:-} == *[[:cntrl:]]* ]] && die "$v must be one line"
    done
    for v in VANTAGE_LAB_ALERTMANAGER VANTAGE_LAB_WEBHOOK; do
        [ -z "${!v:-}" ] && continue
        [[ ${!v} =~ ^https?://(127\.[0-9.]+|localhost|198\.1[89]\.[0-9.]+|192\.0\.2\.[0-9]+|198\.51\.100\.[0-9]+|203\.0\.113\.[0-9]+)(:[0-9]+)?(/.*)?$ ]] ||
            die "$v='${!v}': want http(s)://ADDRESS[:PORT][/PATH] on loopback (coll's own) or a lab address"
    done
    if [ -n "${VANTAGE_LAB_WEBHOOK_SECRET_FILE:-}" ]; then
        [ -n "${VANTAGE_LAB_WEBHOOK:-}" ] || die "VANTAGE_LAB_WEBHOOK_SECRET_FILE needs VANTAGE_LAB_WEBHOOK"
        [ -r "$VANTAGE_LAB_WEBHOOK_SECRET_FILE" ] ||
            die "VANTAGE_LAB_WEBHOOK_SECRET_FILE: cannot read $VANTAGE_LAB_WEBHOOK_SECRET_FILE"
    fi
    return 0
}

vantage_agent_conf() {
    local h=$1 site=$2 v="$RUN/vantage"
    echo "[agent]"
    echo "name = $h"
    [ "$site" = yes ] && echo "site = ${HOST_OFFICE[$h]}"
    cat <<EOF
collector = tcp://${SERVER_ADDR[coll]}:$COLLECTOR_PORT
collector_public_key = $(cat "$v/collector/collector.pub")
secret_key = $v/agents/$h/agent.key
spool = $v/agents/$h/spool.db
ca_file = $RUN/ca/ca.pem

[credentials $VANTAGE_TARGET]
user = $MAIL_USER
password_file = $(password_file)
EOF
}

collector_cli() {
    nsx coll "$BIN_DIR/vantage-collector" -c "$RUN/vantage/collector/collector.conf" "$@"
}

vantage_up() {
    local site=yes
    [ "${1:-}" = --no-site ] && site=no
    ns_exists coll || die "the lab is not up (run 'lab up')"
    vantage_notify_check
    [ -x "$BIN_DIR/vantage-agent" ] && [ -x "$BIN_DIR/vantage-collector" ] ||
        die "no Vantage binaries in $BIN_DIR (build first, or set VANTAGE_BIN_DIR)"
    vantage_down
    local v="$RUN/vantage" h
    mkdir -p "$v/collector" "$v/agents"
    "$BIN_DIR/vantage-collector" keygen --out "$v/collector" >/dev/null ||
        die "vantage-collector keygen failed"
    [ -f "$v/collector/collector.pub" ] || die "keygen wrote no $v/collector/collector.pub"
    : >"$v/collector/authorized_keys"
    for h in "${HOSTS[@]}"; do
        mkdir -p "$v/agents/$h"
        "$BIN_DIR/vantage-agent" keygen --out "$v/agents/$h" >/dev/null ||
            die "vantage-agent keygen failed"
        echo "$(cat "$v/agents/$h/agent.pub") $h" >>"$v/collector/authorized_keys"
        vantage_agent_conf "$h" "$site" >"$v/agents/$h/agent.conf"
    done
    vantage_store_up
    {
        vantage_collector_conf
        vantage_notify_conf
    } >"$v/collector/collector.conf"
    start_daemon vantage-collector coll "$BIN_DIR/vantage-collector" serve \
        -c "$v/collector/collector.conf"
    wait_port coll tcp "$COLLECTOR_PORT"
    for h in "${HOSTS[@]}"; do
        start_daemon "vantage-agent-$h" "$h" "$BIN_DIR/vantage-agent" run -c "$v/agents/$h/agent.conf"
    done
    # Every agent has reported when the collector holds a result from it.
    local i missing
    for i in $(seq 1 "${VANTAGE_LAB_WAIT:-60}"); do
        missing=$(vantage_missing)
        [ -z "$missing" ] && {
            log "vantage: collector and ${#HOSTS[@]} agents up, all reporting (site labels: $site)"
            return 0
        }
        sleep 1
    done
    die "agents not reporting after ${VANTAGE_LAB_WAIT:-60} s: $missing (see $RUN/logs)"
}

# Prints the agents that have no result at the collector yet.
vantage_missing() {
    local out h
    out=$(collector_cli results --json 2>/dev/null) || out=
    for h in "${HOSTS[@]}"; do
        grep -q "\"agent\": *\"$h\"" <<<"$out" || echo -n "$h "
    done
}

vantage_down() {
    local h
    for h in "${HOSTS[@]}"; do stop_daemon "vantage-agent-$h"; done
    stop_daemon vantage-collector
    vantage_store_down
    rm -rf "$RUN/vantage"
}

vantage_status() {
    [ -f "$RUN/vantage/collector/collector.conf" ] || {
        echo "vantage: not running"
        return 1
    }
    collector_cli agents
}
