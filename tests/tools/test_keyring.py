#!/usr/bin/env python3
"""bbo's desktop keyring store (libsecret) under a private session bus.

    with_mock.py -- test_keyring.py BBO GIT_CREDENTIAL_BBOAUTH BUILT_WITH_KEYRING

Runs itself again inside `dbus-run-session` with a `gnome-keyring-daemon`
of its own (a throwaway keyring in a temporary HOME, unlocked with a fixed
password). Skipped, with a TAP SKIP line, when bbo was built without
libsecret or those programs are missing. TAP on stdout.
"""
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.request

HANG_GUARD = 120
HERE = os.path.dirname(os.path.abspath(__file__))
count = failed = 0


def ok(cond, name, why=""):
    global count, failed
    count += 1
    failed += 0 if cond else 1
    print(f"{'ok' if cond else 'not ok'} {count} - {name}", flush=True)
    if not cond and why:
        secret = os.environ.get("BBMOCK_SECRET", "")
        for line in str(why).splitlines()[-12:]:
            line = line.replace(secret, "<secret>") if secret else line
            line = re.sub(r"[A-Za-z0-9_.~+/-]{40,}=*", "<token?>", line)
            print("#   " + line, flush=True)


def refreshes():
    with urllib.request.urlopen(os.environ["BBMOCK_CONTROL"] + "/stats", timeout=30) as r:
        return json.loads(r.read())["grants"]["refresh_token"]


def run(env, *args, input=None):
    return subprocess.run(list(args), env=env, input=input, capture_output=True, text=True,
                          timeout=HANG_GUARD, stdin=None if input is not None else
                          subprocess.DEVNULL)


def inside(bbo, helper, home):
    """Under dbus-run-session: start the keyring, then the checks."""
    env = {k: v for k, v in os.environ.items()
           if k not in ("BBMOCK_SECRET", "XDG_CONFIG_HOME", "XDG_STATE_HOME", "DISPLAY")}
    env.update(HOME=home, XDG_DATA_HOME=os.path.join(home, "data"), LC_ALL="C",
               BROWSER=os.path.join(HERE, "..", "mock", "fake_browser.py"))
    secret = os.environ["BBMOCK_SECRET"]
    daemon = subprocess.Popen(["gnome-keyring-daemon", "--foreground", "--unlock",
                               "--components=secrets"], env=env, stdin=subprocess.PIPE,
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    daemon.stdin.write(b"test-keyring-password")
    daemon.stdin.close()
    try:
        deadline = time.monotonic() + HANG_GUARD
        while time.monotonic() < deadline:
            r = run(env, "dbus-send", "--session", "--print-reply", "--dest=org.freedesktop.DBus",
                    "/", "org.freedesktop.DBus.NameHasOwner", "string:org.freedesktop.secrets")
            if "boolean true" in r.stdout:
                break
            time.sleep(0.1)
        checks(bbo, helper, env, home, secret)
    finally:
        daemon.terminate()
        daemon.wait()


def checks(bbo, helper, env, home, secret):
    login_env = dict(env, BBO_CONSUMER_KEY=os.environ["BBMOCK_KEY"], BBO_CONSUMER_SECRET=secret)
    base, ca = os.environ["BBMOCK_BASE"], os.environ["BBMOCK_CA"]
    r = run(login_env, bbo, "login", "--bitbucket", base, "--ca-file", ca)
    ok(r.returncode == 0 and "desktop keyring" in r.stdout and "notice" not in r.stderr,
       "bbo login picks the running desktop keyring by itself", r.stdout + r.stderr)
    r = run(env, bbo, "status", "--json")
    prof = json.loads(r.stdout)["profiles"][0] if r.returncode == 0 else {}
    ok(prof.get("store", {}).get("kind") == "keyring" and prof.get("refresh_token") is True,
       "status: the token is in the keyring", r.stdout + r.stderr)
    state = os.path.join(home, ".local", "state", "bboauth")
    names = sorted(os.listdir(state)) if os.path.isdir(state) else []
    ok(names == ["default.lock"], "no token or secret file in the state folder", names)
    r = run(env, bbo, "token")
    token = r.stdout.strip()
    ok(r.returncode == 0 and len(token) > 100, "bbo token from the keyring", r.stderr)
    leaks = []
    for root, _, files in os.walk(home):
        for n in files:
            if not os.path.isfile(os.path.join(root, n)):
                continue  # the keyring's sockets
            with open(os.path.join(root, n), "rb") as f:
                data = f.read()
            if secret.encode() in data or token.encode() in data:
                leaks.append(n)
    ok(not leaks, "neither secret nor token in plain text in any file", leaks)
    before = refreshes()
    r = run(env, bbo, "token", "--refresh")
    ok(r.returncode == 0 and r.stdout.strip() != token and refreshes() == before + 1,
       "a refresh saves the rotated token in the keyring (no secret given)", r.stderr)
    r = run(env, bbo, "token")
    ok(r.returncode == 0 and refreshes() == before + 1, "the next run reads the new token",
       r.stderr)
    r = run(env, helper, "get", input="protocol=https\nhost=127.0.0.1:%s\n\n"
            % os.environ["BBMOCK_PORT"])
    ok("username=x-token-auth" in r.stdout, "git-credential-bboauth get from the keyring",
       r.stderr)
    r = run(env, bbo, "logout")
    ok(r.returncode == 0, "bbo logout", r.stderr)
    r = run(env, bbo, "token")
    ok(r.returncode == 3, "after logout the keyring holds nothing: exit 3", r.stderr)
    nobus = {k: v for k, v in login_env.items() if k != "DBUS_SESSION_BUS_ADDRESS"}
    r = run(nobus, bbo, "login", "--profile", "nobus", "--store", "keyring", "--bitbucket", base,
            "--ca-file", ca)
    ok(r.returncode == 0 and "notice" in r.stderr and "encrypted file" in r.stdout,
       "--store keyring without a session bus: a notice, then the encrypted file",
       r.stdout + r.stderr)


def main():
    if len(sys.argv) == 6 and sys.argv[1] == "--inside":
        inside(*sys.argv[2:5])
        print(f"1..{count}")
        return 1 if failed else 0
    bbo, helper, built = sys.argv[1:4]
    missing = [p for p in ("dbus-run-session", "gnome-keyring-daemon", "dbus-send")
               if not shutil.which(p)]
    if built != "true" or missing:
        why = "bbo was built without libsecret" if built != "true" else \
            "missing " + ", ".join(missing)
        print(f"ok 1 - keyring store # SKIP {why}")
        print("1..1")
        return 0
    home = tempfile.mkdtemp(prefix="bbo-keyring-")
    try:
        r = subprocess.run(["dbus-run-session", "--", sys.executable, os.path.abspath(__file__),
                            "--inside", os.path.abspath(bbo), os.path.abspath(helper), home,
                            "x"], stdin=subprocess.DEVNULL, stdout=sys.stdout,
                           timeout=HANG_GUARD * 5)
        return r.returncode
    finally:
        shutil.rmtree(home, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
