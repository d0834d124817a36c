#!/bin/bash
# probe_mail_peers.sh — the mail dialogs against misbehaving peers
# (tests/servers/mailpeer.py) on 127.0.0.1: garbage and NUL greetings, a
# huge line, a stall, closes mid-dialog, no STARTTLS/STLS, LOGINDISABLED,
# a refused banner, a multi-line banner, and servers that echo the
# credentials back in their refusal — which must never reach the output.
set -u

src=${VANTAGE_SOURCE_DIR:-$(cd "$(dirname "$0")/../.." && pwd)}
bin=${VANTAGE_BIN_DIR:-$src/build/bin}
agent=$bin/vantage-agent
servers=$src/tests/servers
[ -x "$agent" ] || { echo "FAIL: $agent not built" >&2; exit 1; }
command -v python3 >/dev/null || { echo "SKIP: python3 missing" >&2; exit 77; }
command -v openssl >/dev/null || { echo "SKIP: openssl missing (for mkcerts)" >&2; exit 77; }

work=$(mktemp -d /tmp/vantage-peers.XXXXXX)
pids=""
cleanup() {
    for p in $pids; do kill "$p" 2>/dev/null; done
    wait 2>/dev/null
    rm -rf "$work"
}
trap cleanup EXIT

"$servers/mkcerts" "$work/certs" >"$work/mkcerts.log" 2>&1 || {
    echo "FAIL: mkcerts: $(tail -3 "$work/mkcerts.log")" >&2
    exit 1
}
CA=$work/certs/ca.pem
USER_NAME=probe@peer.test
# Quotes and a backslash: IMAP LOGIN must escape them (RFC 9051 quoted).
PASSWORD=Pw-$(head -c 9 /dev/urandom | od -An -tx1 | tr -d ' \n')-\"q\\b
printf '%s' "$PASSWORD" >"$work/pw"
printf '%s' "wrong-$PASSWORD" >"$work/badpw"

