#!/usr/bin/env python3
"""List the man page sources in this directory, one per line:
`SOURCE [ALIAS...]`, where the aliases of a section-3 page are the functions
its SYNOPSIS declares (installed as links, so `man bbo_token_parse` works).
Used by docs/man/meson.build and tests/packaging/man_check.sh.

    pages.py [DIR]
"""
import glob
import os
import re
import sys


def aliases(path, page):
    text = open(path, encoding="utf-8").read()
    m = re.search(r"^# SYNOPSIS\n(.*?)^# ", text, re.M | re.S)
    if not m or not page.endswith(".3"):
        return []
    names = re.findall(r"\b(bbo_[a-z0-9_]+)\s*\(", m.group(1))
    seen = []
    for n in names:
        if n + ".3" != page and n not in seen:
            seen.append(n)
    return seen


def main():
    here = sys.argv[1] if len(sys.argv) > 1 else os.path.dirname(os.path.abspath(__file__))
    for path in sorted(glob.glob(os.path.join(here, "*.scd"))):
        src = os.path.basename(path)
        print(" ".join([src] + aliases(path, src[:-4])))


if __name__ == "__main__":
    main()
