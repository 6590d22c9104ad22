#!/usr/bin/env python3
"""bbo and git-credential-bboauth against the mock Bitbucket, with real git.

    with_mock.py -- test_tools.py BBO GIT_CREDENTIAL_BBOAUTH

TAP on stdout. Every test runs the installed-to-be programs as a person or a
script would: in a fresh HOME (XDG folders under it), no desktop session
bus (so the encrypted file store is used), a stand-in browser that records
what it was given. Secrets (the consumer secret, tokens) never appear in
this test's output: only their absence is checked.
"""
import contextlib
import json
import os
import re
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import tempfile
import time
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
BBO, HELPER = (os.path.abspath(p) for p in sys.argv[1:3])
BASE, CA = os.environ["BBMOCK_BASE"], os.environ["BBMOCK_CA"]
CONTROL = os.environ["BBMOCK_CONTROL"]
KEY, SECRET = os.environ["BBMOCK_KEY"], os.environ["BBMOCK_SECRET"]
MOCK_HOST = "127.0.0.1:" + os.environ["BBMOCK_PORT"]
HANG_GUARD = 120  # seconds: only so that a hang ends the run; never a timing check

count = 0
failed = 0


def ok(cond, name, why=""):
    global count, failed
    count += 1
    if not cond:
        failed += 1
    print(f"{'ok' if cond else 'not ok'} {count} - {name}", flush=True)
    if not cond and why:
        for line in str(why).splitlines()[-15:]:
            print(f"#   {scrub(line)}", flush=True)
    return cond


SECRETS = [SECRET]


TOKEN_LIKE = re.compile(r"[A-Za-z0-9_.~+/-]{40,}=*")


def scrub(text):
    """Diagnostics never show a secret, nor anything that looks like a token."""
    for s in SECRETS:
        if s:
            text = text.replace(s, "<secret>")
    return TOKEN_LIKE.sub("<token?>", text)


def control(path, payload=None):
    data = None if payload is None else json.dumps(payload).encode()
    req = urllib.request.Request(CONTROL + path, data=data,
                                 method="GET" if data is None else "POST")
    with urllib.request.urlopen(req, timeout=30) as r:
        return json.loads(r.read() or b"{}")


@contextlib.contextmanager
def consumer_scopes(scopes):
    """The mock's consumer with other permissions, for a while."""
    control("/config", {"consumer": {"scopes": scopes}})
    try:
        yield
    finally:
        control("/config", {"consumer": {"scopes": "account pullrequest:write repository:write"}})


def refreshes():
    s = control("/stats")
    return s["grants"]["refresh_token"], s["refresh_replays"]


class Home:
    """A person's fresh account: HOME, XDG folders, no desktop bus."""

    def __init__(self):
        self.dir = tempfile.mkdtemp(prefix="bbo-tools-")
        self.record = os.path.join(self.dir, "browser.json")
        env = {k: v for k, v in os.environ.items()
               if k not in ("DBUS_SESSION_BUS_ADDRESS", "DISPLAY", "WAYLAND_DISPLAY",
                            "XDG_CONFIG_HOME", "XDG_STATE_HOME", "BBO_CONSUMER_KEY",
                            "BBO_CONSUMER_SECRET", "BBO_PROFILE", "BBO_CA_FILE",
                            "GIT_ASKPASS", "SSH_ASKPASS", "BBMOCK_SECRET")}
        env.update({
            "HOME": self.dir,
            "BROWSER": os.path.join(HERE, "recording_browser.py"),
            "TOOLS_TEST_BROWSER_RECORD": self.record,
            "PATH": os.path.dirname(HELPER) + os.pathsep + env.get("PATH", "/usr/bin:/bin"),
            "GIT_TERMINAL_PROMPT": "0",
            "GIT_CONFIG_NOSYSTEM": "1",
            "LC_ALL": "C",
        })
        self.env = env

    def run(self, *args, env=None, stdin=subprocess.DEVNULL, input=None):
        e = dict(self.env)
        e.update(env or {})
        if input is not None:
            stdin = None
        return subprocess.run(list(args), env=e, input=input, stdin=stdin,
                              capture_output=True, text=True, timeout=HANG_GUARD)

    def bbo(self, *args, **kw):
        return self.run(BBO, *args, **kw)

    def login(self, *args, **kw):
        env = {"BBO_CONSUMER_KEY": KEY, "BBO_CONSUMER_SECRET": SECRET}
        env.update(kw.pop("env", {}))
        return self.bbo("login", "--bitbucket", BASE, "--ca-file", CA, *args, env=env, **kw)

    def files(self):
        """(path, bytes) of every file under HOME."""
        for root, _, names in os.walk(self.dir):
            for n in names:
                p = os.path.join(root, n)
                if os.path.isfile(p) and not os.path.islink(p):
                    with open(p, "rb") as f:
                        yield p, f.read()

    def close(self):
        shutil.rmtree(self.dir, ignore_errors=True)


