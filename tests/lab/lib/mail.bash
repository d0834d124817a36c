# The mail provider (dovecot, postfix and nginx on mail and mail2) and
# the registry's RDAP server.
#
# Sourced by tests/lab/lab, after its globals and helpers; not run on its
# own.

# ---------------------------------------------------------------- mail servers
dovecot_conf() {
    local s=$1 d="$RUN/$1"
    cat <<EOF
instance_name = ${P}$s-dovecot
base_dir = $d/dovecot/run
state_dir = $d/dovecot/state
protocols = imap pop3 lmtp
listen = *
log_path = $RUN/logs/$s-dovecot.log
ssl = yes
ssl_cert = <$d/tls/server.pem
ssl_key = <$d/tls/server.key
ssl_min_protocol = TLSv1.2
disable_plaintext_auth = yes
auth_mechanisms = plain login
# Fail wrong logins at once and never slow an address down: the lab's
# offices share NAT addresses and its tests check logins right after a
# "password" fault is cleared.
auth_failure_delay = 0
first_valid_uid = 8
mail_location = maildir:~/Maildir
passdb {
  driver = passwd-file
  args = scheme=PLAIN username_format=%u $d/passwd
}
userdb {
  driver = static
  args = uid=mail gid=mail home=$d/home/%u
}
# Special-use folders, so that LIST (SPECIAL-USE) names Junk (RFC 6154)
# and the mailflow check finds test mail a filter put there.
namespace inbox {
  inbox = yes
  separator = /
  mailbox Junk {
    special_use = \\Junk
    auto = create
  }
  mailbox Trash {
    special_use = \\Trash
    auto = create
  }
}
# Postfix delivers over LMTP; sieve runs the "delivery junk" fault's rule
# (delivery_apply rewrites the script; sieve recompiles it on change).
protocol lmtp {
  mail_plugins = \$mail_plugins sieve
}
plugin {
  sieve_before = $d/sieve/before.sieve
}
service lmtp {
  unix_listener $d/dovecot/lmtp {
    mode = 0666
  }
}
service auth {
  # Postfix asks for SMTP AUTH here (smtpd_sasl_path = inet:...).
  inet_listener sasl {
    address = 127.0.0.1
    port = 12345
  }
}
service anvil {
  unix_listener anvil-auth-penalty {
    mode = 0
  }
}
service stats {
  unix_listener stats-reader {
    mode = 0666
  }
  unix_listener stats-writer {
    mode = 0666
  }
}
EOF
}

postfix_main() {
    local s=$1 d="$RUN/$1/postfix"
    cat <<EOF
compatibility_level = 3.6
queue_directory = $d/spool
data_directory = $d/data
mail_owner = postfix
setgid_group = postdrop
myhostname = ${MAIL_HOST[$s]}
mydomain = $DOMAIN
myorigin = \$mydomain
mydestination =
inet_interfaces = all
inet_protocols = ipv4
mynetworks = 127.0.0.0/8
maillog_file_prefixes = $RUN/logs
maillog_file = $RUN/logs/$s-postfix.log
alias_maps =
alias_database =
smtpd_peername_lookup = no
smtpd_banner = \$myhostname ESMTP Vantage lab ($s)
smtpd_tls_cert_file = $RUN/$s/tls/server.pem
smtpd_tls_key_file = $RUN/$s/tls/server.key
smtpd_tls_security_level = may
smtpd_tls_loglevel = 0
smtpd_sasl_type = dovecot
smtpd_sasl_path = inet:127.0.0.1:12345
smtpd_sasl_auth_enable = no
smtpd_relay_restrictions = permit_mynetworks, permit_sasl_authenticated, reject_unauth_destination
virtual_mailbox_domains = $DOMAIN
virtual_mailbox_maps = inline:{ $MAIL_USER=ok }
virtual_transport = lmtp:unix:$RUN/$s/dovecot/lmtp
# The "delivery" faults: postfix re-reads this table on its own (HOLD keeps
# accepted mail in the queue, REJECT refuses the recipient with a text).
smtpd_recipient_restrictions = check_recipient_access hash:$d/etc/rcpt_access, permit
# cert_reload ends idle smtpd processes; master takes that for a "bad
# command startup" and throttles the service, by default for 60 s, in
# which every SMTP client times out waiting for the banner. A second.
service_throttle_time = 1s
# A deferred delivery is retried soon, so that a cleared fault heals fast.
minimal_backoff_time = 10s
maximal_backoff_time = 30s
queue_run_delay = 10s
EOF
}

