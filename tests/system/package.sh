#!/bin/bash
# The Debian packages, end to end: scripts/package builds vantage-agent and
# vantage-collector; lintian finds nothing (tags it would report are
# overridden with reasons in debian/); both install with dpkg into a
# throwaway copy-on-write view of this machine (an overlay of / in private
# mount and PID namespaces, so the host's files, users and dpkg database
# never change); the vantage user, /etc/vantage (0750 root:vantage),
# /var/lib/vantage (0750 vantage), the collector's key (0600 vantage), the
# conffiles, the man pages and the units are there, no unit is enabled;
# systemd-analyze verifies both units and rates them 2.0 or lower; the
# installed collector, run as vantage from the installed example config on
# loopback, enrolls the installed agent with the line it prints, sees it
# connect, revokes it; purge removes everything but the database.
# Needs root; run under flock /tmp/vantage-lab.lock like the lab tests.
. "$(dirname "$0")/../integration/lib/common.bash"
[ "$(id -u)" = 0 ] || skip "needs root (dpkg in a private mount namespace)"
for tool in dpkg-buildpackage dh lintian systemd-analyze unshare setpriv man; do
    command -v "$tool" >/dev/null || skip "$tool is missing (scripts/install-deps installs it)"
done
grep -qw overlay /proc/filesystems || modprobe overlay 2>/dev/null ||
    skip "no overlay filesystem: cannot make a throwaway root"

# What the install would change on this machine if it escaped the
# throwaway root: the user, the directories, the dpkg database.
host_state() {
    getent passwd vantage
    ls -ld /etc/vantage /var/lib/vantage /usr/bin/vantage-agent 2>/dev/null
    dpkg-query -W -f='${Package} ${Status}\n' vantage-agent vantage-collector 2>/dev/null
}
HOST_BEFORE=$(host_state)
start=$SECONDS
if [ -n "${VANTAGE_PACKAGE_DIR:-}" ]; then
    PKG=$VANTAGE_PACKAGE_DIR # packages built beforehand (scripts/package)
else
    PKG=$T/pkgs
    "$SRC/scripts/package" "$PKG" >"$T/package.log" 2>&1 || fail "scripts/package: $(tail -20 "$T/package.log")"
fi
built=$SECONDS
for p in vantage-agent vantage-collector vantage-agent-dbgsym vantage-collector-dbgsym; do
    ls "$PKG/${p}_"*.deb >/dev/null 2>&1 || fail "no $p package in $PKG"
done
AGENT_DEB=$(ls "$PKG"/vantage-agent_*.deb)
COLL_DEB=$(ls "$PKG"/vantage-collector_*.deb)

# lintian (every tag it reports is an error here; --pedantic: also info)
# runs beside the install checks: they do not depend on each other.
lintian --pedantic --fail-on error,warning,info,pedantic "$AGENT_DEB" "$COLL_DEB" >"$T/lintian.log" 2>&1 &
LINTIAN=$!
PIDS+=("$LINTIAN")

CPORT=$(free_port)
mkdir -p "$T/ov/upper" "$T/ov/work" "$T/ov/root"
cp "$AGENT_DEB" "$COLL_DEB" "$T/"
cat >"$T/inner.sh" <<INNER
#!/bin/bash
# Runs as PID 1 of a private PID namespace, in a private mount namespace:
# everything it starts ends with it, and every mount goes with it.
set -u
R=$T/ov/root
mount -t overlay overlay -o lowerdir=/,upperdir=$T/ov/upper,workdir=$T/ov/work "\$R" || exit 90
mount -t proc proc "\$R/proc"
mount --rbind /dev "\$R/dev"
mount -t tmpfs tmpfs "\$R/run"
mount -t tmpfs tmpfs "\$R/tmp"
cp $T/*.deb "\$R/tmp/"
cp $T/checks.sh "\$R/tmp/"
exec chroot "\$R" env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin CPORT=$CPORT bash /tmp/checks.sh
INNER

cat >"$T/checks.sh" <<'CHECKS'
#!/bin/bash
# Inside the throwaway root. Prints "FAIL: ..." and exits 1 at the first
# problem; the outer test shows this output.
set -u
fail() { echo "FAIL: $*"; exit 1; }
mode() { stat -c '%a %U:%G' "$1"; }
export DEBIAN_FRONTEND=noninteractive
getent passwd vantage >/dev/null && fail "a vantage user exists before the install"
dpkg -i /tmp/vantage-agent_*.deb /tmp/vantage-collector_*.deb >/tmp/dpkg.log 2>&1 ||
    { cat /tmp/dpkg.log; fail "dpkg -i"; }
getent passwd vantage | grep -q ':/var/lib/vantage:/usr/sbin/nologin$' || fail "user: $(getent passwd vantage)"
[ "$(mode /etc/vantage)" = "750 root:vantage" ] || fail "/etc/vantage: $(mode /etc/vantage)"
[ "$(mode /var/lib/vantage)" = "750 vantage:vantage" ] || fail "/var/lib/vantage: $(mode /var/lib/vantage)"
[ "$(mode /etc/vantage/collector.key)" = "600 vantage:vantage" ] || fail "collector.key: $(mode /etc/vantage/collector.key)"
[ "$(mode /var/lib/vantage/authorized_keys)" = "640 vantage:vantage" ] || fail "authorized_keys"
dpkg-query -W -f='${Conffiles}\n' vantage-agent | grep -q '/etc/vantage/agent.conf.example' || fail "agent conffile"
dpkg-query -W -f='${Conffiles}\n' vantage-collector | grep -q '/etc/vantage/collector.conf.example' ||
    fail "collector conffile"
for p in vantage-agent.8 vantage-agent.conf.5 vantage-collector.8 vantage-collector.conf.5; do
    man -w "${p%.*}" >/dev/null 2>&1 || man -w "${p##*.}" "${p%.*}" >/dev/null 2>&1 || fail "man page $p not installed"
done
ls /etc/systemd/system/*.wants/vantage-* 2>/dev/null && fail "a unit was enabled before it is configured"
/usr/bin/vantage-agent --version | grep -q '^vantage-agent .*commit' || fail "agent --version"
for u in vantage-agent vantage-collector; do
    f=/lib/systemd/system/$u.service
    [ -f "$f" ] || fail "$f missing"
    out=$(systemd-analyze verify "$f" 2>&1) || fail "systemd-analyze verify $u: $out"
    [ -z "$out" ] || fail "systemd-analyze verify $u: $out"
    score=$(systemd-analyze security --offline=true "$f" 2>&1 | sed -n 's/.*Overall exposure level for .*: \([0-9.]*\) .*/\1/p')
    [ -n "$score" ] || fail "no exposure level for $u"
    awk -v s="$score" 'BEGIN { exit !(s <= 2.0) }' || fail "$u exposure $score > 2.0"
    echo "exposure $u $score"
