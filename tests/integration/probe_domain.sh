#!/usr/bin/env bash
# rdap:// and autoconfig:// against real servers on loopback: nginx (TLS,
# on port 443 of a loopback address of its own, 127.R.R.R, so that the
# names clients ask for need no port) serves an RDAP bootstrap file,
# registry and registrar answers (application/rdap+json) and Thunderbird
# autoconfig / Autodiscover documents (Autodiscover is a POST: nginx's 405
# for a POST to a static file is mapped back to the file). nsd serves
# vantage.test with a wildcard to that address and the _autodiscover SRV;
# the agent asks it through --resolver.
#
# Registration: ok with days_left, hold, expired, not found, a thin
# registry's registrar link, 429 + Retry-After, no RDAP service for the
# TLD, a bootstrap fetched by URL, wrong content type, malformed JSON.
# Autoconfig: each source (autoconfig.D, D/.well-known, autodiscover.D,
# D/autodiscover, the SRV target), HTTP redirects, redirectAddr (a
# Microsoft 365 style move), a redirectUrl loop, an HTTP redirect loop,
# invalid XML, a DTD (billion laughs) refused, a 10 MB document, a wrong
# namespace, nothing published.
source "${VANTAGE_SOURCE_DIR:-$(dirname "$0")/../..}/tests/servers/probe-testlib.sh"
need nsd nsd-checkconf dig python3 openssl nginx
[[ $(id -u) -eq 0 ]] || { echo "SKIP: nginx must bind port 443: run as root" >&2; exit 77; }

# A loopback address of our own: port 443 there is free even while other
# tests run nginx on 127.0.0.1.
ADDR=127.$((RANDOM % 200 + 20)).$((RANDOM % 250 + 1)).$((RANDOM % 250 + 1))

domains="ok hold expired gone thin busy html badjson tb wk ad dom srv m365 tenant adloop loop dtd bad big ns none"
sans=""
for d in $domains; do sans+="DNS:*.$d.vantage.test,"; done
MKCERTS_EXTRA_SANS=${sans%,} "$SERVERS/mkcerts" "$WORK/certs" >/dev/null || {
    echo "mkcerts failed" >&2
    exit 1
}
CA=(--ca-file "$WORK/certs/ca.pem")

ns_port=$(free_port udp)
nsd_pid=$(NSD_EXTRA_RECORDS="*     IN A $ADDR
_autodiscover._tcp.srv IN SRV 0 0 443 adhost.vantage.test." "$SERVERS/nsd-up" "$WORK/nsd" "$ns_port") || {
    echo "nsd-up failed" >&2
    exit 1
}
PIDS+=("$nsd_pid")
R=(--resolver "127.0.0.1:$ns_port")

# ---- documents -----------------------------------------------------------
W=$WORK/www
mkdir -p "$W/rdap/domain" "$W/registrar/domain"
iso() { date -u -d "$1" +%Y-%m-%dT%H:%M:%SZ; }
future=$(iso "+41 days 1 hour")
past=$(iso "-3 days +1 hour")  # days_left floors: -3
cat >"$W/rdap/bootstrap.json" <<EOF
{"version": "1.0", "publication": "2026-01-01T00:00:00Z",
 "services": [[["vantage.test"], ["https://rdap.vantage.test/"]],
              [["nordap"], []]]}
