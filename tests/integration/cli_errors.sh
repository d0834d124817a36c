#!/bin/bash
# The command line refuses bad input with exit status 2 and a message that
# names the file, the line and the key, and says what to do: bad config
# files, plaintext to a non-loopback collector, world-readable secret
# keys, unknown commands and options.
. "$(dirname "$0")/lib/common.bash"
need_bins vantage-agent vantage-collector
cd "$T"

# expect_error STATUS PATTERN CMD... — CMD must exit STATUS and print PATTERN.
expect_error() {
    local want=$1 pattern=$2
    shift 2
    local out rc
    out=$("$@" 2>&1)
    rc=$?
    [ "$rc" = "$want" ] || fail "'$*' exited $rc, expected $want: $out"
    grep -qF -- "$pattern" <<<"$out" || fail "'$*' did not say '$pattern': $out"
}

"$BIN/vantage-collector" keygen --out keys >/dev/null
"$BIN/vantage-agent" keygen --out ka >/dev/null
KEY=$(cat keys/collector.pub)

cat >a1.conf <<CONF
[agent]
collector = tcp://198.51.100.7:7400
insecure_plaintext = yes
CONF
expect_error 2 "a1.conf:3: key 'insecure_plaintext': plaintext is allowed only to a loopback" \
    "$BIN/vantage-agent" run -c a1.conf

cat >a2.conf <<CONF
[agent]
collector = tcp://127.0.0.1:7400
collector_public_key = $KEY
secret_key = ka/agent.key
interval = 5s
CONF
expect_error 2 "a2.conf:5: key 'interval': unknown in [agent]" "$BIN/vantage-agent" run -c a2.conf

cat >a3.conf <<CONF
[agent]
collector = tcp://127.0.0.1:7400
collector_public_key = not-a-key
secret_key = ka/agent.key
CONF
expect_error 2 "a3.conf:3: key 'collector_public_key': not a Z85 public key" \
    "$BIN/vantage-agent" run -c a3.conf

chmod 644 ka/agent.key
cat >a4.conf <<CONF
[agent]
collector = tcp://127.0.0.1:7400
collector_public_key = $KEY
secret_key = ka/agent.key
spool = spool.db
CONF
expect_error 2 "secret key is readable by group or others" "$BIN/vantage-agent" run -c a4.conf
chmod 600 ka/agent.key

echo "secret" >pw
chmod 644 pw
cat >a5.conf <<CONF
[agent]
collector = tcp://127.0.0.1:7400
collector_public_key = $KEY
secret_key = ka/agent.key
[credentials corp]
user = probe@example.com
password_file = pw
CONF
expect_error 2 "a5.conf:7: key 'password_file'" "$BIN/vantage-agent" run -c a5.conf
out=$("$BIN/vantage-agent" run -c a5.conf 2>&1)
grep -q secret <<<"$out" && fail "the password appeared in an error message"

cat >c1.conf <<CONF
[collector]
listen = tcp://127.0.0.1:7400
secret_key = keys/collector.key
authorized_keys = ak
[target t]
check = imaps://mail.example.com
check = bogus://x
CONF
expect_error 2 "c1.conf:7: key 'check': unknown scheme 'bogus'" "$BIN/vantage-collector" -c c1.conf agents

cat >c2.conf <<CONF
[collector]
listen = tcp://127.0.0.1:7400
secret_key = keys/collector.key
authorized_keys = ak
[target t]
check = tcp://mail.example.com
CONF
expect_error 2 "c2.conf:6: key 'check': tcp:// has no default port" "$BIN/vantage-collector" -c c2.conf agents

cat >c3.conf <<CONF
[collector]
listen = tcp://127.0.0.1:7400
CONF
expect_error 2 "c3.conf:1: [collector] needs secret_key and authorized_keys" \
    "$BIN/vantage-collector" -c c3.conf agents

printf '[collector]\nlisten tcp://x\n' >c4.conf
expect_error 2 "c4.conf:2: expected 'key = value'" "$BIN/vantage-collector" -c c4.conf agents
expect_error 2 "cannot open" "$BIN/vantage-collector" -c missing.conf agents

echo "garbage line" >ak
cat >c5.conf <<CONF
[collector]
listen = tcp://127.0.0.1:$(free_port)
database = db.sqlite
secret_key = keys/collector.key
authorized_keys = ak
CONF
expect_error 2 "ak:1: expected '<z85 public key> <agent name>'" \
    "$BIN/vantage-collector" -c c5.conf serve

expect_error 2 "unknown command 'frobnicate'" "$BIN/vantage-collector" -c c5.conf frobnicate
expect_error 2 "unknown command 'frobnicate'" "$BIN/vantage-agent" frobnicate
expect_error 2 "--since 'soon' is not a duration" "$BIN/vantage-collector" -c c5.conf results --since soon
expect_error 2 "keygen needs --out DIR" "$BIN/vantage-agent" keygen
"$BIN/vantage-agent" --help | grep -q "usage: vantage-agent" || fail "agent --help"
"$BIN/vantage-collector" --help | grep -q "usage: vantage-collector" || fail "collector --help"
pass "every bad input refused with a clear message and status 2"