free_port() {
    python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

# peer MODE: starts a mailpeer and prints its port.
declare -A port
peer() {
    local mode=$1 p
    p=$(free_port)
    python3 "$servers/mailpeer.py" "$mode" "$p" --cert "$work/certs/valid.pem" \
        --key "$work/certs/valid.key" --ready "$work/$mode.ready" \
        --expect-user "$USER_NAME" --expect-password-file "$work/pw" 2>"$work/$mode.peer.err" &
    pids="$pids $!"
    port[$mode]=$p
}
for m in garbage hugeline stall nul imap-close imap-nostarttls imap-logindisabled imap-echo \
    pop3-nostls pop3-close smtp-close smtp-554 smtp-multiline smtp-echo imap-login pop3-sasl \
    smtp-login http-stall http-close http-hugeline http-interim; do
    peer "$m"
done
for m in "${!port[@]}"; do
    for _ in $(seq 100); do [ -f "$work/$m.ready" ] && break; sleep 0.05; done
    [ -f "$work/$m.ready" ] || { echo "FAIL: mailpeer $m did not start: $(cat "$work/$m.peer.err")" >&2; exit 1; }
done

fail=0
probe() { # NAME ARGS...
    local name=$1
    shift
    "$agent" probe --json --ca-file "$CA" "$@" >"$work/$name.out" 2>"$work/$name.err"
    echo $? >"$work/$name.rc"
    if grep -q "not implemented in this build" "$work/$name.err"; then
        echo "FAIL: the dialog kinds are not linked into $agent" >&2
        fail=1
    fi
}
check() { # NAME SPEC COND...
    local name=$1
    shift
    python3 "$servers/jsoncheck.py" "$work/$name.out" "$@" || fail=1
}
H=127.0.0.1
P() { echo "${port[$1]}"; }

# Without credentials, in one run (the stall takes the 2 s timeout).
probe anon --timeout 2 \
    "imap://$H:$(P garbage)" "pop3://$H:$(P garbage)" "smtp://$H:$(P garbage)" \
    "imap://$H:$(P hugeline)" "imap://$H:$(P stall)" "pop3://$H:$(P stall)" \
    "submission://$H:$(P stall)" "imap://$H:$(P nul)" "pop3://$H:$(P nul)" \
    "imap://$H:$(P imap-close)" "imap://$H:$(P imap-nostarttls)" \
    "imaps://$H:$(P imap-logindisabled)" "pop3://$H:$(P pop3-nostls)" \
    "pop3://$H:$(P pop3-close)" "submission://$H:$(P smtp-close)" "smtp://$H:$(P smtp-554)" \
    "smtp://$H:$(P smtp-multiline)" "https://$H:$(P stall)/" "https://$H:$(P imap-login)/" \
    "https://$H:$(P http-stall)/" "https://$H:$(P http-close)/" \
    "https://$H:$(P http-hugeline)/" "https://$H:$(P http-interim)/"
[ "$(cat "$work/anon.rc")" = 1 ] || { echo "FAIL: probe exited $(cat "$work/anon.rc"), expected 1" >&2; fail=1; }

check anon "imap://$H:$(P garbage)" error=proto_bad_greeting layer=protocol 'detail~SSH-2.0' \
    'banner!?'
check anon "pop3://$H:$(P garbage)" error=proto_bad_greeting 'detail~malformed'
check anon "smtp://$H:$(P garbage)" error=proto_bad_greeting 'detail~SMTP banner'
check anon "imap://$H:$(P hugeline)" error=proto_bad_greeting 'detail~longer than 4096'
check anon "imap://$H:$(P stall)" error=proto_timeout 'detail~IMAP greeting' phases_us.connect\>0
check anon "pop3://$H:$(P stall)" error=proto_timeout 'detail~POP3 greeting'
check anon "submission://$H:$(P stall)" error=proto_timeout 'detail~SMTP banner'
check anon "imap://$H:$(P nul)" error=proto_bad_greeting 'detail~NUL'
check anon "pop3://$H:$(P nul)" error=proto_bad_greeting
check anon "imap://$H:$(P imap-close)" error=proto_closed layer=protocol 'detail~CAPABILITY' \
    'banner~IMAP4rev1 ready'
check anon "imap://$H:$(P imap-nostarttls)" error=proto_starttls_unsupported 'detail~STARTTLS'
check anon "imaps://$H:$(P imap-logindisabled)" status=ok tls.verify=ok
check anon "pop3://$H:$(P pop3-nostls)" error=proto_starttls_unsupported 'detail~STLS'
check anon "pop3://$H:$(P pop3-close)" error=proto_closed 'detail~CAPA'
check anon "submission://$H:$(P smtp-close)" error=proto_closed 'detail~EHLO'
check anon "smtp://$H:$(P smtp-554)" error=proto_bad_greeting 'banner~^554 5.3.2' 'detail~refused'
check anon "https://$H:$(P stall)/" error=tls_handshake_failed phases_us.connect\>0
check anon "https://$H:$(P imap-login)/" error=proto_bad_greeting 'detail~^invalid constant string: "\* OK .* instead of the HTTP response$' tls.verify=ok
check anon "https://$H:$(P http-stall)/" error=proto_timeout 'detail~HTTP response' phases_us.tls\>0
check anon "https://$H:$(P http-close)/" error=proto_closed 'detail~HTTP response'
check anon "https://$H:$(P http-hugeline)/" error=proto_bad_greeting 'detail~longer than 16384'
check anon "https://$H:$(P http-interim)/" error=http_status layer=http \
    'detail~^HTTP 503; server: peer$' 'banner~^HTTP/1.1 503 Service Unavailable$'
check anon "smtp://$H:$(P smtp-multiline)" status=ok \
    'banner~^220-peer.test ESMTP\n220-Unauthorised use prohibited\n220 ready$'

# With credentials: refusals, and servers that echo what they were sent.
probe creds --timeout 5 --user "$USER_NAME" --password-file "$work/pw" \
    "imaps://$H:$(P imap-logindisabled)" "imaps://$H:$(P imap-echo)" "smtps://$H:$(P smtp-echo)"
check creds "imaps://$H:$(P imap-logindisabled)" error=auth_unsupported layer=auth \
    'detail~LOGINDISABLED'
check creds "imaps://$H:$(P imap-echo)" error=auth_failed 'detail~^AUTHENTICATE PLAIN rejected: NO \[AUTHENTICATIONFAILED\]$'
check creds "smtps://$H:$(P smtp-echo)" error=auth_failed 'detail~^AUTH PLAIN rejected: 535 5.7.8$'

# The other login methods: LOGIN with quoted strings, POP3 SASL PLAIN,
# SMTP AUTH LOGIN; the peers accept only the right credentials.
probe methods --timeout 5 --user "$USER_NAME" --password-file "$work/pw" \
    "imaps://$H:$(P imap-login)" "pop3s://$H:$(P pop3-sasl)" "smtps://$H:$(P smtp-login)"
probe badmethods --timeout 5 --user "$USER_NAME" --password-file "$work/badpw" \
    "imaps://$H:$(P imap-login)" "pop3s://$H:$(P pop3-sasl)" "smtps://$H:$(P smtp-login)"
for s in "imaps://$H:$(P imap-login)" "pop3s://$H:$(P pop3-sasl)" "smtps://$H:$(P smtp-login)"; do
    check methods "$s" status=ok phases_us.auth\>0
    check badmethods "$s" error=auth_failed
done
check badmethods "imaps://$H:$(P imap-login)" 'detail~^LOGIN rejected: NO \[AUTHENTICATIONFAILED\]$'
check badmethods "pop3s://$H:$(P pop3-sasl)" 'detail~^AUTH PLAIN rejected: -ERR \[AUTH\]$'
check badmethods "smtps://$H:$(P smtp-login)" 'detail~^AUTH LOGIN rejected: 535 5.7.8$'

b64s=$(python3 - "$USER_NAME" "$PASSWORD" <<'EOF'
import base64, sys
u, p = sys.argv[1].encode(), sys.argv[2].encode()
for pw in (p, b"wrong-" + p):
    print(base64.b64encode(b"\0" + u + b"\0" + pw).decode())
    print(base64.b64encode(pw).decode())
EOF
)
for f in "$work"/*.out "$work"/*.err; do
    case $f in *.peer.err) continue ;; esac
    grep -qF -- "$PASSWORD" "$f" && { echo "FAIL: the password appears in $(basename "$f")" >&2; fail=1; }
    for b in $b64s; do
        grep -qF -- "$b" "$f" && { echo "FAIL: base64 of the password appears in $(basename "$f")" >&2; fail=1; }
    done
done

if [ $fail -ne 0 ]; then
    for f in "$work"/*.out; do echo "== $(basename "$f")" >&2; cut -c1-300 "$f" >&2; done
    exit 1
fi
echo "probe_mail_peers: all checks passed"