postfix_master() {
    cat <<'EOF'
25        inet  n  -  n  -  -  smtpd
465       inet  n  -  n  -  -  smtpd
  -o smtpd_tls_wrappermode=yes
  -o smtpd_sasl_auth_enable=yes
  -o smtpd_tls_security_level=encrypt
587       inet  n  -  n  -  -  smtpd
  -o smtpd_tls_security_level=encrypt
  -o smtpd_sasl_auth_enable=yes
  -o smtpd_tls_auth_only=yes
cleanup   unix  n  -  n  -  0  cleanup
qmgr      unix  n  -  n  300  1  qmgr
tlsmgr    unix  -  -  n  1000?  1  tlsmgr
rewrite   unix  -  -  n  -  -  trivial-rewrite
bounce    unix  -  -  n  -  0  bounce
defer     unix  -  -  n  -  0  bounce
trace     unix  -  -  n  -  0  bounce
verify    unix  -  -  n  -  1  verify
flush     unix  n  -  n  1000?  0  flush
proxymap  unix  -  -  n  -  -  proxymap
smtp      unix  -  -  n  -  -  smtp
relay     unix  -  -  n  -  -  smtp
error     unix  -  -  n  -  -  error
retry     unix  -  -  n  -  -  error
discard   unix  -  -  n  -  -  discard
lmtp      unix  -  -  n  -  -  lmtp
anvil     unix  -  -  n  -  1  anvil
scache    unix  -  -  n  -  1  scache
postlog   unix-dgram  n  -  n  -  1  postlogd
EOF
}

# The start of every lab nginx.conf: one worker, logs and temporary files
# under DIR (the server's directory), up to CONNECTIONS clients; the
# caller adds the servers and closes the http block.
nginx_conf_head() {
    local d=$1 name=$2 connections=$3
    cat <<EOF
worker_processes 1;
pid $d/nginx/nginx.pid;
error_log $RUN/logs/$name-nginx.log;
user www-data;
events { worker_connections $connections; }
http {
    access_log off;
    client_body_temp_path $d/nginx/tmp/body;
    proxy_temp_path $d/nginx/tmp/proxy;
    fastcgi_temp_path $d/nginx/tmp/fastcgi;
    uwsgi_temp_path $d/nginx/tmp/uwsgi;
    scgi_temp_path $d/nginx/tmp/scgi;
EOF
}

nginx_conf() {
    local s=$1 d="$RUN/$1" host=${MAIL_HOST[$1]}
    # What autodiscover and autoconfig advertise ("autodiscover move HOST",
    # "autoconfig dead").
    local adhost=$host achost=$host
    [ -f "$RUN/faults/autodiscover-move" ] && adhost=$(cat "$RUN/faults/autodiscover-move")
    [ -f "$RUN/faults/autoconfig-dead" ] && achost=dead.$DOMAIN
    nginx_conf_head "$d" "$s" 256
    cat <<EOF
    ssl_certificate $d/tls/server.pem;
    ssl_certificate_key $d/tls/server.key;
    default_type text/plain;
    server {
        listen 443 ssl default_server;
        server_name $host webmail.$DOMAIN;
        location / { return 200 "Vantage lab webmail on $host\n"; }
    }
    server {
        listen 443 ssl;
        server_name autodiscover.$DOMAIN autoconfig.$DOMAIN;
        location = /autodiscover/autodiscover.xml {
            default_type application/xml;
            return 200 '<?xml version="1.0" encoding="utf-8"?>
<Autodiscover xmlns="http://schemas.microsoft.com/exchange/autodiscover/responseschema/2006">
 <Response xmlns="http://schemas.microsoft.com/exchange/autodiscover/outlook/responseschema/2006a">
  <Account><AccountType>email</AccountType><Action>settings</Action>
   <Protocol><Type>IMAP</Type><Server>$adhost</Server><Port>993</Port><SSL>on</SSL></Protocol>
   <Protocol><Type>SMTP</Type><Server>$adhost</Server><Port>587</Port><Encryption>TLS</Encryption></Protocol>
  </Account>
 </Response>
</Autodiscover>
';
        }
        location = /mail/config-v1.1.xml {
            default_type application/xml;
            return 200 '<?xml version="1.0"?>
<clientConfig version="1.1"><emailProvider id="$DOMAIN"><domain>$DOMAIN</domain>
 <incomingServer type="imap"><hostname>$achost</hostname><port>993</port><socketType>SSL</socketType></incomingServer>
 <outgoingServer type="smtp"><hostname>$achost</hostname><port>587</port><socketType>STARTTLS</socketType></outgoingServer>
</emailProvider></clientConfig>
';
        }
        location / { return 404; }
    }
}
EOF
}