done

# The installed programs with the installed example configuration.
sed -e "s|^listen = .*|listen = tcp://127.0.0.1:$CPORT|" /etc/vantage/collector.conf.example \
    >/etc/vantage/collector.conf
as_vantage() { setpriv --reuid=vantage --regid=vantage --init-groups "$@"; }
cd /var/lib/vantage
as_vantage vantage-collector serve >/tmp/collector.log 2>&1 &
coll=$!
# Polled as vantage: a read command as root before serve has made the
# database would create it root-owned, and serve could not open it.
for _ in $(seq 100); do grep -q "listening on" /tmp/collector.log && break; sleep 0.1; done
grep -q "listening on" /tmp/collector.log || fail "collector did not start: $(cat /tmp/collector.log)"
vantage-collector enroll b1 --site lyon --address "tcp://127.0.0.1:$CPORT" >/tmp/line 2>/tmp/enroll.err ||
    fail "enroll: $(cat /tmp/enroll.err)"
[ "$(mode /var/lib/vantage/enrollments)" = "640 vantage:vantage" ] || fail "enrollments: $(mode /var/lib/vantage/enrollments)"
sh /tmp/line >/tmp/agent-enroll.log 2>&1 || fail "agent enroll: $(cat /tmp/agent-enroll.log) $(cat /tmp/collector.log)"
[ "$(mode /etc/vantage/agent.key)" = "600 vantage:vantage" ] || fail "agent.key: $(mode /etc/vantage/agent.key)"
grep -q " b1$" /var/lib/vantage/authorized_keys || fail "b1 not authorized"
as_vantage vantage-agent run >/tmp/agent.log 2>&1 &
agent=$!
for _ in $(seq 100); do vantage-collector agents --json 2>/dev/null | grep -q '"b1"' && break; sleep 0.1; done
vantage-collector agents --json | grep '"b1"' | grep -q '"lyon"' || fail "b1 did not connect: $(cat /tmp/agent.log)"
vantage-collector revoke b1 | grep -q "refuses it from now on" || fail "revoke"
grep -q " b1$" /var/lib/vantage/authorized_keys && fail "b1 still authorized"
kill "$agent" "$coll"
wait "$agent" "$coll" 2>/dev/null

# Purge: all that was made goes, except the database (and the user).
dpkg --purge vantage-agent vantage-collector >/tmp/purge.log 2>&1 || { cat /tmp/purge.log; fail "purge"; }
[ -e /etc/vantage ] && fail "/etc/vantage left: $(ls -la /etc/vantage)"
left=$(cd /var/lib/vantage && ls -A | grep -v '^vantage\.db' | tr '\n' ' ')
[ -z "$left" ] || fail "purge left in /var/lib/vantage: $left"
[ -e /var/lib/vantage/vantage.db ] || fail "purge removed the database"
[ -e /usr/bin/vantage-agent ] && fail "purge left the agent binary"
ls /lib/systemd/system/vantage-* 2>/dev/null && fail "purge left a unit"
echo "CHECKS OK"
CHECKS

unshare --mount --pid --fork --propagation private bash "$T/inner.sh" >"$T/inner.log" 2>&1
rc=$?
[ $rc = 90 ] && skip "cannot mount an overlay of / here"
grep -q "CHECKS OK" "$T/inner.log" || fail "in the throwaway root (rc $rc): $(cat "$T/inner.log")"
[ "$(host_state)" = "$HOST_BEFORE" ] || fail "the host changed: before [$HOST_BEFORE], after [$(host_state)]"
installed=$SECONDS
wait "$LINTIAN" || fail "lintian: $(grep -v 'root privileges' "$T/lintian.log")"
grep -qE '^[EWIP]: ' "$T/lintian.log" && fail "lintian reported: $(cat "$T/lintian.log")"
grep -E '^exposure' "$T/inner.log"
pass "built in $((built - start)) s; installed, checked, enrolled, revoked and purged in $((installed - built)) s; lintian clean $((SECONDS - installed)) s later"
