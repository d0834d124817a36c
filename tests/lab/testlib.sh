# shellcheck shell=bash disable=SC2034
# Shared by the lab tests (sourced, not run; ctest only runs test_*.sh).
# Each test sets VANTAGE_LAB_PREFIX to its own prefix before sourcing, so
# tests never touch each other's lab or one an operator has up.

LAB=${VANTAGE_SOURCE_DIR:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)}/tests/lab/lab
export VANTAGE_LAB_PREFIX
LAB_RUN=/run/${VANTAGE_LAB_PREFIX}lab
export VANTAGE_LAB_RUN=$LAB_RUN

skip() {
    echo "SKIP: $*"
    exit 77
}

# Exits 77 (skipped) when the lab cannot run here, saying why.
lab_require() {
    [ "$(id -u)" -eq 0 ] || skip "the lab needs root (network namespaces); CI runs it as root"
    ip netns list >/dev/null 2>&1 || skip "'ip netns' does not work here"
    local tool
    for tool in nft nsd unbound dovecot nginx openssl dig curl /usr/lib/postfix/sbin/master; do
        command -v "$tool" >/dev/null 2>&1 ||
            skip "$tool is missing (scripts/install-deps installs the lab's packages)"
    done
    # A namespace of our own proves we may create them (e.g. not in an
    # unprivileged container).
    ip netns add "${VANTAGE_LAB_PREFIX}probe" 2>/dev/null ||
        skip "cannot create network namespaces here"
    ip netns del "${VANTAGE_LAB_PREFIX}probe"
}

FAILS=0
fail() {
    echo "FAIL: $*"
    FAILS=$((FAILS + 1))
}
pass() {
    echo "ok: $*"
}

# Everything a lab with our prefix may have left: prints one line per
# leftover, nothing when clean.
lab_leftovers() {
    local p=$VANTAGE_LAB_PREFIX
    ip netns list 2>/dev/null | awk '{ print $1 }' | grep "^$p" | sed 's/^/namespace /'
    ip -o link show 2>/dev/null | awk -F': ' '{ print $2 }' | grep "^$p" | sed 's/^/root link /'
    ls -d /etc/netns/"$p"* 2>/dev/null | sed 's/^/netns config /'
    [ -e "$LAB_RUN" ] && echo "run directory $LAB_RUN"
    ps -e -o pid=,args= | grep -F -- "$LAB_RUN" | grep -v -F -e grep -e testlib | sed 's/^/process /'
    return 0
}
