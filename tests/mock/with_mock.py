#!/usr/bin/python3
"""Run a command against a fresh bbmock server.

    with_mock.py [--dir DIR] -- CMD [ARGS...]

Starts bbmock.py (certificates in a temporary directory, removed at the end,
or in DIR, kept), waits for it to be ready, runs CMD with the BBMOCK_*
environment variables below, stops the mock and exits with CMD's status
(128 + N if CMD was killed by signal N). SIGTERM, SIGINT and SIGHUP are
forwarded to CMD.

    BBMOCK_BASE        https://127.0.0.1:PORT (certificate valid for it)
    BBMOCK_PORT        that PORT
    BBMOCK_WRONG_PORT  HTTPS port whose certificate names wronghost.invalid
    BBMOCK_PLAIN_PORT  plain HTTP port, same endpoints
    BBMOCK_CONTROL     http://127.0.0.1:CONTROL_PORT (control API)
    BBMOCK_CA          path of the CA certificate (PEM) to trust
    BBMOCK_KEY         the default consumer's key
    BBMOCK_SECRET      the default consumer's secret

When BBO_TEST_WRAPPER is set (for example "valgrind --error-exitcode=99
..."), it is put before CMD if CMD is a compiled program (an ELF file) under
the directory BBO_TEST_WRAP_ROOT (the build directory; tests/valgrind.sh
sets both): the test's own C program runs under valgrind, an interpreter
(python3, bash) never does.

start_mock() and stop_mock() are also used by selftest.py.
"""

import argparse
import json
import os
import selectors
import shlex
import shutil
import signal
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.dont_write_bytecode = True   # no __pycache__ in the source tree
from bbmock import DEFAULT_KEY, DEFAULT_SECRET  # noqa: E402 (needs the path)

READY_TIMEOUT = 30      # seconds
STOP_GRACE = 5          # seconds between SIGTERM and SIGKILL
FORWARDED = (signal.SIGTERM, signal.SIGINT, signal.SIGHUP)


class MockError(Exception):
    pass


def start_mock(directory, stderr=None):
    """Start bbmock with its files in `directory`; return (process, ready info).

    Its log goes to `stderr` (a file object; default: ours).
    """
    process = subprocess.Popen(
        [sys.executable, os.path.join(HERE, "bbmock.py"), "--dir", directory],
        stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=stderr)
    try:
        return process, json.loads(_ready_line(process))
    except BaseException:
        stop_mock(process)
        raise


def _ready_line(process):
    """The first line bbmock prints, read without blocking past the deadline."""
    deadline = time.monotonic() + READY_TIMEOUT
    fd = process.stdout.fileno()
    received = b""
    with selectors.DefaultSelector() as selector:
        selector.register(fd, selectors.EVENT_READ)
        while b"\n" not in received:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise MockError(f"bbmock was not ready after {READY_TIMEOUT} s")
            if selector.select(remaining):
                chunk = os.read(fd, 4096)
                if not chunk:
                    raise MockError(f"bbmock exited (status {process.wait()}) before "
                                    "it was ready; its messages are above")
                received += chunk
    return received.split(b"\n", 1)[0]


def stop_mock(process):
    """SIGTERM, then SIGKILL if it is still there after STOP_GRACE seconds."""
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(STOP_GRACE)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
    process.stdout.close()


def mock_environment(info):
    return {
        "BBMOCK_BASE": info["base"],
        "BBMOCK_PORT": str(info["port"]),
        "BBMOCK_WRONG_PORT": str(info["wrong_port"]),
        "BBMOCK_PLAIN_PORT": str(info["plain_port"]),
        "BBMOCK_CONTROL": f"http://127.0.0.1:{info['control_port']}",
        "BBMOCK_CA": info["ca"],
        "BBMOCK_KEY": DEFAULT_KEY,
        "BBMOCK_SECRET": DEFAULT_SECRET,
    }


def wrapped(command):
    """command, with BBO_TEST_WRAPPER before it when it is our C program."""
    wrapper = shlex.split(os.environ.get("BBO_TEST_WRAPPER", ""))
    root = os.path.realpath(os.environ.get("BBO_TEST_WRAP_ROOT", os.getcwd()))
    real = os.path.realpath(shutil.which(command[0]) or command[0])
    if not wrapper or not real.startswith(root + os.sep):
        return command
    try:
        with open(real, "rb") as f:
            if f.read(4) != b"\x7fELF":
                return command
    except OSError:
        return command
    return wrapper + command


class Forwarder:
    """Signal handler: passes signals on to the command once it runs.

    Installed before anything starts, so that a signal arriving early still
    lets the finally clauses stop the mock instead of orphaning it.
    """

    def __init__(self):
        self.child = None
        self.received = None

    def __call__(self, signum, _frame):
        self.received = signum
        if self.child is not None:
            self.child.send_signal(signum)


def main(argv):
    if "--" not in argv:
        print("usage: with_mock.py [--dir DIR] -- CMD [ARGS...]", file=sys.stderr)
        return 2
    split = argv.index("--")
    parser = argparse.ArgumentParser(prog="with_mock.py")
    parser.add_argument("--dir", help="keep the mock's files here (default: "
                        "a temporary directory, removed at the end)")
    args = parser.parse_args(argv[:split])
    command = argv[split + 1:]
    if not command:
        parser.error("no command after --")

    forwarder = Forwarder()
    for signum in FORWARDED:
        signal.signal(signum, forwarder)

    if args.dir:
        directory = os.path.abspath(args.dir)
        os.makedirs(directory, exist_ok=True)
    else:
        directory = tempfile.mkdtemp(prefix="bbmock-")
    try:
        process, info = start_mock(directory)
        try:
            if forwarder.received is not None:
                return 128 + forwarder.received
            try:
                forwarder.child = subprocess.Popen(
                    wrapped(command), env={**os.environ, **mock_environment(info)})
            except OSError as e:
                print(f"with_mock.py: cannot run {command[0]}: {e}", file=sys.stderr)
                return 127
            status = forwarder.child.wait()
            return status if status >= 0 else 128 - status
        finally:
            stop_mock(process)
    except MockError as e:
        print(f"with_mock.py: {e}", file=sys.stderr)
        return 1
    finally:
        if not args.dir:
            shutil.rmtree(directory, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