def both(r):
    return (r.stdout or "") + (r.stderr or "")


def credential(home, action, fields, *helper_args):
    text = "".join(f"{k}={v}\n" for k, v in fields) + "\n"
    return home.run(HELPER, *helper_args, action, input=text)


def parse_credential(text):
    out = {}
    for line in text.splitlines():
        k, _, v = line.partition("=")
        out.setdefault(k, v)
    return out


# ------------------------------------------------------------ command line

def test_usage(home):
    r = home.bbo("--version")
    ok(r.returncode == 0 and r.stdout.startswith("bbo "), "bbo --version", both(r))
    r = home.run(HELPER, "--version")
    ok(r.returncode == 0 and r.stdout.startswith("git-credential-bboauth "),
       "git-credential-bboauth --version", both(r))
    for cmd in ("login", "status", "token", "api", "logout"):
        r = home.bbo(cmd, "--help")
        ok(r.returncode == 0 and r.stdout.startswith(f"usage: bbo {cmd}"),
           f"bbo {cmd} --help", both(r))
    r = home.bbo("frobnicate")
    ok(r.returncode == 2 and "unknown command" in r.stderr, "unknown command: exit 2", both(r))
    r = home.bbo("status", "--frob")
    ok(r.returncode == 2 and "unknown option --frob" in r.stderr, "unknown option: exit 2",
       both(r))
    for bad in (["--port", "65536"], ["--port", "12x"], ["--port", "-1"], ["--timeout", "0"],
                ["--store", "cloud"], ["--data-center", "ftp://x"]):
        r = home.login(*bad)
        ok(r.returncode == 2, f"bbo login {' '.join(bad)}: refused with exit 2", both(r))
    r = home.bbo("api")
    ok(r.returncode == 2 and "PATH" in r.stderr, "bbo api without PATH: exit 2", both(r))
    r = home.bbo("token")
    ok(r.returncode == 3 and "run `bbo login`" in r.stderr,
       "bbo token before any login: exit 3 and says to run bbo login", both(r))
    r = home.bbo("status")
    ok(r.returncode == 3 and "bbo login" in r.stdout, "bbo status without profiles: exit 3",
       both(r))


def test_secret_on_argv(home):
    r = home.bbo("login", "--bitbucket", BASE, "--key", KEY, "--secret", SECRET)
    ok(r.returncode == 2 and "--secret-file" in r.stderr and "BBO_CONSUMER_SECRET" in r.stderr,
       "--secret SECRET is refused with an explanation", both(r))
    r = home.bbo("login", "--bitbucket", BASE, "--key", KEY, "--secret=" + SECRET)
    ok(r.returncode == 2, "--secret=SECRET is refused too", both(r))
    ok(not os.path.exists(os.path.join(home.dir, ".local", "state", "bboauth")),
       "a refused login leaves nothing behind")


# ------------------------------------------------------------ login and friends

