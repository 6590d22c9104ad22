#!/usr/bin/env python3
"""Count test results from meson's testlog.json files and print one line
`N passed, N failed` (', N skipped' when any were skipped).

A TAP test (every cmocka suite) counts each of its test cases; any other
test counts once. A TAP test that crashed or failed without a 'not ok'
line still counts as one failure, so a dead binary is never a pass."""
import json
import re
import sys

TAP_RESULT = re.compile(r"^(not ok|ok)\b(.*)$")


def count(path):
    passed = failed = skipped = 0
    with open(path) as f:
        for line in f:
            entry = json.loads(line)
            result = entry["result"]
            oks = nots = skips = 0
            for out_line in (entry.get("stdout") or "").splitlines():
                m = TAP_RESULT.match(out_line.strip())
                if not m:
                    continue
                if "# SKIP" in m.group(2).upper():
                    skips += 1
                elif m.group(1) == "ok":
                    oks += 1
                else:
                    nots += 1
            if oks or nots or skips:
                passed += oks
                skipped += skips
                failed += nots
                if result not in ("OK", "SKIP") and nots == 0:
                    failed += 1
            elif result == "OK":
                passed += 1
            elif result == "SKIP":
                skipped += 1
            else:
                failed += 1
    return passed, failed, skipped


def main():
    passed = failed = skipped = 0
    for path in sys.argv[1:]:
        try:
            p, f, s = count(path)
        except OSError as e:  # the build failed before any test ran
            print(f"no test log: {e}", file=sys.stderr)
            p, f, s = 0, 1, 0
        passed, failed, skipped = passed + p, failed + f, skipped + s
    line = f"{passed} passed, {failed} failed"
    if skipped:
        line += f", {skipped} skipped"
    print(line)
    return 0 if failed == 0 and passed > 0 else 1


if __name__ == "__main__":
    sys.exit(main())