EOF
rdap_domain() { # NAME EXPIRES STATUS-JSON [LINKS-JSON]
    cat <<EOF
{"objectClassName": "domain", "ldhName": "$(echo "$1" | tr a-z A-Z)",
 "status": $3,
 "events": [{"eventAction": "registration", "eventDate": "2001-02-03T04:05:06Z"},
            {"eventAction": "expiration", "eventDate": "$2"}],
 "entities": [{"objectClassName": "entity", "roles": ["registrar"],
               "vcardArray": ["vcard", [["version", {}, "text", "4.0"],
                                        ["fn", {}, "text", "Example Registrar, Inc."]]]}],
 "nameservers": [{"objectClassName": "nameserver", "ldhName": "NS1.EXAMPLE.NET"},
                 {"objectClassName": "nameserver", "ldhName": "ns2.example.net."}],
 "links": ${4:-[]}}
EOF
}
rdap_domain ok.vantage.test "$future" '["client transfer prohibited"]' >"$W/rdap/domain/ok.vantage.test"
rdap_domain hold.vantage.test "$future" '["client hold", "client transfer prohibited"]' >"$W/rdap/domain/hold.vantage.test"
rdap_domain expired.vantage.test "$past" '["active"]' >"$W/rdap/domain/expired.vantage.test"
# A thin registry: no registrar entity, no name servers; a link to the registrar.
cat >"$W/rdap/domain/thin.vantage.test" <<EOF
{"objectClassName": "domain", "ldhName": "THIN.VANTAGE.TEST", "status": ["active"],
 "events": [{"eventAction": "expiration", "eventDate": "$future"}],
 "links": [{"rel": "self", "href": "https://rdap.vantage.test/domain/thin.vantage.test", "type": "application/rdap+json"},
           {"rel": "related", "href": "https://registrar.thin.vantage.test/domain/thin.vantage.test", "type": "application/rdap+json"}]}
EOF
rdap_domain thin.vantage.test "$future" '["client delete prohibited"]' >"$W/registrar/domain/thin.vantage.test"
echo '<html><body>Welcome to our portal</body></html>' >"$W/rdap/domain/html.vantage.test"
echo '{"objectClassName": "domain", "ldhName": ' >"$W/rdap/domain/badjson.vantage.test"

tb_doc() { # HOST...
    echo '<?xml version="1.0" encoding="UTF-8"?>'
    echo '<clientConfig version="1.1"><emailProvider id="x"><domain>x</domain>'
    echo "<incomingServer type=\"imap\"><hostname>$1</hostname><port>993</port><socketType>SSL</socketType></incomingServer>"
    echo "<incomingServer type=\"pop3\"><hostname>$1</hostname><port>110</port><socketType>STARTTLS</socketType></incomingServer>"
    echo "<outgoingServer type=\"smtp\"><hostname>%EMAILDOMAIN%</hostname><port>587</port><socketType>STARTTLS</socketType></outgoingServer>"
    echo '</emailProvider></clientConfig>'
}
ad_doc() { # BODY-OF-ACCOUNT
    echo '<?xml version="1.0" encoding="utf-8"?>'
    echo '<Autodiscover xmlns="http://schemas.microsoft.com/exchange/autodiscover/responseschema/2006">'
    echo '<Response xmlns="http://schemas.microsoft.com/exchange/autodiscover/outlook/responseschema/2006a">'
    echo "<Account><AccountType>email</AccountType>$1</Account></Response></Autodiscover>"
}
ad_imap() { echo "<Action>settings</Action><Protocol><Type>IMAP</Type><Server>$1</Server><Port>993</Port><SSL>on</SSL></Protocol><Protocol><Type>SMTP</Type><Server>$1</Server><Port>587</Port><SSL>on</SSL><Encryption>TLS</Encryption></Protocol>"; }
for d in tb wk ad dom adhost m365 tenant adloop loop dtd bad big none; do mkdir -p "$W/$d"; done
mkdir -p "$W/tb/mail" "$W/wk/.well-known/autoconfig/mail" "$W/ad/autodiscover" "$W/dom/autodiscover" \
    "$W/adhost/autodiscover" "$W/m365/autodiscover" "$W/tenant/autodiscover" "$W/adloop/autodiscover" \
    "$W/dtd/mail" "$W/bad/mail" "$W/big/mail" "$W/bad/autodiscover"
