#!/bin/bash
# vantage-agent probe --nagios: the Monitoring Plugins conventions against
# real loopback servers. OK (0) with phase perfdata for a port that
# answers; WARNING (1) when it takes longer than -w; CRITICAL (2) for a
# closed port, naming the error; UNKNOWN (3) for a usage error. One line
# each, perfdata after '|'.
. "$(dirname "$0")/lib/common.bash"
need_bins vantage-agent

OPEN=$(free_port)
CLOSED=$(free_port)
tcp_listener "$OPEN"
listening() { python3 -c "import socket; socket.create_connection(('127.0.0.1', $OPEN), 1)"; }
wait_for 10 "the listener" listening
P=("$BIN/vantage-agent" probe --nagios --timeout 2s)

# expect RC PATTERN ARGS... — one line matching PATTERN, exit RC.
expect() {
    local want=$1 pattern=$2
    shift 2
    "${P[@]}" "$@" >out.txt 2>err.txt
    local rc=$?
    [ "$rc" = "$want" ] || fail "probe --nagios $* exited $rc, not $want: $(cat out.txt err.txt)"
    [ "$(wc -l <out.txt)" = 1 ] || fail "probe --nagios $* printed more than one line: $(cat out.txt)"
    grep -Eq "$pattern" out.txt || fail "probe --nagios $*: '$(cat out.txt)' does not match $pattern"
}
cd "$T"
expect 0 "^VANTAGE-PROBE OK - tcp://127.0.0.1:$OPEN [0-9.]+ s \| connect=[0-9.]+s;;;0 time=[0-9.]+s;;;0$" \
    "tcp://127.0.0.1:$OPEN"
expect 0 "time=[0-9.]+s;5.000000;10.000000;0$" -w 5s -c 10s "tcp://127.0.0.1:$OPEN"
# Any real connection takes longer than a microsecond.
expect 1 "^VANTAGE-PROBE WARNING - tcp://127.0.0.1:$OPEN " -w 0.000001 "tcp://127.0.0.1:$OPEN"
expect 2 "^VANTAGE-PROBE CRITICAL - tcp://127.0.0.1:$OPEN " -c 0.000001 "tcp://127.0.0.1:$OPEN"
expect 2 "^VANTAGE-PROBE CRITICAL - 1 of 2 checks failed: tcp://127.0.0.1:$CLOSED tcp_refused \(tcp\).*\| c1_connect=.* c2_time=" \
    "tcp://127.0.0.1:$OPEN" "tcp://127.0.0.1:$CLOSED"
expect 3 "^VANTAGE-PROBE UNKNOWN - " --bogus "tcp://127.0.0.1:$OPEN"
expect 3 "^VANTAGE-PROBE UNKNOWN - " -w soon "tcp://127.0.0.1:$OPEN"
pass "OK 0, WARNING 1, CRITICAL 2, UNKNOWN 3, with phase perfdata"
