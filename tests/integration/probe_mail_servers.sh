#!/bin/bash
# probe_mail_servers.sh — `vantage-agent probe --json` against real
# dovecot (IMAP, IMAPS, POP3, POP3S), postfix (SMTP, SMTPS, submission with
# dovecot SASL) and nginx (HTTPS) started by tests/servers/mail-up on
# 127.0.0.1 high ports:
#   - every spec is ok, with banner, TLS facts and phase timings;
#   - a login with the right password is ok, with a wrong one auth_failed;
#   - submission without STARTTLS is proto_starttls_unsupported, without
#     AUTH auth_unsupported; nginx's 500 is http_status;
#   - the password (and its base64 forms) appears nowhere in stdout/stderr.
# Exits 77 when a server binary or root is missing (mail-up says which).
set -u

src=${VANTAGE_SOURCE_DIR:-$(cd "$(dirname "$0")/../.." && pwd)}
bin=${VANTAGE_BIN_DIR:-$src/build/bin}
agent=$bin/vantage-agent
servers=$src/tests/servers
[ -x "$agent" ] || { echo "FAIL: $agent not built" >&2; exit 1; }
command -v python3 >/dev/null || { echo "SKIP: python3 missing" >&2; exit 77; }

work=$(mktemp -d /tmp/vantage-mail.XXXXXX)
chmod 755 "$work" # the servers' unprivileged processes must reach it
cleanup() {
    bash "$servers/mail-down" "$work/srv" >/dev/null 2>&1
    rm -rf "$work"
}
trap cleanup EXIT

bash "$servers/mail-up" "$work/srv"
rc=$?
[ $rc -eq 77 ] && exit 77
[ $rc -eq 0 ] || { echo "FAIL: mail-up could not start the servers" >&2; exit 1; }
# shellcheck disable=SC1091
. "$work/srv/servers.env"

H=127.0.0.1
fail=0
printf '%s' "$MAIL_PASSWORD" >"$work/pw"
printf '%s' "wrong-$MAIL_PASSWORD-x" >"$work/badpw"
chmod 600 "$work/pw" "$work/badpw"

# probe NAME ARGS...: runs the agent; NAME.out, NAME.err, NAME.rc.
probe() {
    local name=$1
    shift
    "$agent" probe --json --timeout 10 --ca-file "$MAIL_CA" "$@" \
        >"$work/$name.out" 2>"$work/$name.err"
    echo $? >"$work/$name.rc"
    if grep -q "not implemented in this build" "$work/$name.err"; then
        echo "FAIL: the dialog kinds are not linked into $agent:" >&2
        cat "$work/$name.err" >&2
        fail=1
    fi
}
check() { # NAME SPEC COND...
    local name=$1
    shift
    python3 "$servers/jsoncheck.py" "$work/$name.out" "$@" || fail=1
}
want_rc() { # NAME RC
    local got
    got=$(cat "$work/$1.rc")
    [ "$got" = "$2" ] || { echo "FAIL: probe $1 exited $got, expected $2" >&2; cat "$work/$1.err" >&2; fail=1; }
}

imaps=imaps://$H:$IMAPS_PORT imap=imap://$H:$IMAP_PORT
pop3s=pop3s://$H:$POP3S_PORT pop3=pop3://$H:$POP3_PORT
smtps=smtps://$H:$SMTPS_PORT sub=submission://$H:$SUBMISSION_PORT smtp=smtp://$H:$SMTP_PORT
web=https://$H:$HTTPS_PORT

# --- every spec, no login --------------------------------------------------
probe plain "$imaps" "$imap" "$pop3s" "$pop3" "$smtps" "$sub" "$smtp" "$web/" "$web/redirect"
want_rc plain 0
for s in "$imaps" "$imap" "$pop3s" "$pop3" "$smtps" "$sub" "$smtp" "$web/" "$web/redirect"; do
    check plain "$s" status=ok error=ok tls.verify=ok tls.version~TLSv1 phases_us.tls\>0 \
        phases_us.connect\>0 address=$H port\>0
done
for s in "$imaps" "$imap"; do
    check plain "$s" 'banner~^\* OK .*Dovecot' phases_us.greeting\>0
done
for s in "$pop3s" "$pop3"; do
    check plain "$s" 'banner~^\+OK .*Dovecot' phases_us.greeting\>0
