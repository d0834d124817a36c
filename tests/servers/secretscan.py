#!/usr/bin/env python3
"""secretscan.py [--exclude PATH]... NAME=VALUE... -- PATH...

Looks for secrets in everything under PATH (files, recursively; sqlite
databases with their -wal and -journal files are read as bytes, so deleted
and unsaved pages count too). Each NAME=VALUE is one secret; it is looked
for as written, in hex, and in base64 (the three alignments, so that it is
found inside a longer base64 text as well). So a password inside SASL's AUTH PLAIN
or AUTH LOGIN text is found too. A VALUE that decodes as a Z85 key (40
characters) is also looked for as its 32 raw bytes, their hex and base64.

Prints one line per finding ("NAME in PATH at offset N as FORM") and exits
1 when there is any, 0 when there is none, 2 on usage errors. --exclude
names files that hold a secret on purpose (the key files themselves).
"""
import base64
import os
import sys

Z85 = ("0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
       ".-:+=^!/*?&<>()[]{}@%$#")


def z85_decode(text):
    if len(text) % 5 or any(c not in Z85 for c in text):
        return None
    out = bytearray()
    for i in range(0, len(text), 5):
        v = 0
        for c in text[i:i + 5]:
            v = v * 85 + Z85.index(c)
        if v >= 1 << 32:
            return None
        out += v.to_bytes(4, "big")
    return bytes(out)


def b64_forms(raw):
    """Base64 of raw at each of the three offsets it can start at inside a
    longer encoded text, minus the edge characters that depend on the
    neighbours."""
    forms = []
    for shift in range(3):
        enc = base64.b64encode(b"\0" * shift + raw)
        # Skip the characters that mix in the padding bytes, and the last
        # group, which depends on what follows.
        start = (shift * 8 + 5) // 6
        end = len(raw) + shift
        stop = (end * 8) // 6
        piece = enc[start:stop]
        if len(piece) >= 16:
            forms.append(piece)
    return forms


def needles(value):
    raw = value.encode()
    out = [(raw, "text"), (raw.hex().encode(), "hex"), (raw.hex().upper().encode(), "HEX")]
    out += [(f, "base64") for f in b64_forms(raw)]
    key = z85_decode(value) if len(value) == 40 else None
    if key is not None:
        out += [(key, "raw key bytes"), (key.hex().encode(), "key hex"),
                (key.hex().upper().encode(), "key HEX")]
        out += [(f, "key base64") for f in b64_forms(key)]
    return out


def main(argv):
    excludes, secrets, paths = set(), [], []
    i = 0
    while i < len(argv) and argv[i] != "--":
        if argv[i] == "--exclude":
            excludes.add(os.path.realpath(argv[i + 1]))
            i += 2
            continue
        name, sep, value = argv[i].partition("=")
        if not sep or not value:
            print("secretscan: expected NAME=VALUE, got %r" % argv[i], file=sys.stderr)
            return 2
        secrets.append((name, needles(value)))
        i += 1
    paths = argv[i + 1:]
    if not secrets or not paths:
        print(__doc__, file=sys.stderr)
        return 2
    files = []
    for p in paths:
        if os.path.isdir(p):
            for d, _, names in os.walk(p):
                files += [os.path.join(d, n) for n in sorted(names)]
        elif os.path.exists(p):
            files.append(p)
    found = 0
    scanned = 0
    for f in files:
        if os.path.realpath(f) in excludes or not os.path.isfile(f):
            continue
        try:
            with open(f, "rb") as fh:
                data = fh.read()
        except OSError:
            continue  # a file that went away while we walked
        scanned += 1
        for name, forms in secrets:
            for needle, form in forms:
                at = data.find(needle)
                if at >= 0:
                    print("%s in %s at offset %d as %s" % (name, f, at, form))
                    found += 1
    print("secretscan: %d files, %d secrets, %d findings" % (scanned, len(secrets), found),
          file=sys.stderr)
    return 1 if found else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
