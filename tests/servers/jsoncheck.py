#!/usr/bin/env python3
"""jsoncheck.py — asserts facts about `vantage-agent probe --json` output.

Usage: jsoncheck.py FILE CHECK COND...

FILE holds JSON Lines; the line whose "check" equals CHECK is tested
against every COND, each "path OP value" with a dotted path into the object
(phases_us.greeting, tls.verify) and OP one of
  =   equal (as text)             !=  not equal
  ~   matches the regex           >   greater than (numbers)
  ?   present (value ignored)     !?  absent (value ignored)
Exits 0 when all hold, else 1 and prints the line and what failed.
"""
import json
import re
import sys


def get(obj, path):
    for part in path.split("."):
        if not isinstance(obj, dict) or part not in obj:
            return None, False
        obj = obj[part]
    return obj, True


def main():
    if len(sys.argv) < 3:
        print(__doc__, file=sys.stderr)
        return 2
    fname, check, conds = sys.argv[1], sys.argv[2], sys.argv[3:]
    found = None
    with open(fname) as f:
        for raw in f:
            raw = raw.strip()
            if not raw:
                continue
            obj = json.loads(raw)
            if obj.get("check") == check:
                found = obj
    if found is None:
        print("jsoncheck: no result for %s in %s" % (check, fname), file=sys.stderr)
        return 1
    bad = []
    for c in conds:
        m = re.match(r"^([A-Za-z0-9_.]+)(!=|!\?|=|~|>|\?)(.*)$", c)
        if not m:
            print("jsoncheck: bad condition %r" % c, file=sys.stderr)
            return 2
        path, op, want = m.groups()
        val, present = get(found, path)
        text = val if isinstance(val, str) else json.dumps(val)
        ok = {
            "=": present and text == want,
            "!=": not present or text != want,
            "~": present and re.search(want, text) is not None,
            ">": present and isinstance(val, (int, float)) and val > float(want),
            "?": present,
            "!?": not present,
        }[op]
        if not ok:
            bad.append("%s (got %s)" % (c, text if present else "nothing"))
    if bad:
        print("jsoncheck: %s: %s" % (check, "; ".join(bad)), file=sys.stderr)
        print("  " + json.dumps(found), file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