done
for s in "$smtps" "$sub" "$smtp"; do
    check plain "$s" 'banner~^220 mail.test ESMTP Postfix' phases_us.greeting\>0
done
for s in "$imap" "$pop3" "$sub" "$smtp"; do
    check plain "$s" phases_us.starttls\>0
done
check plain "$imaps" phases_us.starttls=0 phases_us.auth=0
check plain "$web/" 'detail~^HTTP 200; server: nginx' 'banner~^HTTP/1.1 200' phases_us.http\>0
check plain "$web/redirect" "detail~^HTTP 302 -> https://mail.test:$HTTPS_PORT/"

# --- login: right password -------------------------------------------------
probe login --user "$MAIL_USER" --password-file "$work/pw" \
    "$imaps" "$imap" "$pop3s" "$pop3" "$smtps" "$sub"
want_rc login 0
for s in "$imaps" "$imap" "$pop3s" "$pop3" "$smtps" "$sub"; do
    check login "$s" status=ok error=ok phases_us.auth\>0
done

# --- login: wrong password -------------------------------------------------
probe badlogin --user "$MAIL_USER" --password-file "$work/badpw" \
    "$imaps" "$imap" "$pop3s" "$pop3" "$smtps" "$sub"
want_rc badlogin 1
for s in "$imaps" "$imap" "$pop3s" "$pop3" "$smtps" "$sub"; do
    check badlogin "$s" status=fail error=auth_failed layer=auth phases_us.auth\>0
done
check badlogin "$imaps" 'detail~NO \[AUTHENTICATIONFAILED\]'
check badlogin "$pop3s" 'detail~-ERR \[AUTH\]'
check badlogin "$smtps" 'detail~535 5\.7\.8'

# --- what the servers cannot do ----------------------------------------------
# Port SMTP_PLAIN_PORT offers no STARTTLS; SMTP_PORT offers STARTTLS but no AUTH.
probe limits --user "$MAIL_USER" --password-file "$work/pw" \
    "submission://$H:$SMTP_PLAIN_PORT" "submission://$H:$SMTP_PORT" \
    "smtp://$H:$SMTP_PLAIN_PORT" "$web/error"
want_rc limits 1
check limits "submission://$H:$SMTP_PLAIN_PORT" error=proto_starttls_unsupported layer=protocol \
    'banner~^220 ' tls!?
check limits "submission://$H:$SMTP_PORT" error=auth_unsupported 'detail~no AUTH' tls.verify=ok
# smtp:// takes plaintext when that is all the server offers, and never AUTH.
check limits "smtp://$H:$SMTP_PLAIN_PORT" status=ok tls!? phases_us.auth=0
check limits "$web/error" error=http_status layer=http 'detail~^HTTP 500; server: nginx'

# --- trust: without the test CA the certificate is untrusted ----------------
"$agent" probe --json --timeout 10 "$imaps" "$web/" >"$work/untrusted.out" 2>"$work/untrusted.err"
check untrusted "$imaps" error=tls_cert_untrusted
check untrusted "$web/" error=tls_cert_untrusted tls.subject~mail.test

# --- the password never shows ----------------------------------------------
b64s=$(python3 - "$MAIL_USER" "$MAIL_PASSWORD" <<'EOF'
import base64, sys
u, p = sys.argv[1].encode(), sys.argv[2].encode()
for pw in (p, b"wrong-" + p + b"-x"):
    print(base64.b64encode(b"\0" + u + b"\0" + pw).decode())
    print(base64.b64encode(pw).decode())
EOF
)
for f in "$work"/*.out "$work"/*.err; do
    if grep -qF -- "$MAIL_PASSWORD" "$f"; then
        echo "FAIL: the password appears in $(basename "$f")" >&2
        fail=1
    fi
    for b in $b64s; do
        if grep -qF -- "$b" "$f"; then
            echo "FAIL: a base64 form of the password appears in $(basename "$f")" >&2
            fail=1
        fi
    done
done

if [ $fail -ne 0 ]; then
    echo "--- outputs ---" >&2
    for f in "$work"/*.out; do echo "== $(basename "$f")" >&2; cut -c1-400 "$f" >&2; done
    exit 1
fi
echo "probe_mail_servers: all checks passed"