write_passwd() {
    local s=$1 pass=$2
    # Dovecot re-reads the file when its mtime changes; write then rename
    # so it never sees half a file.
    printf '%s:{PLAIN}%s::::::\n' "$MAIL_USER" "$pass" >"$RUN/$s/passwd.new"
    chown root:dovecot "$RUN/$s/passwd.new"
    chmod 640 "$RUN/$s/passwd.new"
    mv "$RUN/$s/passwd.new" "$RUN/$s/passwd"
    # A running dovecot looks at the file at most once a second; wait so
    # that the next login after a fault (or its clearing) sees the change.
    [ "${3:-}" = wait ] && sleep 1.1
    return 0
}

# The server's delivery as its "delivery" fault says (none, hold, reject,
# junk): postfix's recipient access table and the sieve rule dovecot runs
# before delivering. Both are re-read without a restart.
delivery_apply() {
    local s=$1 d="$RUN/$1" mode=none
    [ -f "$RUN/faults/delivery-$s" ] && mode=$(cat "$RUN/faults/delivery-$s")
    case $mode in
    hold) echo "$MAIL_USER HOLD" ;;
    reject) echo "$MAIL_USER 552 5.2.2 Mailbox full (lab fault: delivery reject)" ;;
    *) : ;;
    esac >"$d/postfix/etc/rcpt_access.new"
    mv "$d/postfix/etc/rcpt_access.new" "$d/postfix/etc/rcpt_access"
    postmap -c "$d/postfix/etc" "hash:$d/postfix/etc/rcpt_access" ||
        die "postmap failed for $d/postfix/etc/rcpt_access"
    if [ "$mode" = junk ]; then
        printf 'require ["fileinto"];\nif exists "X-Vantage-Probe" {\n  fileinto "Junk";\n  stop;\n}\n'
    else
        printf '# no delivery fault\nkeep;\n'
    fi >"$d/sieve/before.sieve.new"
    chown mail:mail "$d/sieve/before.sieve.new"
    mv "$d/sieve/before.sieve.new" "$d/sieve/before.sieve"
    # An idle smtpd notices the changed table only after it has served
    # its next client from the old one (CI, 2026-12-07: 3 of 5 agents
    # still refused 45 s after "delivery reject" was cleared): end them,
    # and give a session in progress a moment.
    smtpd_end_idle "$s"
    sleep 0.2
}

# Delivers what a "delivery hold" fault kept in the queue, now.
delivery_release() {
    local s=$1 d="$RUN/$1/postfix/etc"
    daemon_pid "$s-postfix" >/dev/null || return 0
    nsx "$s" postsuper -c "$d" -H ALL 2>/dev/null || true
    nsx "$s" postqueue -c "$d" -f 2>/dev/null || true
}

mail_prepare() {
    local s=$1 d="$RUN/$1"
    mkdir -p "$d/dovecot/run" "$d/dovecot/state" "$d/home" "$d/nginx/tmp" \
        "$d/postfix/etc" "$d/postfix/data"
    chown mail:mail "$d/home"
    chown postfix "$d/postfix/data"
    chmod 700 "$d/postfix/data"
    local q="$d/postfix/spool" sub
    mkdir -p "$q/pid"
    for sub in active bounce corrupt defer deferred flush hold incoming private saved trace; do
        mkdir -p "$q/$sub"
        chown postfix "$q/$sub"
        chmod 700 "$q/$sub"
    done
    mkdir -p "$q/maildrop" "$q/public"
    chown postfix:postdrop "$q/maildrop" "$q/public"
    chmod 730 "$q/maildrop"
    chmod 710 "$q/public"
    if [ -f "$RUN/faults/cert-$s" ]; then
        install_cert "$s" "$(cat "$RUN/faults/cert-$s")"
    else
        install_cert "$s" "$s"
    fi
    if [ -f "$RUN/faults/password" ]; then
        write_passwd "$s" "$(cat "$RUN/faults/password")"
    else
        write_passwd "$s" "$MAIL_PASSWORD"
    fi
    mkdir -p "$d/sieve"
    chown mail:mail "$d/sieve"
    dovecot_conf "$s" >"$d/dovecot.conf"
    postfix_main "$s" >"$d/postfix/etc/main.cf"
    postfix_master >"$d/postfix/etc/master.cf"
    delivery_apply "$s"
    nginx_conf "$s" >"$d/nginx.conf"
}

