#!/bin/bash
# The HTTP endpoint with the real clients it is for: Debian's Prometheus
# scrapes the collector and its query API returns Vantage series, and
# headless Chromium renders the status page: the targets and the finding
# are in the DOM, a hostile SMTP banner is text (no script element), the
# page loads nothing and breaks no rule of its Content-Security-Policy
# (the console says nothing), and its one style matches the policy's hash.
# A screenshot is kept in build/test-artifacts/status-page.png.
. "$(dirname "$0")/../integration/lib/common.bash"
need_bins vantage-agent vantage-collector
for tool in prometheus chromium curl; do
    command -v $tool >/dev/null || skip "$tool is missing (scripts/install-deps installs it)"
done
ART=$BIN/../test-artifacts
mkdir -p "$ART" || fail "cannot create $ART"

OPEN=$(free_port)
SMTP=$(free_port)
CPORT=$(free_port)
HPORT=$(free_port)
PPORT=$(free_port)
tcp_listener "$OPEN"
# An SMTP server whose refusal carries markup: it must reach the page as text.
start_bg smtp python3 -c '
import socket, sys
s = socket.socket()
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("127.0.0.1", int(sys.argv[1])))
s.listen(64)
while True:
    c, _ = s.accept()
    c.sendall(b"554 <script>document.title=\"pwned\"</script><img src=x onerror=alert(1)> go away\r\n")
    c.close()
' "$SMTP"
cd "$T"

"$BIN/vantage-collector" keygen --out keys >/dev/null || fail "collector keygen"
"$BIN/vantage-agent" keygen --out ka >/dev/null || fail "agent keygen"
echo "$(cat ka/agent.pub) a1" >authorized_keys
cat >collector.conf <<CONF
$(collector_section)
http = 127.0.0.1:$HPORT
evaluate_every = 1s

[target webmail]
check = tcp://127.0.0.1:$OPEN
interval = 1s
timeout = 2s

[target corp-mail]
check = smtp://127.0.0.1:$SMTP
interval = 1s
timeout = 2s
CONF
cat >agent.conf <<CONF
[agent]
name = a1
site = office
collector = tcp://127.0.0.1:$CPORT
collector_public_key = $(cat keys/collector.pub)
secret_key = ka/agent.key
spool = spool.db
CONF
start_bg collector "$BIN/vantage-collector" -c collector.conf serve
start_bg agent "$BIN/vantage-agent" run -c agent.conf
U="http://127.0.0.1:$HPORT"

cat >prometheus.yml <<CONF
global:
  scrape_interval: 1s
  scrape_timeout: 1s
scrape_configs:
  - job_name: vantage
    static_configs:
      - targets: ['127.0.0.1:$HPORT']
CONF
start_bg prometheus prometheus --config.file=prometheus.yml --storage.tsdb.path=prom \
    --web.listen-address=127.0.0.1:$PPORT --log.level=warn

# The finding and the hostile banner come from different checks: wait for
# both, or the browser may load the page between them (CI, 2026-12-07).
finding_on_page() {
    curl -sf "$U/status?target=corp-mail" >page.html &&
        grep -q 'class="finding problem"' page.html &&
        grep -q '&lt;script&gt;document.title' page.html
}
wait_for 15 "a finding and the hostile banner on corp-mail's page" finding_on_page

# Chromium: the DOM, then a screenshot with the console on stderr.
CHROME=(chromium --headless --no-sandbox --disable-gpu --no-first-run --disable-extensions
    --user-data-dir="$T/chrome")
timeout 30 "${CHROME[@]}" --dump-dom "$U/status?target=corp-mail" >dom.html 2>chrome-dom.log ||
    fail "chromium --dump-dom failed: $(tail -3 chrome-dom.log)"
timeout 30 "${CHROME[@]}" --enable-logging=stderr --v=0 --window-size=1200,900 \
    --screenshot="$ART/status-page.png" "$U/status?target=corp-mail" >/dev/null 2>chrome.log ||
    fail "chromium --screenshot failed: $(tail -3 chrome.log)"
[ -s "$ART/status-page.png" ] || fail "no screenshot"
grep -q 'corp-mail' dom.html || fail "the target is not in the rendered DOM"
grep -q 'class="finding problem"' dom.html || fail "the finding is not in the rendered DOM"
grep -q 'Network office' dom.html || fail "the matrix by network is not in the DOM"
grep -q '<svg' dom.html || fail "no latency chart in the DOM"
grep -q '&lt;script&gt;document.title' dom.html || fail "the hostile banner is not on the page as text"
! grep -qi '<script' dom.html || fail "a script element made it into the DOM"
! grep -q '<title>pwned' dom.html || fail "the banner ran"
if grep ':CONSOLE' chrome.log >console.txt; then
    fail "the browser console has messages (CSP violation, failed load): $(head -3 console.txt)"
fi
# The policy's hash is the hash of the style the browser got.
csp=$(curl -sfD - -o page.html "$U/status?target=corp-mail" | tr -d '\r' |
    sed -n "s/^Content-Security-Policy: .*style-src 'sha256-\([^']*\)'.*/\1/Ip")
style=$(python3 -c '
import base64, hashlib, re, sys
page = open("page.html", encoding="utf-8").read()
styles = re.findall(r"<style>(.*?)</style>", page, re.S)
assert len(styles) == 1, styles
print(base64.b64encode(hashlib.sha256(styles[0].encode()).digest()).decode())')
[ -n "$csp" ] && [ "$csp" = "$style" ] || fail "CSP hash '$csp' is not the style's '$style'"

# Prometheus: its query API returns the collector's series.
series() {
    curl -sf "http://127.0.0.1:$PPORT/api/v1/query?query=vantage_check_up" >q.json &&
        grep -q '"target":"webmail"' q.json && grep -q '"target":"corp-mail"' q.json
}
wait_for 20 "vantage_check_up in Prometheus" series
curl -sf "http://127.0.0.1:$PPORT/api/v1/query?query=up%7Bjob%3D%22vantage%22%7D" | grep -q '"value":\[[0-9.]*,"1"\]' ||
    fail "Prometheus does not see the collector as up"
pass "Prometheus scrapes, Chromium renders the page cleanly ($ART/status-page.png)"
