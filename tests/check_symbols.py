#!/usr/bin/env python3
"""Compare the dynamic symbols a shared library exports with a list kept in
the repository: a symbol added or lost by accident fails the test."""
import subprocess
import sys


def exported(lib):
    out = subprocess.run(["nm", "-D", "--defined-only", lib], check=True,
                         capture_output=True, text=True).stdout
    names = set()
    for line in out.splitlines():
        parts = line.split()
        if len(parts) < 3 or parts[1] == "A":   # version nodes like BBO_1
            continue
        names.add(parts[2].split("@")[0])
    return names


def main():
    lib, listing = sys.argv[1], sys.argv[2]
    have = exported(lib)
    with open(listing) as f:
        want = {l.strip() for l in f if l.strip() and not l.startswith("#")}
    ok = True
    for name in sorted(have - want):
        print(f"exported but not in {listing}: {name}")
        ok = False
    for name in sorted(want - have):
        print(f"listed but not exported: {name}")
        ok = False
    for name in sorted(have):
        if not name.startswith("bbo_"):
            print(f"exported symbol without the bbo_ prefix: {name}")
            ok = False
    print(f"{len(have)} exported symbols checked")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