# service_start SERVER dovecot|postfix|nginx
service_start() {
    local s=$1 svc=$2 d="$RUN/$1"
    daemon_pid "$s-$svc" >/dev/null && return 0
    case $svc in
    dovecot)
        # Ours is dead (daemon_pid says so), but its master may still be a
        # zombie that PID 1 reaps seconds later, and dovecot refuses to
        # start while master.pid names a PID that kill(pid, 0) finds.
        rm -f "$d/dovecot/run/master.pid"
        start_daemon "$s-dovecot" "$s" dovecot -F -c "$d/dovecot.conf"
        wait_port "$s" tcp 993
        wait_port "$s" tcp 995
        wait_port "$s" tcp 12345
        ;;
    postfix)
        start_daemon "$s-postfix" "$s" /usr/lib/postfix/sbin/master -d -c "$d/postfix/etc"
        wait_port "$s" tcp 25
        wait_port "$s" tcp 465
        wait_port "$s" tcp 587
        ;;
    nginx)
        start_daemon "$s-nginx" "$s" nginx -e "$RUN/logs/$s-nginx.log" -c "$d/nginx.conf" \
            -g 'daemon off;'
        wait_port "$s" tcp 443
        ;;
    *) die "unknown service '$svc' (dovecot, postfix, nginx)" ;;
    esac
}

service_stop() {
    local s=$1 svc=$2
    stop_daemon "$s-$svc"
    case $svc in
    dovecot) wait_no_port "$s" tcp 993 ;;
    postfix) wait_no_port "$s" tcp 25 ;;
    nginx) wait_no_port "$s" tcp 443 ;;
    esac
}

mail_start() {
    local s=$1 svc
    for svc in dovecot postfix nginx; do
        [ -f "$RUN/faults/service-$s-$svc" ] && continue
        service_start "$s" "$svc"
    done
}

# ---------------------------------------------------------------- registry
# The registry's RDAP server (RFC 9083) for the lab's domain, and the
# bootstrap file (RFC 9224) that names it, which the collector pushes to
# the agents (rdap_bootstrap). "registration hold|expired|expiring DAYS"
# rewrite the answer; nginx serves the file as it is on each request.
reg_domain_json() {
    local mode=${1:-ok} days=${2:-400} status='"client transfer prohibited"' expires
    case $mode in
    hold) status='"client hold", "client transfer prohibited"' ;;
    expired) days=-12 status='"auto renew period"' ;;
    expiring) ;;
    *) days=400 ;;
    esac
    # Half a day more, so that "10 days" reads as 10 days left all day.
    expires=$(date -u -d "$days days 12 hours" +%Y-%m-%dT%H:%M:%SZ)
    cat <<EOF
{"objectClassName": "domain", "ldhName": "$DOMAIN", "handle": "LAB-1",
 "status": [$status],
 "events": [{"eventAction": "registration", "eventDate": "2015-03-01T00:00:00Z"},
            {"eventAction": "expiration", "eventDate": "$expires"}],
 "entities": [{"objectClassName": "entity", "roles": ["registrar"],
               "vcardArray": ["vcard", [["version", {}, "text", "4.0"],
                                        ["fn", {}, "text", "Lab Registrar, Inc."]]]}],
 "nameservers": [{"objectClassName": "nameserver", "ldhName": "ns1.$DOMAIN"}]}
EOF
}

reg_write() {
    local d="$RUN/reg" mode=ok days=
    if [ -f "$RUN/faults/registration" ]; then
        read -r mode days <"$RUN/faults/registration" || true
    fi
    reg_domain_json "$mode" "${days:-400}" >"$d/domain.json.new"
    chmod 644 "$d/domain.json.new"
    mv "$d/domain.json.new" "$d/domain.json"
}

reg_start() {
    local d="$RUN/reg"
    mkdir -p "$d/nginx/tmp"
    install_cert reg reg
    printf '{"version": "1.0", "description": "Vantage lab", "services": [[["com"], ["https://%s/rdap/"]]]}\n' \
        "${SERVER_ADDR[reg]}" >"$d/dns.json"
    reg_write
    {
        nginx_conf_head "$d" reg 64
        cat <<EOF
    server {
        listen 443 ssl;
        ssl_certificate $d/tls/server.pem;
        ssl_certificate_key $d/tls/server.key;
        location = /rdap/domain/$DOMAIN {
            default_type application/rdap+json;
            alias $d/domain.json;
        }
        location /rdap/ {
            default_type application/rdap+json;
            return 404 '{"errorCode": 404, "title": "Not Found"}';
        }
    }
}
EOF
    } >"$d/nginx.conf"
    start_daemon reg-nginx reg nginx -e "$RUN/logs/reg-nginx.log" -c "$d/nginx.conf" \
        -g 'daemon off;'
    wait_port reg tcp 443
}

# Rewrites the mail servers' nginx configuration (what autoconfig and
# autodiscover advertise) and makes nginx re-read it.
autoconfig_reload() {
    local s pid
    for s in mail mail2; do
        nginx_conf "$s" >"$RUN/$s/nginx.conf"
        if pid=$(daemon_pid "$s-nginx"); then kill -HUP "$pid"; fi
    done
    sleep 0.5
}
