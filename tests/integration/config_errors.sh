#!/bin/bash
# Config files outside the current directory: only path keys are taken
# from the file's directory (log_level = debug works), and every error of
# a key, found at load or when the daemon uses it, names the file, the
# line and the key, and says what to write instead.
. "$(dirname "$0")/lib/common.bash"
need_bins vantage-agent vantage-collector
cd "$T"
mkdir etc
"$BIN/vantage-collector" keygen --out etc >/dev/null
"$BIN/vantage-agent" keygen --out etc >/dev/null
KEY=$(cat etc/collector.pub)
echo "$(cat etc/agent.pub) a0" >etc/authorized_keys

# expect STATUS CMD... with the fragments in WANT: CMD must exit STATUS and
# print each fragment, and never "(null)".
expect() {
    local want=$1 out rc frag
    shift
    out=$(timeout 20 "$@" 2>&1)
    rc=$?
    [ "$rc" = "$want" ] || fail "'$*' exited $rc, expected $want: $out"
    for frag in "${WANT[@]}"; do
        grep -qF -- "$frag" <<<"$out" || fail "'$*' did not say '$frag': $out"
    done
    grep -qF "(null)" <<<"$out" && fail "'$*' printed (null): $out"
    return 0
}

agent_conf() { # NAME EXTRA-LINES: a valid agent.conf plus the lines
    printf '[agent]\ncollector_public_key = %s\nsecret_key = agent.key\nspool = spool.db\n%b' \
        "$KEY" "$2" >"etc/$1"
}
coll_conf() {
    printf '[collector]\nsecret_key = collector.key\nauthorized_keys = authorized_keys\n%b' \
        "$2" >"etc/$1"
}

# log_level is not a path: debug is taken as written by both daemons.
port=$(free_port)
coll_conf c0.conf "listen = tcp://127.0.0.1:$port\ndatabase = db.sqlite\nlog_level = debug\n"
start_bg c0 "$BIN/vantage-collector" -c etc/c0.conf serve
cpid=$LAST_PID
agent_conf a0.conf "collector = tcp://127.0.0.1:$port\nlog_level = debug\n"
start_bg a0 "$BIN/vantage-agent" run -c etc/a0.conf
apid=$LAST_PID
wait_for 10 "the collector to listen" grep -q "listening on" "$T/c0.log"
wait_for 10 "the agent to start" grep -q "started" "$T/a0.log"
wait_for 10 "the agent to log at debug level" grep -q " debug " "$T/a0.log"
[ -f etc/db.sqlite ] && [ -f etc/spool.db ] || fail "database or spool not beside the config"
stop_pid "$apid"
stop_pid "$cpid"
grep -h "log_level" "$T/c0.log" "$T/a0.log" && fail "log_level = debug was refused"

# Agent: errors found when the file is read.
agent_conf a1.conf "collector = 127.0.0.1:7400\n"
WANT=("etc/a1.conf:5: key 'collector'" "not a ZeroMQ endpoint" "e.g. tcp://127.0.0.1:7400")
expect 2 "$BIN/vantage-agent" run -c etc/a1.conf
agent_conf a2.conf "collector = tcp://127.0.0.1:7400\nresolver = 1.2.3\n"
WANT=("etc/a2.conf:6: key 'resolver'" "IP:PORT" "remove the line")
expect 2 "$BIN/vantage-agent" run -c etc/a2.conf
agent_conf a3.conf "collector = tcp://127.0.0.1:7400\nca_file = ca.pem\n"
WANT=("etc/a3.conf:6: key 'ca_file'" "etc/ca.pem: No such file or directory" "PEM file")
expect 2 "$BIN/vantage-agent" run -c etc/a3.conf
agent_conf a4.conf "collector = tcp://127.0.0.1:7400\nlog_level = verbose\n"
WANT=("etc/a4.conf:6: key 'log_level'" "write error, warn, info or debug")
expect 2 "$BIN/vantage-agent" run -c etc/a4.conf
agent_conf a5.conf "collector = ipc:///tmp/$(printf 'x%.0s' {1..120})\n"
WANT=("etc/a5.conf:5: key 'collector'" "limit is 107" "shorter path")
expect 2 "$BIN/vantage-agent" run -c etc/a5.conf