tb_doc imap.tb.vantage.test >"$W/tb/mail/config-v1.1.xml"
tb_doc imap.wk.vantage.test >"$W/wk/.well-known/autoconfig/mail/config-v1.1.xml"
ad_doc "$(ad_imap outlook.ad.vantage.test)" >"$W/ad/autodiscover/autodiscover.xml"
ad_doc "$(ad_imap outlook.dom.vantage.test)" >"$W/dom/autodiscover/autodiscover.xml"
ad_doc "$(ad_imap outlook.srv.vantage.test)" >"$W/adhost/autodiscover/autodiscover.xml"
ad_doc "<Action>redirectAddr</Action><RedirectAddr>jo@tenant.vantage.test</RedirectAddr>" >"$W/m365/autodiscover/autodiscover.xml"
ad_doc "$(ad_imap newmail.tenant.vantage.test)" >"$W/tenant/autodiscover/autodiscover.xml"
ad_doc "<Action>redirectUrl</Action><RedirectUrl>https://adloop.vantage.test/autodiscover/autodiscover.xml</RedirectUrl>" >"$W/adloop/autodiscover/autodiscover.xml"
cat >"$W/dtd/mail/config-v1.1.xml" <<'EOF'
<?xml version="1.0"?>
<!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
<!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">]>
<clientConfig version="1.1"><emailProvider id="x"><incomingServer type="imap"><hostname>&lol3;</hostname></incomingServer></emailProvider></clientConfig>
EOF
echo '<clientConfig version="1.1"><emailProvider><incomingServer type="imap"><hostname>x</hostname></emailProvider>' >"$W/bad/mail/config-v1.1.xml"
ad_doc "$(ad_imap x.bad.vantage.test)" | sed 's#responseschema/2006"#responseschema/2099"#' >"$W/bad/autodiscover/autodiscover.xml"
python3 -c "import sys; sys.stdout.write('<clientConfig>' + '<x>' + 'a' * 1000 + '</x>' * 1 + ('<!-- ' + 'p' * 1000 + ' -->') * 10000 + '</clientConfig>')" >"$W/big/mail/config-v1.1.xml"

