#!/bin/bash
# Every C file follows the repository's .clang-format, so that a diff shows
# changes of meaning, not of layout. Fix with: clang-format -i FILE.
. "$(dirname "$0")/lib/common.bash"
command -v clang-format >/dev/null || skip "clang-format missing (scripts/install-deps installs it)"
cd "$SRC"
bad=""
for f in common/*.[ch] agent/*.[ch] agent/*/*.[ch] collector/*.[ch] collector/*/*.[ch] collector/*/*/*.[ch] bench/*/*.c tests/unit/*.c tests/fuzz/*.[ch]; do
    [ -f "$f" ] || continue
    clang-format --dry-run --Werror "$f" >/dev/null 2>&1 || bad="$bad $f"
done
[ -z "$bad" ] || fail "not formatted (run clang-format -i):$bad"
pass "every C file is formatted"
