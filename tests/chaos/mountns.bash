# Sourced first by the chaos tests that mount tmpfs (disk_full,
# pg_disk_full), before lib.bash: runs the test again in a private mount
# namespace of its own, so that its mounts are invisible to the rest of
# the machine and vanish with it; exits 77 where that is impossible.
if [ -z "${VANTAGE_CHAOS_NS:-}" ]; then
    if [ "$(id -u)" != 0 ] || ! command -v unshare >/dev/null ||
        ! unshare -m --propagation private true 2>/dev/null; then
        echo "SKIP [$(basename "$0" .sh)]: needs root and unshare -m for its private tmpfs mounts" >&2
        exit 77
    fi
    exec unshare -m --propagation private env VANTAGE_CHAOS_NS=1 bash "$0" "$@"
fi
