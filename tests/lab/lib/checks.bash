# 'lab check': what a host sees of a service, through
# 'vantage-agent probe' or standard tools.
#
# Sourced by tests/lab/lab, after its globals and helpers; not run on its
# own.

# ---------------------------------------------------------------- checks
# lab check [--login] [--timeout S] HOST SPEC...
# Prints "SPEC STATUS ERROR" per spec (STATUS ok|fail, ERROR from docs/reference.md's
# taxonomy) and exits 0 when every spec is ok, 1 otherwise. Uses
# "vantage-agent probe --json" when it works, standard tools otherwise
# (VANTAGE_LAB_CHECK=vantage|tools forces one).
cmd_check() {
    local login=no timeout=3
    while [ $# -gt 0 ]; do
        case $1 in
        --login) login=yes ;;
        --timeout)
            timeout=$2
            shift
            ;;
        *) break ;;
        esac
        shift
    done
    local h=${1:-}
    shift || true
    [ -n "$h" ] && [ $# -gt 0 ] || die "usage: lab check [--login] [--timeout S] HOST SPEC..."
    ns_exists "$h" || die "no namespace ${P}$h"
    local how=${VANTAGE_LAB_CHECK:-auto}
    if [ "$how" = auto ]; then
        how=tools
        vantage_probe_works "$h" && how=vantage
    fi
    local rc=0 spec
    if [ "$how" = vantage ]; then
        check_vantage "$h" "$login" "$timeout" "$@" || rc=1
    else
        for spec in "$@"; do
            check_tools "$h" "$login" "$timeout" "$spec" || rc=1
        done
    fi
    return $rc
}