def test_login_status_token_api(home):
    r = home.login("--scopes", "account repository:write")
    ok(r.returncode == 0 and "as bbo-tester" in r.stdout, "bbo login (browser, loopback)",
       both(r))
    ok("[1/4]" in r.stderr and "    http://127.0.0.1:" in r.stderr
       and "as bbo-tester" not in r.stderr,
       "progress and the (one-time local) URL on stderr, the result on stdout", both(r))
    ok("scopes:" in r.stdout and "account" in r.stdout, "login says which scopes", r.stdout)

    with open(home.record, encoding="utf-8") as f:
        seen = json.load(f)
    leaked = [k for k, v in seen["env"].items() if SECRET in v] + \
             [a for a in seen["argv"] if SECRET in a]
    ok(not leaked and "BBO_CONSUMER_SECRET" not in seen["env"],
       "the consumer secret in the environment is not inherited by the browser",
       f"leaked in {leaked}")
    argv = " ".join(seen["argv"][1:])
    ok(argv.startswith("http://127.0.0.1:") and "state=" not in argv and "code_challenge"
       not in argv and BASE not in argv,
       "the browser's command line holds a one-time local URL, not the authorization URL",
       argv[:80])

    r = home.bbo("status", "--json")
    try:
        data = json.loads(r.stdout)
        prof = data["profiles"][0]
    except (ValueError, KeyError, IndexError) as e:
        ok(False, "bbo status --json is JSON", f"{e}: {both(r)}")
        return
    ok(r.returncode == 0, "bbo status --json: exit 0", both(r))
    ok(prof["name"] == "default" and prof["user"] == "bbo-tester" and prof["logged_in"],
       "status: profile, user, logged in", r.stdout)
    ok(prof["git_host"] == MOCK_HOST and prof["host"] == MOCK_HOST
       and prof["bitbucket"] == BASE and prof["api"] == BASE + "/2.0",
       "status: server, API and git host", r.stdout)
    ok(set(prof["scopes"]) >= {"account", "repository:write"},
       "status: scopes as a list", r.stdout)
    ok(prof["refresh_token"] is True and prof["access_token"]["expires_in"] > 0
       and not prof["access_token"]["expired"], "status: expiry and refresh token", r.stdout)
    ok(prof["store"]["kind"] == "file" and prof["store"]["encrypted"]
       and os.path.exists(prof["store"]["path"]), "status: store path and encryption",
       r.stdout)
    before = control("/stats")["api_requests"]
    r = home.bbo("status")
    ok(r.returncode == 0 and "bbo-tester" in r.stdout and "AES-256-GCM" in r.stdout
       and control("/stats")["api_requests"] == before, "bbo status: no network", both(r))
    r = home.bbo("status", "--check", "--json")
    ok(r.returncode == 0 and json.loads(r.stdout)["profiles"][0]["check"]["user"] ==
       "bbo-tester" and control("/stats")["api_requests"] == before + 1,
       "bbo status --check asks Bitbucket once", both(r))

    r = home.bbo("token")
    token = r.stdout.strip()
    SECRETS.append(token)
    ok(r.returncode == 0 and r.stdout.count("\n") == 1 and len(token) > 100 and not r.stderr,
       "bbo token prints the token and nothing else", both(r))
    req = urllib.request.Request(BASE + "/2.0/user", headers={"Authorization": "Bearer " + token})
    with urllib.request.urlopen(req, context=ssl.create_default_context(cafile=CA)) as a:
        ok(a.status == 200, "the token works on the API")

    r = home.bbo("api", "/user")
    ok(r.returncode == 0 and json.loads(r.stdout)["username"] == "bbo-tester",
       "bbo api /user", both(r))
    r = home.bbo("api", "user")
    ok(r.returncode == 0 and json.loads(r.stdout)["username"] == "bbo-tester",
       "bbo api user (relative)", both(r))
    r = home.bbo("api", "-X", "GET", "-f", "pagelen=5", "/repositories/bbo-tester")
    ok(r.returncode == 0 and len(json.loads(r.stdout)["values"]) == 5,
       "bbo api -X GET -f pagelen=5 puts the field in the query", both(r))
    r = home.bbo("api", "--paginate", "-X", "GET", "-f", "pagelen=10",
                 "/repositories/bbo-tester")
    values = json.loads(r.stdout) if r.returncode == 0 else []
    ok(len(values) == 25 and len({v["slug"] for v in values}) == 25,
       "bbo api --paginate concatenates every page's values", both(r)[:500])
    r = home.bbo("api", "/nothing/here")
    ok(r.returncode == 1 and "HTTP 404" in r.stderr and "not found" in r.stderr.lower()
       and json.loads(r.stdout)["type"] == "error",
       "bbo api: HTTP status and Bitbucket's message on failure", both(r))
    body = os.path.join(home.dir, "body.json")
    with open(body, "w", encoding="utf-8") as f:
        f.write('{"content": {"raw": "hi"}}')
    r = home.bbo("api", "--input", body, "/repositories/bbo-tester/x/pullrequests/1/comments")
    # the mock's comment endpoint needs pullrequest:write, which this login
    # lacks: the server's 403 comes back as the scope exit code, named
    ok((r.returncode == 1 and "HTTP 4" in r.stderr) or
       (r.returncode == 6 and "pullrequest:write" in r.stderr),
       "bbo api --input: the body goes out, the server's refusal comes back", both(r))
    r = home.bbo("api", "--paginate", "-X", "POST", "/user")
    ok(r.returncode == 2, "bbo api --paginate with POST: usage error", both(r))

    # the scope check: a token without `account` cannot call /user
    with consumer_scopes("repository"):
        r = home.login("--profile", "narrow", "--scopes", "repository")
        ok(r.returncode == 6 and "Permissions" in r.stderr,
           "login whose grant lacks `account`: exit 6 and where to add it", both(r))
    home.bbo("logout", "--profile", "narrow", "--forget")
    with consumer_scopes("account"):
        r = home.login("--profile", "acct", "--scopes", "account")
        ok(r.returncode == 0, "login with `account` only", both(r))
        r = home.bbo("api", "--profile", "acct", "/repositories/bbo-tester")
        ok(r.returncode == 6 and "repository" in r.stderr,
           "bbo api without the scope a call needs: exit 6, names the scope", both(r))
    home.bbo("logout", "--profile", "acct", "--forget")

    # nothing secret in plain text on disk
    plain = [p for p, data in home.files()
             if SECRET.encode() in data or token.encode() in data]
    ok(not plain, "no file holds the consumer secret or the token in plain text", plain)
    conf = os.path.join(home.dir, ".config", "bboauth", "default.conf")
    state = os.path.join(home.dir, ".local", "state", "bboauth")
    ok(os.stat(state).st_mode & 0o777 == 0o700 and
       os.stat(os.path.dirname(conf)).st_mode & 0o777 == 0o700 and
       os.stat(os.path.join(state, "key")).st_mode & 0o777 == 0o600,
       "state and config folders 0700, key file 0600")