# ---- nginx ------------------------------------------------------------------
# nginx's workers run as an unprivileged user: let them read the documents.
chmod 755 "$WORK"
chmod -R a+rX "$W"
n=$WORK/nginx
mkdir -p "$n/logs" "$n/tmp"
site() { # NAME ROOT [EXTRA]
    cat <<EOF
    server {
        listen $ADDR:443 ssl;
        server_name $1;
        root $2;
        ssl_certificate $WORK/certs/valid.pem;
        ssl_certificate_key $WORK/certs/valid.key;
        default_type text/xml;
        # Autodiscover is a POST; nginx refuses POSTs to static files with
        # 405: answer them with the file.
        error_page 405 =200 \$uri;
        ${3:-}
    }
EOF
}
cat >"$n/nginx.conf" <<EOF
daemon off;
master_process on;
worker_processes 1;
pid $n/nginx.pid;
error_log $n/logs/error.log;
events { worker_connections 64; }
http {
    access_log $n/logs/access.log;
    client_body_temp_path $n/tmp/body;
    proxy_temp_path $n/tmp/proxy;
    fastcgi_temp_path $n/tmp/fastcgi;
    uwsgi_temp_path $n/tmp/uwsgi;
    scgi_temp_path $n/tmp/scgi;
    server {
        listen $ADDR:443 ssl default_server;
        ssl_certificate $WORK/certs/valid.pem;
        ssl_certificate_key $WORK/certs/valid.key;
        return 404;
    }
$(site rdap.vantage.test "$W/rdap" "
        location /domain/ { types { } default_type application/rdap+json; }
        location = /domain/html.vantage.test { types { } default_type text/html; }
        location = /domain/busy.vantage.test { add_header Retry-After 120 always; return 429; }
        location = /bootstrap.json { types { } default_type application/json; }")
$(site registrar.thin.vantage.test "$W/registrar" "location /domain/ { types { } default_type application/rdap+json; }")
$(site autoconfig.tb.vantage.test "$W/tb" "location = /old.xml { return 301 https://autoconfig.tb.vantage.test/mail/config-v1.1.xml; }")
$(site wk.vantage.test "$W/wk")
$(site autodiscover.ad.vantage.test "$W/ad" "location = /autodiscover/autodiscover.xml { if (\$request_method = POST) { return 307 https://autodiscover.ad.vantage.test/autodiscover/moved.xml; } }
        location = /autodiscover/moved.xml { try_files /autodiscover/autodiscover.xml =404; }")
$(site dom.vantage.test "$W/dom")
$(site adhost.vantage.test "$W/adhost")
$(site autodiscover.m365.vantage.test "$W/m365")
$(site autodiscover.tenant.vantage.test "$W/tenant")
$(site autodiscover.adloop.vantage.test "$W/adloop")
$(site adloop.vantage.test "$W/adloop" "location = /autodiscover/autodiscover.xml { default_type text/xml; return 200 '<?xml version=\"1.0\"?><Autodiscover xmlns=\"http://schemas.microsoft.com/exchange/autodiscover/responseschema/2006\"><Response xmlns=\"http://schemas.microsoft.com/exchange/autodiscover/outlook/responseschema/2006a\"><Account><Action>redirectUrl</Action><RedirectUrl>https://autodiscover.adloop.vantage.test/autodiscover/autodiscover.xml</RedirectUrl></Account></Response></Autodiscover>'; }")
$(site autoconfig.loop.vantage.test "$W/loop" "location = /mail/config-v1.1.xml { return 302 https://autoconfig.loop.vantage.test/a; }
        location = /a { return 302 https://autoconfig.loop.vantage.test/b; }
        location = /b { return 302 https://autoconfig.loop.vantage.test/a; }")
$(site autoconfig.dtd.vantage.test "$W/dtd")
$(site autoconfig.bad.vantage.test "$W/bad")
$(site autodiscover.bad.vantage.test "$W/bad")
$(site autoconfig.big.vantage.test "$W/big")
}
EOF
nginx -t -p "$n" -c "$n/nginx.conf" -e "$n/logs/error.log" >"$n/logs/test.log" 2>&1 || {
    cat "$n/logs/test.log" >&2
    exit 1
}
start nginx nginx -p "$n" -c "$n/nginx.conf" -e "$n/logs/error.log"
for _ in $(seq 100); do
    python3 -c "import socket,sys; socket.create_connection((sys.argv[1], 443), 0.2).close()" "$ADDR" 2>/dev/null && break
    sleep 0.05
done

BOOT=(--rdap-bootstrap "$W/rdap/bootstrap.json")

# ---- registration -------------------------------------------------------------
probe_json "${R[@]}" "${CA[@]}" "${BOOT[@]}" rdap://ok.vantage.test rdap://hold.vantage.test \
    rdap://expired.vantage.test rdap://gone.vantage.test rdap://thin.vantage.test \
    rdap://busy.vantage.test rdap://example.nordap rdap://example.nowhere rdap://html.vantage.test \
    rdap://badjson.vantage.test
expect_rc 1
expect_result rdap://ok.vantage.test ok -
expect_field rdap://ok.vantage.test 'd["registration"]["days_left"]' 41
expect_field rdap://ok.vantage.test 'd["registration"]["registrar"], d["registration"]["status"]' \
    "('Example Registrar, Inc.', ['client transfer prohibited'])"
expect_field rdap://ok.vantage.test 'd["registration"]["nameservers"], d["registration"]["domain"]' \
    "(['ns1.example.net', 'ns2.example.net'], 'ok.vantage.test')"
expect_field rdap://ok.vantage.test 'd["registration"]["rdap_url"]' "https://rdap.vantage.test/domain/ok.vantage.test"
expect_field rdap://ok.vantage.test 'd["registration"]["expires"]' "$future"
expect_result rdap://hold.vantage.test registration_hold registration
expect_field rdap://hold.vantage.test '"client hold" in d["detail"] and "Example Registrar, Inc." in d["detail"]' True
expect_result rdap://expired.vantage.test registration_expired registration
expect_field rdap://expired.vantage.test 'd["registration"]["days_left"]' -3
expect_result rdap://gone.vantage.test registration_not_found registration
expect_result rdap://thin.vantage.test ok -
expect_field rdap://thin.vantage.test 'd["registration"]["registrar"], d["registration"]["nameservers"]' \
    "('Example Registrar, Inc.', ['ns1.example.net', 'ns2.example.net'])"
expect_field rdap://thin.vantage.test 'd["registration"]["status"]' "['active', 'client delete prohibited']"
expect_result rdap://busy.vantage.test http_status http
expect_field rdap://busy.vantage.test '"retry_at" in d and "Retry-After 120 s" in d["detail"]' True
expect_result rdap://example.nordap ok -
expect_field rdap://example.nordap '"no RDAP service for .nordap" in d["detail"] and "registration" not in d' True
expect_result rdap://example.nowhere ok -
expect_result rdap://html.vantage.test proto_bad_greeting protocol
expect_field rdap://html.vantage.test '"text/html" in d["detail"]' True
expect_result rdap://badjson.vantage.test proto_bad_greeting protocol
expect_field rdap://badjson.vantage.test '"not JSON" in d["detail"]' True

# The bootstrap registry fetched by URL, as the agent does by default.
probe_json "${R[@]}" "${CA[@]}" --rdap-bootstrap https://rdap.vantage.test/bootstrap.json rdap://ok.vantage.test
expect_rc 0
expect_result rdap://ok.vantage.test ok -
# A bootstrap file that is not one: a classified failure, no crash.
echo '{"services": 7}' >"$WORK/badboot.json"
probe_json "${R[@]}" "${CA[@]}" --rdap-bootstrap "$WORK/badboot.json" rdap://ok.vantage.test
expect_rc 1
expect_result rdap://ok.vantage.test internal -
expect_field rdap://ok.vantage.test '"services" in d["detail"]' True

# The human-readable form: what whois would say.
human=$("$AGENT" probe "${R[@]}" "${CA[@]}" "${BOOT[@]}" rdap://ok.vantage.test 2>&1)
CHECKS=$((CHECKS + 1))
if grep -q "registrar Example Registrar, Inc." <<<"$human" && grep -q "(41 days left)" <<<"$human" &&
    grep -q "nservers  ns1.example.net, ns2.example.net" <<<"$human"; then
    echo "ok: probe prints registrar, days left and name servers"
else
    fail_check "human-readable rdap output: $human"
fi

# ---- autoconfig -----------------------------------------------------------------
probe_json "${R[@]}" "${CA[@]}" autoconfig://tb.vantage.test autoconfig://wk.vantage.test \
    autoconfig://ad.vantage.test autoconfig://dom.vantage.test autoconfig://srv.vantage.test \
    "autoconfig://m365.vantage.test?mailbox=jo@m365.vantage.test" autoconfig://none.vantage.test
expect_rc 0
S='[(a["source"], a["url"].split("?")[0], [(s["protocol"], s["host"], s["port"], s["socket"]) for s in a["servers"]]) for a in d["autoconfig"] if a["servers"]]'
expect_result autoconfig://tb.vantage.test ok -
expect_field autoconfig://tb.vantage.test "$S" "[('autoconfig', 'https://autoconfig.tb.vantage.test/mail/config-v1.1.xml', [('imap', 'imap.tb.vantage.test', 993, 'ssl'), ('pop3', 'imap.tb.vantage.test', 110, 'starttls'), ('smtp', 'tb.vantage.test', 587, 'starttls')])]"
expect_field autoconfig://wk.vantage.test "$S" "[('autoconfig', 'https://wk.vantage.test/.well-known/autoconfig/mail/config-v1.1.xml', [('imap', 'imap.wk.vantage.test', 993, 'ssl'), ('pop3', 'imap.wk.vantage.test', 110, 'starttls'), ('smtp', 'wk.vantage.test', 587, 'starttls')])]"
expect_field autoconfig://wk.vantage.test '[a["answer"].split(":")[0] for a in d["autoconfig"]][:2]' "['HTTP 404', 'settings']"
expect_field autoconfig://ad.vantage.test "$S" "[('autodiscover', 'https://autodiscover.ad.vantage.test/autodiscover/autodiscover.xml', [('imap', 'outlook.ad.vantage.test', 993, 'ssl'), ('smtp', 'outlook.ad.vantage.test', 587, 'starttls')])]"
expect_field autoconfig://ad.vantage.test '"moved.xml" in [a for a in d["autoconfig"] if a["servers"]][0]["answer"]' True
expect_field autoconfig://dom.vantage.test "$S" "[('autodiscover', 'https://dom.vantage.test/autodiscover/autodiscover.xml', [('imap', 'outlook.dom.vantage.test', 993, 'ssl'), ('smtp', 'outlook.dom.vantage.test', 587, 'starttls')])]"
expect_field autoconfig://srv.vantage.test "$S" "[('srv', 'https://adhost.vantage.test/autodiscover/autodiscover.xml', [('imap', 'outlook.srv.vantage.test', 993, 'ssl'), ('smtp', 'outlook.srv.vantage.test', 587, 'starttls')])]"
expect_field "autoconfig://m365.vantage.test?mailbox=jo@m365.vantage.test" "$S" "[('autodiscover', 'https://autodiscover.tenant.vantage.test/autodiscover/autodiscover.xml', [('imap', 'newmail.tenant.vantage.test', 993, 'ssl'), ('smtp', 'newmail.tenant.vantage.test', 587, 'starttls')])]"
expect_field "autoconfig://m365.vantage.test?mailbox=jo@m365.vantage.test" '[a["answer"] for a in d["autoconfig"] if a["answer"].startswith("redirectAddr")]' "['redirectAddr to jo@tenant.vantage.test']"
expect_result autoconfig://none.vantage.test ok -
expect_field autoconfig://none.vantage.test '"no client configuration published" in d["detail"] and len(d["autoconfig"]) == 5' True

probe_json "${R[@]}" "${CA[@]}" autoconfig://adloop.vantage.test autoconfig://loop.vantage.test \
    autoconfig://dtd.vantage.test autoconfig://bad.vantage.test autoconfig://big.vantage.test
expect_rc 1
expect_result autoconfig://adloop.vantage.test autoconfig_invalid autoconfig
expect_field autoconfig://adloop.vantage.test '"redirect loop" in d["detail"]' True
expect_result autoconfig://loop.vantage.test autoconfig_invalid autoconfig
expect_field autoconfig://loop.vantage.test '"redirect loop" in d["autoconfig"][0]["answer"]' True
expect_result autoconfig://dtd.vantage.test autoconfig_invalid autoconfig
expect_field autoconfig://dtd.vantage.test '"DTD" in d["autoconfig"][0]["answer"]' True
expect_result autoconfig://bad.vantage.test autoconfig_invalid autoconfig
expect_field autoconfig://bad.vantage.test '"not well-formed" in d["autoconfig"][0]["answer"]' True
expect_field autoconfig://bad.vantage.test '[a["answer"] for a in d["autoconfig"] if "namespace" in a["answer"]] != []' True
expect_result autoconfig://big.vantage.test autoconfig_invalid autoconfig
expect_field autoconfig://big.vantage.test '"larger than" in d["autoconfig"][0]["answer"]' True

human=$("$AGENT" probe "${R[@]}" "${CA[@]}" autoconfig://tb.vantage.test 2>&1)
CHECKS=$((CHECKS + 1))
if grep -q "source    autoconfig https://autoconfig.tb.vantage.test/" <<<"$human" &&
    grep -q "server imap imap.tb.vantage.test:993 ssl" <<<"$human" &&
    grep -q "source    autodiscover https://autodiscover.tb.vantage.test/" <<<"$human"; then
    echo "ok: probe prints every source and the servers it named"
else
    fail_check "human-readable autoconfig output: $human"
fi
finish
