#!/usr/bin/env python3
"""A stand-in browser that first writes down what it was given.

BROWSER=tests/tools/recording_browser.py: records its argv and environment
(JSON) in $TOOLS_TEST_BROWSER_RECORD, then behaves as tests/mock/fake_browser.py
(visits the URL, follows the mock's redirect to the loopback receiver).
The tests check that no secret reached the browser."""
import json
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
os.dup2(2, 1)  # its progress lines are not the program's results
record = os.environ.get("TOOLS_TEST_BROWSER_RECORD")
if record:
    with open(record, "w", encoding="utf-8") as f:
        json.dump({"argv": sys.argv, "env": dict(os.environ)}, f)
sys.path.insert(0, os.path.join(HERE, "..", "mock"))
sys.dont_write_bytecode = True
import fake_browser  # noqa: E402

sys.exit(fake_browser.main())