def test_secret_sources(home):
    sfile = os.path.join(home.dir, "secret.txt")
    with open(sfile, "w", encoding="utf-8") as f:
        f.write(SECRET + "\n")
    os.chmod(sfile, 0o600)
    if os.path.exists(home.record):
        os.unlink(home.record)
    r = home.bbo("login", "--profile", "fromfile", "--bitbucket", BASE, "--ca-file", CA,
                 "--key", KEY, "--secret-file", sfile,
                 env={"BBO_CONSUMER_SECRET": "another-secret-in-the-environment"})
    ok(r.returncode == 0, "login with --secret-file", both(r))
    with open(home.record, encoding="utf-8") as f:
        seen = json.load(f)["env"]
    ok("BBO_CONSUMER_SECRET" not in seen and
       not any("another-secret-in" in v for v in seen.values()),
       "with --secret-file too, BBO_CONSUMER_SECRET does not reach the browser")
    r = home.bbo("login", "--profile", "fromstdin", "--bitbucket", BASE, "--ca-file", CA,
                 "--key", KEY, input=SECRET + "\n")
    ok(r.returncode == 0, "login with the secret on standard input", both(r))
    r = home.bbo("login", "--profile", "nosecret", "--bitbucket", BASE, "--key", KEY)
    ok(r.returncode == 2 and "no consumer secret" in r.stderr,
       "login without any secret: exit 2, says where to give it", both(r))
    r = home.bbo("login", "--profile", "badsecret", "--bitbucket", BASE, "--ca-file", CA,
                 "--key", KEY, input="wrong-secret\n")
    ok(r.returncode == 5, "a wrong consumer secret: exit 5 (denied)", both(r))
    r = home.bbo("token", "--profile", "fromstdin")
    ok(r.returncode == 0 and len(r.stdout.strip()) > 100,
       "a later command refreshes without being given the secret", both(r))
    os.unlink(os.path.join(home.dir, ".local", "state", "bboauth", "key"))
    r = home.bbo("token", "--profile", "fromstdin")
    ok(r.returncode == 1 and "key file" in r.stderr and not r.stdout,
       "without its key file the store is refused, with a sentence", both(r))
    r = home.login("--profile", "fromstdin")
    ok(r.returncode == 0, "a new login over a store it cannot read replaces it", both(r))
    r = home.bbo("token", "--profile", "fromstdin")
    ok(r.returncode == 0 and len(r.stdout.strip()) > 100, "and the login works again",
       r.stderr)
    r = home.bbo("token")
    ok(r.returncode == 1, "other profiles of the lost key say so (log in again)", r.stderr)
    home.login()
    for name in ("fromfile", "fromstdin", "badsecret"):
        home.bbo("logout", "--profile", name, "--forget")