# Agent: errors found when the daemon uses a setting.
printf '[agent]\ncollector = tcp://127.0.0.1:7400\ncollector_public_key = %s\nsecret_key = none.key\nspool = spool.db\n' \
    "$KEY" >etc/a6.conf
WANT=("etc/a6.conf:4: key 'secret_key'" "etc/none.key" "keygen")
expect 2 "$BIN/vantage-agent" run -c etc/a6.conf
agent_conf a7.conf "collector = tcp://127.0.0.1:7400\n"
sed -i 's|^spool = .*|spool = nodir/spool.db|' etc/a7.conf
WANT=("etc/a7.conf:4: key 'spool'" "etc/nodir/spool.db" "give spool = a path")
expect 2 "$BIN/vantage-agent" run -c etc/a7.conf

# Collector: errors found when the file is read.
coll_conf c1.conf "listen = 0.0.0.0:7400\n"
WANT=("etc/c1.conf:4: key 'listen'" "not a ZeroMQ endpoint" "e.g. tcp://0.0.0.0:7400")
expect 2 "$BIN/vantage-collector" -c etc/c1.conf agents
coll_conf c2.conf "control = ipc:///tmp/$(printf 'x%.0s' {1..120})\n"
WANT=("etc/c2.conf:4: key 'control'" "limit is 107" "shorter path")
expect 2 "$BIN/vantage-collector" -c etc/c2.conf agents
coll_conf c3.conf "database = /tmp/$(printf 'x%.0s' {1..120}).db\n"
WANT=("etc/c3.conf:4: key 'database'" "control socket" "set control = ipc://")
expect 2 "$BIN/vantage-collector" -c etc/c3.conf agents
coll_conf c4.conf "log_level = loud\n"
WANT=("etc/c4.conf:4: key 'log_level'" "write error, warn, info or debug")
expect 2 "$BIN/vantage-collector" -c etc/c4.conf agents
printf '[collector]\ninsecure_plaintext = yes\n' >etc/c5.conf
WANT=("etc/c5.conf:1: [collector] key 'listen' is not set" "write listen = tcp://127.0.0.1:PORT")
expect 2 "$BIN/vantage-collector" -c etc/c5.conf agents

# Collector: errors found when serve uses a setting.
coll_conf c6.conf "listen = tcp://192.0.2.1:$(free_port)\ndatabase = db6.sqlite\n"
WANT=("etc/c6.conf:4: key 'listen'" "cannot listen on tcp://192.0.2.1" "give listen =")
expect 2 "$BIN/vantage-collector" -c etc/c6.conf serve
coll_conf c7.conf "listen = tcp://127.0.0.1:$(free_port)\ndatabase = nodir/db.sqlite\n"
WANT=("etc/c7.conf:5: key 'database'" "etc/nodir/db.sqlite" "give database = a path")
expect 2 "$BIN/vantage-collector" -c etc/c7.conf serve
WANT=("etc/c7.conf:5: key 'database'" "etc/nodir/db.sqlite")
expect 2 "$BIN/vantage-collector" -c etc/c7.conf agents
coll_conf c8.conf "listen = tcp://127.0.0.1:$(free_port)\ndatabase = db8.sqlite\n"
sed -i 's|^authorized_keys = .*|authorized_keys = none|' etc/c8.conf
WANT=("etc/c8.conf:3: key 'authorized_keys'" "etc/none" "give authorized_keys =")
expect 2 "$BIN/vantage-collector" -c etc/c8.conf serve
coll_conf c9.conf "listen = tcp://127.0.0.1:$(free_port)\ndatabase = db9.sqlite\ncontrol = ipc://nodir/ctl\n"
WANT=("etc/c9.conf:6: key 'control'" "etc/nodir/ctl" "give control = ipc://PATH")
expect 2 "$BIN/vantage-collector" -c etc/c9.conf serve
pass "path keys from the config's directory, log_level as written; every error names file:line:key"
