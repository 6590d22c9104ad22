#!/usr/bin/env python3
"""Compile every C snippet of the documentation: each fenced ```c block in
README.md and docs/*.md, and the EXAMPLE of each docs/man/*.3.scd page,
compiled alone (cc -c) against the public headers
with warnings as errors. A block right after a line `<!-- fragment -->`
(blank lines allowed between) is not a whole translation unit and is
skipped; the skipped ones are counted in the output. Prints TAP.

    doc_snippets.py SOURCE_ROOT BUILD_ROOT [CC]
"""
import glob
import os
import re
import subprocess
import sys
import tempfile

FENCE = re.compile(r"^```c\s*$")
FRAGMENT = "<!-- fragment -->"
CFLAGS = ["-std=c11", "-D_POSIX_C_SOURCE=200809L", "-Wall", "-Wextra",
          "-Wno-unused-parameter", "-Wno-unused-function", "-Werror"]


def snippets(path):
    """Yield (first line number, code, is_fragment) for each ```c block."""
    with open(path, encoding="utf-8") as f:
        lines = f.read().split("\n")
    i = 0
    while i < len(lines):
        if FENCE.match(lines[i]):
            j = i - 1
            while j >= 0 and not lines[j].strip():
                j -= 1
            fragment = j >= 0 and lines[j].strip() == FRAGMENT
            k = i + 1
            while k < len(lines) and not lines[k].startswith("```"):
                k += 1
            yield i + 2, "\n".join(lines[i + 1:k]) + "\n", fragment
            i = k
        i += 1


def man_examples(path):
    """Yield (first line number, code, False) for the ``` block of EXAMPLE."""
    with open(path, encoding="utf-8") as f:
        lines = f.read().split("\n")
    in_example = False
    for i, line in enumerate(lines):
        if line.startswith("# "):
            in_example = line.strip() == "# EXAMPLE"
        elif in_example and line.startswith("```"):
            k = i + 1
            while k < len(lines) and not lines[k].startswith("```"):
                k += 1
            # scdoc's literal blocks double each backslash
            code = "\n".join(lines[i + 1:k]).replace("\\\\", "\\")
            yield i + 2, code + "\n", False
            return


def main():
    root, build = sys.argv[1], sys.argv[2]
    cc = sys.argv[3] if len(sys.argv) > 3 else os.environ.get("CC", "cc")
    docs = [os.path.join(root, "README.md")] + sorted(glob.glob(os.path.join(root, "docs", "*.md")))
    docs += sorted(glob.glob(os.path.join(root, "docs", "man", "*.3.scd")))
    n = failed = skipped = 0
    with tempfile.TemporaryDirectory() as tmp:
        for doc in docs:
            rel = os.path.relpath(doc, root)
            found = man_examples(doc) if doc.endswith(".scd") else snippets(doc)
            for line, code, fragment in found:
                if fragment:
                    skipped += 1
                    print(f"# {rel}:{line}: a fragment, not compiled")
                    continue
                n += 1
                src = os.path.join(tmp, f"snippet{n}.c")
                with open(src, "w") as f:
                    f.write(f'#line {line} "{rel}"\n' + code)
                r = subprocess.run([cc, *CFLAGS, "-I", os.path.join(root, "include"),
                                    "-I", os.path.join(build, "include"),
                                    "-c", "-o", os.path.join(tmp, f"snippet{n}.o"), src],
                                   capture_output=True, text=True)
                if r.returncode == 0:
                    print(f"ok {n} - {rel}:{line} compiles")
                else:
                    failed += 1
                    print(f"not ok {n} - {rel}:{line} compiles")
                    for out in (r.stdout + r.stderr).splitlines():
                        print("# " + out)
    print(f"# {n} snippets compiled, {skipped} fragments skipped")
    print(f"1..{n}")
    return 1 if failed or n == 0 else 0


if __name__ == "__main__":
    sys.exit(main())