# The agent's probe is used once it implements every kind of check: probed
# at a closed port on the host's own loopback, each must say tcp_refused
# (a build without a dialog says "internal" or nothing).
vantage_probe_works() {
    [ -x "$BIN_DIR/vantage-agent" ] || return 1
    local specs=(imaps://127.0.0.1:1 imap://127.0.0.1:1 pop3s://127.0.0.1:1 pop3://127.0.0.1:1
        smtps://127.0.0.1:1 submission://127.0.0.1:1 smtp://127.0.0.1:1 https://127.0.0.1:1/
        tls://127.0.0.1:1 tcp://127.0.0.1:1) out
    out=$(nsx "$1" "$BIN_DIR/vantage-agent" probe --json --timeout 2 "${specs[@]}" 2>/dev/null) || true
    [ "$(grep -c '"error": *"tcp_refused"' <<<"$out")" -eq ${#specs[@]} ]
}

check_vantage() {
    local h=$1 login=$2 timeout=$3
    shift 3
    local args=(probe --json --timeout "$timeout" --ca-file "$RUN/ca/ca.pem")
    if [ "$login" = yes ]; then
        args+=(--user "$MAIL_USER" --password-file "$(password_file)")
    fi
    local out
    out=$(nsx "$h" "$BIN_DIR/vantage-agent" "${args[@]}" "$@" 2>/dev/null) || true
    printf '%s\n' "$out" | /usr/bin/python3 -c '
import json, sys
want = sys.argv[1:]
seen = {}
order = []
for line in sys.stdin:
    line = line.strip()
    if not line:
        continue
    try:
        r = json.loads(line)
    except ValueError:
        continue
    seen.setdefault(r.get("check", ""), r)
    order.append(r)
rc = 0
for i, spec in enumerate(want):
    # By name; by position when the agent prints the spec normalised.
    r = seen.get(spec)
    if r is None and len(order) == len(want):
        r = order[i]
    if r is None:
        print(spec, "fail", "internal")
        rc = 1
        continue
    print(spec, r.get("status", "fail"), r.get("error", "internal"))
    if r.get("status") != "ok":
        rc = 1
sys.exit(rc)
' "$@"
}

password_file() {
    local f="$RUN/secrets/password"
    if [ ! -f "$f" ]; then
        mkdir -p "$RUN/secrets"
        chmod 700 "$RUN/secrets"
        printf '%s\n' "$MAIL_PASSWORD" >"$f"
        chmod 600 "$f"
    fi
    echo "$f"
}

curl_login_file() {
    local f="$RUN/secrets/curl-login"
    if [ ! -f "$f" ]; then
        password_file >/dev/null
        printf 'user = "%s:%s"\n' "$MAIL_USER" "$MAIL_PASSWORD" >"$f"
        chmod 600 "$f"
    fi
    echo "$f"
}

# Fallback checker: dig, bash /dev/tcp, openssl s_client and curl give the
# same first-failing-layer verdicts (coarser details) as the agent would.
check_tools() {
    local h=$1 login=$2 timeout=$3 spec=$4
    local err
    err=$(check_tools_error "$h" "$login" "$timeout" "$spec")
    if [ "$err" = ok ]; then
        echo "$spec ok ok"
        return 0
    fi
    echo "$spec fail $err"
    return 1
}

dns_error() {
    # dig output -> taxonomy; prints the answer lines on ok.
    local out=$1
    if grep -q 'status: NOERROR' <<<"$out"; then
        if grep -q 'ANSWER: [1-9]' <<<"$out"; then echo ok; else echo dns_nodata; fi
    elif grep -q 'status: NXDOMAIN' <<<"$out"; then
        echo dns_nxdomain
    elif grep -q 'status: SERVFAIL' <<<"$out"; then
        echo dns_servfail
    elif grep -q 'status: REFUSED' <<<"$out"; then
        echo dns_refused
    elif grep -q 'connection refused' <<<"$out"; then
        # Nothing listens on the resolver's port (ICMP port unreachable).
        echo dns_refused
    else
        echo dns_timeout
    fi
}

check_tools_error() {
    local h=$1 login=$2 timeout=$3 spec=$4
    local scheme=${spec%%://*} rest=${spec#*://}
    if [ "$scheme" = dns ]; then
        local name=${rest%%/*} type=${rest#*/}
        dns_error "$(nsx "$h" dig +tries=1 +time="$timeout" "$name" "$type" 2>&1 || true)"
        return 0
    fi
    local hostport=${rest%%/*} path=/
    [[ "$rest" == */* ]] && path=/${rest#*/}
    local host=${hostport%%:*} port=
    [[ "$hostport" == *:* ]] && port=${hostport##*:}
    case $scheme in
    imaps) port=${port:-993} ;;
    imap) port=${port:-143} ;;
    pop3s) port=${port:-995} ;;
    pop3) port=${port:-110} ;;
    smtps) port=${port:-465} ;;
    submission) port=${port:-587} ;;
    smtp) port=${port:-25} ;;
    https) port=${port:-443} ;;
    tls | tcp) [ -n "$port" ] || {
        echo internal
        return 0
    } ;;
    *)
        echo internal
        return 0
        ;;
    esac
    # DNS first, through the host's own resolver, like a mail client.
    local addr=$host
    if ! [[ "$host" =~ ^[0-9.]+$ ]]; then
        local out e
        out=$(nsx "$h" dig +tries=1 +time="$timeout" "$host" A 2>&1 || true)
        e=$(dns_error "$out")
        [ "$e" = ok ] || {
            echo "$e"
            return 0
        }
        addr=$(nsx "$h" dig +tries=1 +time="$timeout" +short "$host" A | grep -E '^[0-9.]+$' | head -1)
    fi
    # TCP.
    local tcp trc=0
    tcp=$(nsx "$h" timeout "$timeout" bash -c "exec 3<>/dev/tcp/$addr/$port" 2>&1) || trc=$?
    case $trc in
    0) ;;
    124)
        echo tcp_timeout
        return 0
        ;;
    *)
        case $tcp in
        *refused*) echo tcp_refused ;;
        *unreachable* | *"No route"*) echo tcp_unreachable ;;
        *reset*) echo tcp_reset ;;
        *) echo tcp_unreachable ;;
        esac
        return 0
        ;;
    esac
    [ "$scheme" = tcp ] && {
        echo ok
        return 0
    }
    # TLS, implicit or after STARTTLS, with the lab CA and the host name.
    local starttls=()
    case $scheme in
    imap) starttls=(-starttls imap) ;;
    pop3) starttls=(-starttls pop3) ;;
    submission | smtp) starttls=(-starttls smtp) ;;
    esac
    local tls
    trc=0
    tls=$(echo | nsx "$h" timeout "$timeout" openssl s_client -connect "$addr:$port" \
        -servername "$host" -verify_hostname "$host" -CAfile "$RUN/ca/ca.pem" \
        -verify_return_error "${starttls[@]}" 2>&1 | tr -d '\0') || trc=$?
    if [ $trc -eq 124 ]; then
        echo proto_timeout
        return 0
    fi
    if [ $trc -ne 0 ]; then
        case $tls in
        *"certificate has expired"*) echo tls_cert_expired ;;
        *"not yet valid"*) echo tls_cert_not_yet_valid ;;
        *"hostname mismatch"*) echo tls_hostname_mismatch ;;
        *"unable to get local issuer"* | *"self-signed"* | *"self signed"*) echo tls_cert_untrusted ;;
        *"Didn't find STARTTLS"* | *"didn't find starttls"*) echo proto_starttls_unsupported ;;
        *) echo tls_handshake_failed ;;
        esac
        return 0
    fi
    [ "$scheme" = tls ] && {
        echo ok
        return 0
    }
    # The protocol dialog (and login) through curl.
    local url cargs=(-sS --max-time "$timeout" --cacert "$RUN/ca/ca.pem"
        --resolve "$host:$port:$addr")
    case $scheme in
    imaps | pop3s | smtps) url="$scheme://$host:$port/" ;;
    imap | pop3) url="$scheme://$host:$port/" cargs+=(--ssl-reqd) ;;
    submission) url="smtp://$host:$port/" cargs+=(--ssl-reqd) ;;
    smtp) url="smtp://$host:$port/" cargs+=(--ssl) ;;
    https) url="https://$host:$port$path" cargs+=(-o /dev/null -w '%{http_code}') ;;
    esac
    if [ "$scheme" != https ]; then
        if [ "$login" = yes ]; then
            # From a file, so the password is not on a command line.
            cargs+=(-K "$(curl_login_file)")
        else
            # Without a login, imap/pop3 end after the TLS greeting above.
            case $scheme in
            imap* | pop3*)
                echo ok
                return 0
                ;;
            esac
        fi
        case $scheme in smtp* | submission) cargs+=(-X NOOP) ;; esac
    fi
    local cout crc=0
    cout=$(nsx "$h" curl "${cargs[@]}" "$url" 2>&1) || crc=$?
    if [ "$scheme" = https ]; then
        if [ $crc -eq 0 ] && [[ "$cout" =~ ^[23] ]]; then echo ok; else echo http_status; fi
        return 0
    fi
    case $crc in
    0) echo ok ;;
    67) echo auth_failed ;;
    28) echo proto_timeout ;;
    *)
        case $cout in
        *"Login denied"* | *"authentication"* | *"535"*) echo auth_failed ;;
        *) echo proto_bad_greeting ;;
        esac
        ;;
    esac
}