def test_login_failures(home):
    control("/config", {"deny": True})
    try:
        r = home.login("--profile", "denied")
    finally:
        control("/config", {"deny": False})
    ok(r.returncode == 5 and "denied" in r.stderr.lower(),
       "the person denies access: exit 5", both(r))
    r = home.login("--profile", "slow", "--timeout", "1", env={"BROWSER": "/bin/true"})
    ok(r.returncode == 1 and "no browser came back within 1 s" in r.stderr,
       "no redirect in time: says what to do", both(r))
    for name in ("denied", "slow"):
        home.bbo("logout", "--profile", name, "--forget")


def test_single_flight(home):
    """Processes needing a refresh of one grant at once: one refresh in all."""
    # a 4-second token is due at half its life (a token's margin is at most
    # half its lifetime): 2 s after it came, and still valid for a while
    control("/config", {"access_ttl": 4})
    r = home.bbo("token", "--refresh")
    control("/config", {"access_ttl": 7200})
    time.sleep(2)
    ok(r.returncode == 0, "a token that is due", both(r))
    before, _ = refreshes()
    env = dict(home.env)
    procs = [subprocess.Popen([BBO, "token"], env=env, stdin=subprocess.DEVNULL,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
             for _ in range(4)]
    outs = [p.communicate(timeout=HANG_GUARD) for p in procs]
    after, replays = refreshes()
    tokens = {o[0] for o in outs}
    SECRETS.extend(tokens)
    # the one that takes the store's lock refreshes; one that finds it taken
    # while the old token is still valid prints that one (no waiting)
    r = home.bbo("token")
    SECRETS.append(r.stdout)
    ok(all(p.returncode == 0 for p in procs) and len(tokens) <= 2 and r.stdout in tokens
       and after == before + 1 and replays == 0,
       "four bbo token processes at once: one refresh, no replay, the new token or the "
       "still valid old one", f"refreshes {after - before}, replays {replays}, "
       f"tokens {len(tokens)}, {[o[1] for o in outs]}")


def test_other_servers(home):
    """Data Center, a plain-http Cloud-shaped server on this machine, short-lived tokens."""
    r = home.bbo("login", "--profile", "dc", "--data-center", BASE, "--ca-file", CA,
                 "--scopes", "REPO_WRITE", env={"BBO_CONSUMER_KEY": KEY,
                                                "BBO_CONSUMER_SECRET": SECRET})
    ok(r.returncode == 0 and "Bitbucket Data Center" in r.stdout and "bbo-tester" in r.stdout,
       "bbo login --data-center", both(r))
    r = home.bbo("status", "--profile", "dc", "--json")
    prof = json.loads(r.stdout)["profiles"][0] if r.stdout else {}
    ok(prof.get("kind") == "data-center" and prof.get("api") == BASE + "/rest/api/latest"
       and prof.get("git_host") == MOCK_HOST and "REPO_WRITE" in prof.get("scopes", []),
       "status of a Data Center profile", r.stdout)
    r = home.bbo("api", "--profile", "dc", "/application-properties")
    ok(r.returncode == 0, "bbo api on Data Center", both(r))
    home.bbo("logout", "--profile", "dc", "--forget")

    plain = "http://127.0.0.1:" + os.environ["BBMOCK_PLAIN_PORT"]
    r = home.bbo("login", "--profile", "plain", "--bitbucket", plain,
                 env={"BBO_CONSUMER_KEY": KEY, "BBO_CONSUMER_SECRET": SECRET})
    ok(r.returncode == 0, "bbo login --bitbucket http://127.0.0.1:PORT (this machine only)",
       both(r))
    r = credential(home, "get", [("protocol", "http"),
                                 ("host", "127.0.0.1:" + os.environ["BBMOCK_PLAIN_PORT"])])
    ok("username=x-token-auth" in r.stdout,
       "the profile answers git for the --bitbucket URL's host and port", r.stderr)
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    r = home.login("--profile", "fixed", "--port", str(port))
    ok(r.returncode == 0 and f"127.0.0.1:{port}/callback" in r.stderr,
       "bbo login --port N receives the redirect on port N", both(r))
    home.bbo("logout", "--profile", "fixed", "--forget")
    r = home.bbo("login", "--profile", "remote", "--bitbucket", "http://bitbucket.example")
    ok(r.returncode == 2 and "https" in r.stderr, "plain http to another machine is refused",
       both(r))

    # tokens that live shorter than the refresh margin: refreshed once, at
    # half their life (not on every use, as when the whole 60 s margin
    # applied to them)
    control("/config", {"access_ttl": 4})
    try:
        home.bbo("token", "--profile", "plain", "--refresh")  # now a 4-second token
        for what, run in (("bbo token", lambda: home.bbo("token", "--profile", "plain")),
                          ("git-credential-bboauth get", lambda: credential(
                              home, "get", [("protocol", "http"), ("host", "127.0.0.1:" +
                                            os.environ["BBMOCK_PLAIN_PORT"])]))):
            time.sleep(2)  # half its life: due
            before, _ = refreshes()
            r = run()
            after, replays = refreshes()
            ok(r.returncode == 0 and after - before == 1 and replays == 0,
               f"{what} with a token at half its life: one refresh", r.stderr)
    finally:
        control("/config", {"access_ttl": 7200})
    home.bbo("logout", "--profile", "plain", "--forget")


def test_paste_back(home):
    """--no-browser: the person opens the URL elsewhere and pastes where it ended."""
    env = dict(home.env, BBO_CONSUMER_KEY=KEY)   # the secret comes first on stdin
    if os.path.exists(home.record):
        os.unlink(home.record)
    p = subprocess.Popen([BBO, "login", "--profile", "ssh", "--no-browser", "--bitbucket", BASE,
                          "--ca-file", CA], env=env, stdin=subprocess.PIPE,
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        p.stdin.write(SECRET + "\n")
        p.stdin.flush()
        url = None
        err = ""
        while url is None:
            line = p.stderr.readline()
            if not line:
                break
            err += line
            if line.strip().startswith(BASE + "/site/oauth2/authorize?"):
                url = line.strip()
        # what the person's browser ends on (the mock approves like Bitbucket)
        answer = control("/authorize", {"url": url}) if url else {}
        location = answer.get("location") or ""
        p.stdin.write("this is not it\n")
        p.stdin.flush()
        p.stdin.write(location + "\n")
        p.stdin.flush()
        out, rest = p.communicate(timeout=HANG_GUARD)
        err += rest
    except Exception as e:  # noqa: BLE001
        p.kill()
        out, rest = p.communicate()
        err += rest + str(e)
    ok(url is not None and location.startswith("http://127.0.0.1:"),
       "--no-browser prints the URL; the browser ends on the loopback address", err)
    ok(not os.path.exists(home.record), "--no-browser starts no browser")
    ok("not the address" in err, "a pasted line that is not the address is refused", err)
    ok(p.returncode == 0 and "as bbo-tester" in out,
       "paste-back login succeeds (secret and address on one standard input)", out + err)
    home.bbo("logout", "--profile", "ssh", "--forget")

    # a forwarded port (ssh -L): the browser comes back by itself, nothing is pasted
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    p = subprocess.Popen([BBO, "login", "--profile", "fwd", "--no-browser", "--port", str(port),
                          "--bitbucket", BASE, "--ca-file", CA], env=dict(env,
                         BBO_CONSUMER_SECRET=SECRET), stdin=subprocess.PIPE,
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        url, err = None, ""
        while url is None:
            line = p.stderr.readline()
            if not line:
                break
            err += line
            if line.strip().startswith(BASE + "/site/oauth2/authorize?"):
                url = line.strip()
        location = (control("/authorize", {"url": url}) if url else {}).get("location") or ""
        with urllib.request.urlopen(location, timeout=30) as back:
            status = back.status
        p.wait(timeout=HANG_GUARD)  # with standard input still open
        out, rest = p.communicate()
        err += rest
    except Exception as e:  # noqa: BLE001
        p.kill()
        out, rest = p.communicate()
        status, err = 0, err + rest + str(e)
    ok(status == 200 and p.returncode == 0 and "as bbo-tester" in out,
       "--no-browser --port N: a redirect through the forwarded port ends the wait", out + err)
    home.bbo("logout", "--profile", "fwd", "--forget")


# ------------------------------------------------------------ git credential protocol

def test_credential_protocol(home):
    r = credential(home, "capability", [])
    ok(r.returncode == 0 and r.stdout == "version 0\ncapability authtype\n",
       "capability announces authtype", both(r))
    r = credential(home, "get", [("protocol", "https"), ("host", MOCK_HOST)])
    c = parse_credential(r.stdout)
    ok(r.returncode == 0 and c.get("username") == "x-token-auth" and len(c.get("password", ""))
       > 100 and int(c.get("password_expiry_utc", "0")) > time.time(),
       "get: x-token-auth, a token and password_expiry_utc", r.stderr)
    SECRETS.append(c.get("password", ""))
    ok("refresh" not in r.stdout and "authtype" not in r.stdout,
       "get: nothing else (no refresh token, no authtype unless asked)")
    r = credential(home, "get", [("capability[]", "authtype"), ("protocol", "https"),
                                 ("host", MOCK_HOST)])
    lines = r.stdout.splitlines()
    c2 = parse_credential(r.stdout)
    ok(lines and lines[0] == "capability[]=authtype" and c2.get("authtype") == "Bearer"
       and c2.get("credential") == c.get("password") and c2.get("ephemeral") == "1",
       "get with capability[]=authtype: a Bearer credential marked ephemeral", r.stderr)
    r = credential(home, "get", [("protocol", "https"), ("host", "github.com")])
    ok(r.returncode == 0 and r.stdout == "", "get for another host: no answer")
    r = credential(home, "get", [("protocol", "http"), ("host", "bitbucket.example")])
    ok(r.stdout == "", "get over plain http to another machine: no answer")
    r = credential(home, "store", [("protocol", "https"), ("host", MOCK_HOST),
                                   ("username", "x-token-auth"), ("password", "x")])
    ok(r.returncode == 0 and r.stdout == "", "store does nothing")
    before, _ = refreshes()
    r = credential(home, "get", [("protocol", "https"), ("host", MOCK_HOST)])
    ok(parse_credential(r.stdout).get("password") == c.get("password") and refreshes()[0] ==
       before, "a fresh token is answered without a refresh")
    r = credential(home, "erase", [("protocol", "https"), ("host", MOCK_HOST),
                                   ("username", "x-token-auth"), ("password", c["password"])])
    ok(r.returncode == 0 and r.stdout == "", "erase answers nothing")
    r = credential(home, "get", [("protocol", "https"), ("host", MOCK_HOST)])
    c3 = parse_credential(r.stdout)
    SECRETS.append(c3.get("password", ""))
    after, replays = refreshes()
    ok(c3.get("password") and c3["password"] != c["password"] and after == before + 1
       and replays == 0, "after erase, get refreshes the access token (the grant stays)",
       r.stderr)
    r = home.bbo("status", "--json")
    ok(json.loads(r.stdout)["profiles"][0]["refresh_token"] is True,
       "erase kept the refresh token")
    r = home.run(HELPER, "frobnicate", input="")
    ok(r.returncode == 0 and r.stdout == "", "an unknown action is ignored")
    r = credential(home, "get", [("protocol", "https"), ("host", MOCK_HOST)], "--profile",
                   "nonesuch")
    ok(r.stdout == "", "--profile of another host: no answer")


# ------------------------------------------------------------ real git

class GitServer:
    def __init__(self, home):
        self.root = os.path.join(home.dir, "srv")
        os.makedirs(os.path.join(self.root, "ws"))
        ready = os.path.join(home.dir, "git-server.port")
        self.log = open(os.path.join(home.dir, "git-server.log"), "w", encoding="utf-8")
        self.proc = subprocess.Popen([sys.executable, os.path.join(HERE, "git_server.py"),
                                      "--root", self.root, "--ready-file", ready],
                                     stdin=subprocess.DEVNULL, stderr=self.log)
        deadline = time.monotonic() + HANG_GUARD
        while not os.path.exists(ready):
            if self.proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError("git_server.py did not start")
            time.sleep(0.05)
        with open(ready, encoding="ascii") as f:
            self.port = int(f.read())
        self.host = f"127.0.0.1:{self.port}"

    def stats(self):
        with urllib.request.urlopen(f"http://{self.host}/-/stats", timeout=30) as r:
            return json.loads(r.read())

    def close(self):
        self.proc.send_signal(signal.SIGTERM)
        self.proc.wait()
        self.log.close()


def git(home, *args, cwd=None):
    e = dict(home.env, GIT_AUTHOR_NAME="T", GIT_AUTHOR_EMAIL="t@example.invalid",
             GIT_COMMITTER_NAME="T", GIT_COMMITTER_EMAIL="t@example.invalid")
    return subprocess.run(["git", "-c", "credential.helper=", "-c",
                           "credential.helper=bboauth", "-c", "init.defaultBranch=main",
                           *args], env=e, cwd=cwd, capture_output=True, text=True,
                          timeout=HANG_GUARD, stdin=subprocess.DEVNULL)


def commit(home, work, name):
    with open(os.path.join(work, name), "w", encoding="utf-8") as f:
        f.write(name + "\n")
    git(home, "add", name, cwd=work)
    return git(home, "commit", "-qm", name, cwd=work)


def test_git(home):
    server = GitServer(home)
    try:
        run_git(home, server)
    finally:
        server.close()


def run_git(home, server):
    bare = os.path.join(server.root, "ws", "repo.git")
    seed = os.path.join(home.dir, "seed")
    git(home, "init", "-q", "--bare", bare)
    git(home, "init", "-q", seed)
    commit(home, seed, "README")
    git(home, "push", "-q", bare, "HEAD:main", cwd=seed)

    r = home.login("--profile", "work", "--git-host", server.host)
    ok(r.returncode == 0 and f"credential.https://{server.host}.helper" in r.stdout,
       "login of a profile answering for the git server's host", both(r))
    url = f"http://{server.host}/ws/repo.git"
    clone = os.path.join(home.dir, "clone")
    r = git(home, "clone", "-q", url, clone)
    ok(r.returncode == 0 and os.path.exists(os.path.join(clone, "README")),
       "git clone over smart HTTP through git-credential-bboauth", r.stderr)
    ok(server.stats()["accepted"] > 0, "the server accepted x-token-auth with a live token")
    r = git(home, "fetch", "-q", "origin", cwd=clone)
    ok(r.returncode == 0, "git fetch", r.stderr)
    commit(home, clone, "one")
    r = git(home, "push", "-q", "origin", "HEAD:main", cwd=clone)
    ok(r.returncode == 0, "git push", r.stderr)
    tokens_before = len(server.stats()["tokens"])

    # the access token expires (on the server and here); the helper refreshes
    control("/config", {"access_ttl": 1})
    r = home.bbo("token", "--profile", "work", "--refresh")
    ok(r.returncode == 0, "a token that lives one second", both(r))
    control("/config", {"access_ttl": 7200})
    time.sleep(2)
    before, _ = refreshes()
    commit(home, clone, "two")
    r = git(home, "push", "-q", "origin", "HEAD:main", cwd=clone)
    after, replays = refreshes()
    ok(r.returncode == 0 and after == before + 1 and replays == 0,
       "git push after the access token expired: the helper refreshed once", r.stderr)
    ok(len(server.stats()["tokens"]) > tokens_before, "the push used the new token")

    # the server kills every access token early: git's erase makes the next get refresh
    control("/expire", {})
    r = git(home, "fetch", "-q", "origin", cwd=clone)
    ok(r.returncode != 0, "a token the server revoked early is refused once", r.stderr)
    r = git(home, "fetch", "-q", "origin", cwd=clone)
    ok(r.returncode == 0, "after git's erase the next command gets a refreshed token",
       r.stderr)

    r = git(home, "ls-remote", url)
    head = r.stdout.split()[0] if r.returncode == 0 and r.stdout else ""
    local = git(home, "rev-parse", "HEAD", cwd=clone).stdout.strip()
    ok(head == local, "the server has both pushes", r.stderr)

    r = home.bbo("logout", "--profile", "work")
    ok(r.returncode == 0 and "no revocation endpoint" in r.stdout and "App authorizations" in
       r.stdout, "bbo logout says Cloud cannot revoke and where to do it", both(r))
    if os.path.exists(home.record):
        os.unlink(home.record)
    r = git(home, "fetch", "-q", "origin", cwd=clone)
    ok(r.returncode != 0 and "run `bbo login --profile work`" in r.stderr,
       "git after bbo logout fails and says to run bbo login", r.stderr)
    ok(not os.path.exists(home.record), "the helper never starts a browser")
    r = home.bbo("token", "--profile", "work")
    ok(r.returncode == 3, "bbo token after logout: exit 3", both(r))
    r = home.bbo("status", "--profile", "work", "--json")
    prof = json.loads(r.stdout)["profiles"][0]
    ok(r.returncode == 3 and not prof["logged_in"], "status after logout: not logged in",
       both(r))


def main():
    tests = [test_usage, test_secret_on_argv, test_login_status_token_api, test_secret_sources,
             test_login_failures, test_single_flight, test_other_servers, test_paste_back, test_credential_protocol, test_git]
    home = Home()
    try:
        for t in tests:
            try:
                t(home)
            except Exception as e:  # noqa: BLE001
                ok(False, f"{t.__name__} ran to its end", f"{type(e).__name__}: {e}")
    finally:
        home.close()
    print(f"1..{count}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
