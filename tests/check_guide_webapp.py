"""docs/guide.md shows the handler pair of examples/webapp.c: check that
the block after the marker is the file's text from `#include <bboauth.h>`
up to the demo, byte for byte, so the guide shows code a test compiles and
runs. Usage: check_guide_webapp.py GUIDE EXAMPLE"""
import sys

MARKER = "<!-- examples/webapp.c handlers"
DEMO = "/* ------------------------------------------------------------------ */\n/* The demo"


def main():
    guide = open(sys.argv[1], encoding="utf-8").read()
    example = open(sys.argv[2], encoding="utf-8").read()
    at = guide.find(MARKER)
    if at < 0:
        print("guide: marker not found")
        return 1
    start = guide.index("```c\n", at) + len("```c\n")
    block = guide[start:guide.index("```\n", start)]
    begin = example.index("#include <bboauth.h>")
    code = example[begin:example.index(DEMO)].rstrip() + "\n"
    if block != code:
        for n, (a, b) in enumerate(zip(block.splitlines(), code.splitlines()), 1):
            if a != b:
                print(f"line {n} of the block differs:\n  guide:   {a}\n  example: {b}")
                break
        else:
            print("the block and the example differ in length")
        return 1
    print("guide block == examples/webapp.c handlers")
    return 0


sys.exit(main())
