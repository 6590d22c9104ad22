#!/usr/bin/python3
"""bbo-webapp in a real browser: headless Chromium driven by Selenium.

    with_mock.py -- /usr/bin/python3 tests/browser/test_webapp.py BBO_WEBAPP

Runs under tests/mock/with_mock.py (BBMOCK_* variables), starts several
bbo-webapp workers against the mock (consent mode) and drives Chromium
through connect, consent, pull requests, a comment, a cancelled login, a
missing permission, a tampered and an expired login cookie, two workers
sharing one store and seal key, a tenant's own consumer, Bitbucket going
away, CSRF and logout. Output is TAP. Without Chromium the whole suite is
skipped with a TAP comment, except under CI (CI=true), where that fails.

Needs Debian's chromium, chromium-driver and python3-selenium.
"""

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import traceback
import urllib.error
import urllib.parse
import urllib.request

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "mock"))
sys.dont_write_bytecode = True   # no __pycache__ in the source tree
from selftest import expect, expect_equal  # noqa: E402 (the mock's own checks)

CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"
START_TIMEOUT = 20      # seconds for a worker to answer
PAGE_TIMEOUT = 30       # seconds for a page to load after a click
TENANT_KEY, TENANT_SECRET = "acme-consumer-key", "acme-consumer-secret-9876543210"


def tap_comment(text):
    for line in str(text).splitlines() or [""]:
        print(f"# {line}", flush=True)


def chromium_missing():
    """Why Chromium cannot run here, or None."""
    for path in (CHROMIUM, CHROMEDRIVER):
        if not os.access(path, os.X_OK):
            return f"{path} is not installed (Debian: chromium, chromium-driver)"
    try:
        import selenium  # noqa: F401
    except ImportError:
        return "python3-selenium is not installed"
    return None


def pg_store_url():
    """--store for the cluster of tests/pg/with_pg.py (BBO_PG_CONNINFO), or None."""
    conninfo = os.environ.get("BBO_PG_CONNINFO")
    if not conninfo:
        return None
    fields = dict(item.split("=", 1) for item in conninfo.split())
    query = urllib.parse.urlencode({"host": fields["host"], "port": fields.get("port", "5432")})
    return f"postgresql://{fields.get('user', 'postgres')}@/{fields.get('dbname', 'postgres')}" \
           f"?{query}"


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Mock:
    """The control API of the mock the suite runs under."""

    def __init__(self):
        self.control_url = os.environ["BBMOCK_CONTROL"]
        self.base = os.environ["BBMOCK_BASE"]
        self.ca = os.environ["BBMOCK_CA"]
        self.key = os.environ["BBMOCK_KEY"]
        self.secret = os.environ["BBMOCK_SECRET"]

    def control(self, path, payload=None):
        data = None if payload is None else json.dumps(payload).encode()
        request = urllib.request.Request(self.control_url + path, data=data,
                                         method="GET" if data is None else "POST")
        with urllib.request.urlopen(request, timeout=10) as answer:
            return json.load(answer)

    def reset(self):
        self.control("/reset", {})
        self.control("/config", {"consent": True})


class Worker:
    """One bbo-webapp process."""

    def __init__(self, binary, workdir, name, args=(), env=None, port=None):
        self.name = name
        self.port = port or free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log_path = os.path.join(workdir, f"{name}.log")
        environment = {k: v for k, v in os.environ.items() if not k.startswith("BBO_")}
        environment.update({"BBO_CONSUMER_KEY": os.environ["BBMOCK_KEY"],
                            "BBO_CONSUMER_SECRET": os.environ["BBMOCK_SECRET"]})
        environment.update(env or {})
        self.argv = [binary, "--listen", f"127.0.0.1:{self.port}", *args]
        with open(self.log_path, "w", encoding="utf-8") as log:
            self.process = subprocess.Popen(self.argv, env=environment, stdin=subprocess.DEVNULL,
                                            stdout=log, stderr=log)
        deadline = time.monotonic() + START_TIMEOUT
        while True:
            if self.process.poll() is not None:
                raise RuntimeError(f"{name} exited with {self.process.returncode}:\n"
                                   + self.log())
            try:
                with urllib.request.urlopen(self.url + "/", timeout=2):
                    return
            except (urllib.error.URLError, OSError):
                if time.monotonic() > deadline:
                    raise RuntimeError(f"{name} does not answer:\n" + self.log()) from None
                time.sleep(0.05)

    def log(self):
        with open(self.log_path, encoding="utf-8", errors="replace") as f:
            return f.read()

    def stop(self):
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        return self.process.returncode


class Suite:
    def __init__(self, binary):
        from selenium import webdriver
        from selenium.webdriver.chrome.service import Service

        self.mock = Mock()
        self.workdir = tempfile.mkdtemp(prefix="bbo-browser-")
        self.store = pg_store_url() or os.path.join(self.workdir, "store")
        self.key_file = os.path.join(self.workdir, "seal.key")
        with open(self.key_file, "wb") as f:
            f.write(os.urandom(32))
        tenant_secret = os.path.join(self.workdir, "acme.secret")
        with open(tenant_secret, "w", encoding="ascii") as f:
            f.write(TENANT_SECRET + "\n")
        self.workers = []
        common = ["--bitbucket", self.mock.base, "--ca-file", self.mock.ca,
                  "--store", self.store, "--seal-key-file", self.key_file]
        self.common = common
        self.binary = binary
        # a: the application's public address; b: a second worker whose logins
        # come back to a (as behind one load balancer); e: a worker whose
        # clock is 11 minutes behind, so that its logins arrive expired at a
        self.a = self.worker("a", common + ["--tenant", f"acme:{TENANT_KEY}:{tenant_secret}"])
        self.b = self.worker("b", common + ["--public-url", self.a.url])
        self.e = self.worker("e", common + ["--public-url", self.a.url],
                             env={"BBO_WEBAPP_CLOCK_OFFSET": "-660"})
        options = webdriver.ChromeOptions()
        options.binary_location = CHROMIUM
        for argument in ("--headless=new", "--no-sandbox", "--disable-gpu",
                         "--disable-dev-shm-usage", "--window-size=1000,900",
                         "--ignore-certificate-errors", "--no-first-run",
                         "--disable-extensions", "--disable-background-networking",
                         f"--user-data-dir={os.path.join(self.workdir, 'chromium')}"):
            options.add_argument(argument)
        self.driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
        self.driver.set_page_load_timeout(30)

    def worker(self, name, args, env=None):
        worker = Worker(self.binary, self.workdir, name, args, env)
        self.workers.append(worker)
        return worker

    def close(self):
        """Stop the browser and every worker: {worker name: exit status}."""
        try:
            self.driver.quit()
        finally:
            return {worker.name: worker.stop() for worker in self.workers}

    # -- browser helpers

    def fresh(self):
        """A browser with no cookies, a mock in its initial state (consent on)."""
        self.driver.execute_cdp_cmd("Network.clearBrowserCookies", {})
        self.mock.reset()

    def get(self, url):
        self.driver.get(url)

    def find(self, element_id):
        from selenium.webdriver.common.by import By
        return self.driver.find_element(By.ID, element_id)

    def finds(self, **kw):
        from selenium.webdriver.common.by import By
        (how, value), = kw.items()
        return self.driver.find_elements({"id": By.ID, "cls": By.CLASS_NAME,
                                          "tag": By.TAG_NAME}[how], value)

    def text(self, element_id):
        return self.find(element_id).text

    def cookies(self):
        return {c["name"]: c for c in self.driver.get_cookies()}

    def connect(self, worker, decision="grant", prefix=""):
        """Start a login on `worker`, answer the consent page."""
        self.get(f"{worker.url}{prefix}/")
        self.click("connect")
        expect(self.driver.current_url.startswith(self.mock.base + "/site/oauth2/authorize"),
               f"at the consent page: {self.driver.current_url}")
        expect(self.text("client"), "the consent page names the consumer")
        self.click(decision)

    def click(self, element_id):
        """Click and wait for the page it leads to (a form or a link)."""
        from selenium.webdriver.support import expected_conditions
        from selenium.webdriver.support.ui import WebDriverWait

        from selenium.common.exceptions import WebDriverException

        page = self.driver.find_element("tag name", "html")
        self.find(element_id).click()

        def gone(driver):
            # Chromium may answer "Node ... does not belong to the document"
            # while the old page is torn down: that is gone too
            try:
                return expected_conditions.staleness_of(page)(driver)
            except WebDriverException:
                return True
        WebDriverWait(self.driver, PAGE_TIMEOUT).until(gone)
        WebDriverWait(self.driver, PAGE_TIMEOUT).until(
            lambda d: d.execute_script("return document.readyState") == "complete")

    def all_cookies(self):
        """Every cookie of the browser, whatever their path (CDP)."""
        return {c["name"]: c for c in
                self.driver.execute_cdp_cmd("Network.getAllCookies", {})["cookies"]}

    def error_reason(self):
        errors = self.finds(id="error")
        expect(errors, f"no error page at {self.driver.current_url}: "
                       f"{self.driver.page_source[:600]}")
        return errors[0].get_attribute("data-reason")

    def post(self, worker, path, fields, sid=None):
        """A form POST outside the browser: (status, body)."""
        headers = {"Content-Type": "application/x-www-form-urlencoded"}
        if sid:
            headers["Cookie"] = f"bbo_sid={sid}"
        request = urllib.request.Request(worker.url + path, method="POST", headers=headers,
                                         data=urllib.parse.urlencode(fields).encode())
        try:
            with urllib.request.urlopen(request, timeout=10) as answer:
                return answer.status, answer.read().decode()
        except urllib.error.HTTPError as e:
            return e.code, e.read().decode()


TESTS = []


def test(function):
    TESTS.append(function)
    return function


# ------------------------------------------------------------------ tests

@test
def connect_consent_connected(s):
    s.get(s.a.url + "/")
    expect_equal(s.find("connect").text, "Connect Bitbucket", "connect link")
    expect(not s.finds(id="user"), "not connected yet")
    s.driver.save_screenshot(os.path.join(s.workdir, "start.png"))
    s.click("connect")
    expect_equal(s.text("client"), s.mock.key, "the consent page names the consumer")
    s.driver.save_screenshot(os.path.join(s.workdir, "consent.png"))
    s.click("grant")
    expect_equal(s.driver.current_url, s.a.url + "/", "back on /")
    expect_equal(s.text("user"), "bbo-tester", "user")
    expect_equal(s.text("scopes"), "account pullrequest:write repository:write", "scopes")
    expect(s.find("logout").is_displayed(), "a logout button")
    cookies = s.cookies()
    expect("bbo_login" not in cookies, "the login cookie is gone after the callback")
    sid = cookies["bbo_sid"]
    expect_equal((sid["httpOnly"], sid["sameSite"]), (True, "Lax"), "app session cookie")
    stats = s.mock.control("/stats")
    expect_equal(stats["grants"]["authorization_code"], 1, "one code exchanged")
    expect_equal(stats["last_token_request"]["form_keys"],
                 ["code", "code_verifier", "grant_type", "redirect_uri"], "PKCE and redirect_uri")
    expect(not s.finds(tag="script"), "no JavaScript on the page")
    s.driver.save_screenshot(os.path.join(s.workdir, "connected.png"))


@test
def login_cookie_attributes(s):
    s.get(s.a.url + "/connect")    # stops at the consent page
    login = s.all_cookies()["bbo_login"]
    expect_equal((login["path"], login["httpOnly"], login["sameSite"]),
                 ("/callback", True, "Lax"), "sent to the callback only, never to scripts")
    expect(590 < login["expires"] - time.time() <= 600, "lives 10 minutes")
    expect(len(login["value"]) < 1200, "a small cookie")
    s.get(s.a.url + "/callback")   # no code, no state
    expect_equal(s.error_reason(), "state", "a callback without code or state")
    expect("bbo_login" not in s.all_cookies(), "deleted by the callback, whatever happened")


@test
def pull_requests_and_comment(s):
    s.connect(s.a)
    s.find("repo").send_keys("bbo-tester/repo-01")
    s.click("list")
    prs = s.finds(cls="pr")
    expect_equal(len(prs), 23, "open pull requests over three pages")
    expect_equal(s.text("count"), "23 open pull requests.", "count")
    title = s.find("pr-3").find_element("class name", "title").text
    expect_equal(title, 'Escape <b>this</b> & "that" <script>alert(1)</script>',
                 "a title full of HTML shown as text")
    expect(not s.finds(tag="script") and not s.finds(tag="b"), "nothing injected")
    expect_equal(s.find("pr-1").find_element("class name", "author").text, "by Ann O'Tator",
                 "author")
    s.driver.save_screenshot(os.path.join(s.workdir, "pullrequests.png"))
    text = "Looks good <really> & \"well\" tested\nSecond line"  # sent as CRLF
    s.find("comment-text-2").send_keys(text)
    s.click("comment-2")
    expect_equal(s.text("notice"), "Your comment was posted on #2.", "notice")
    comments = s.mock.control("/comments")["comments"]
    expect_equal([(c["repo"], c["pullrequest"], c["raw"]) for c in comments],
                 [("bbo-tester/repo-01", 2, text)], "the mock got the comment")


@test
def cancel_at_consent(s):
    s.connect(s.a, decision="cancel")
    expect_equal(s.error_reason(), "denied", "reason")
    expect("Grant access" in s.text("todo"), s.text("todo"))
    s.get(s.a.url + "/")
    expect(s.finds(id="connect") and not s.finds(id="user"), "still not connected")
    expect_equal(s.mock.control("/stats")["token_requests"], 0, "no token request")


@test
def consumer_without_pull_request_write_at_login(s):
    strict = s.worker("strict", s.common + ["--require-scopes", "account pullrequest:write"])
    try:
        s.mock.control("/config", {"consumer": {"scopes": "account pullrequest"}})
        s.get(strict.url + "/")
        expect("Pull requests: Write" in s.text("required"), "the start page names it")
        s.connect(strict)
        expect_equal(s.error_reason(), "scopes", "reason")
        page = s.text("error")
        expect("Pull requests: Write" in page, page)
        expect("Workspace settings > OAuth consumers" in s.text("todo"), s.text("todo"))
        s.driver.save_screenshot(os.path.join(s.workdir, "missing-scopes.png"))
        expect(s.mock.key in s.text("todo"), "names the consumer key")
        s.get(strict.url + "/")
        expect(not s.finds(id="user"), "no grant was stored")
    finally:
        strict.stop()


@test
def consumer_without_pull_request_write_at_comment(s):
    s.mock.control("/config", {"consumer": {"scopes": "account pullrequest"}})
    s.connect(s.a)
    expect_equal(s.text("scopes"), "account pullrequest", "granted")
    s.get(s.a.url + "/pullrequests?repo=bbo-tester/repo-02")
    expect_equal(len(s.finds(cls="pr")), 2, "listing needs only Pull requests: Read")
    s.find("comment-text-1").send_keys("hello")
    s.click("comment-1")
    expect_equal(s.error_reason(), "scopes", "reason")
    expect("Pull requests: Write" in s.text("what"), s.text("what"))
    expect_equal(s.mock.control("/comments")["comments"], [], "nothing posted")


@test
def tampered_login_cookie(s):
    s.get(s.a.url + "/connect")    # at the consent page
    login = s.all_cookies()["bbo_login"]
    value = login["value"]
    flipped = value[:10] + ("A" if value[10] != "A" else "B") + value[11:]
    s.driver.execute_cdp_cmd("Network.setCookie", {
        "name": "bbo_login", "value": flipped, "url": s.a.url + "/callback",
        "path": "/callback", "httpOnly": True, "sameSite": "Lax"})
    s.click("grant")
    expect_equal(s.error_reason(), "tampered", "reason")
    expect_equal(s.mock.control("/stats")["token_requests"], 0, "nothing exchanged")


@test
def login_cookie_from_another_session(s):
    # a login cookie replayed with another app session (login CSRF): refused
    s.get(s.a.url + "/connect")
    consent = s.driver.current_url
    old_sid = s.all_cookies()["bbo_sid"]["value"]
    s.driver.execute_cdp_cmd("Network.deleteCookies", {"name": "bbo_sid",
                                                       "url": s.a.url + "/"})
    s.get(s.a.url + "/")          # a new app session
    expect(s.cookies()["bbo_sid"]["value"] != old_sid, "a new app session")
    s.get(consent)
    s.click("grant")
    expect_equal(s.error_reason(), "tampered", "reason")
    expect_equal(s.mock.control("/stats")["token_requests"], 0, "nothing exchanged")


@test
def expired_login(s):
    s.connect(s.e)               # begun on a worker whose clock is 11 min behind
    expect(s.driver.current_url.startswith(s.a.url + "/callback"), s.driver.current_url)
    expect_equal(s.error_reason(), "expired", "reason")
    expect("10 minutes" in s.text("what"), s.text("what"))


@test
def wrong_state(s):
    s.get(s.a.url + "/connect")
    s.get(s.a.url + "/callback?code=stolen-code&state=not-the-state")
    expect_equal(s.error_reason(), "state", "reason")
    expect_equal(s.mock.control("/stats")["token_requests"], 0, "nothing exchanged")


@test
def two_workers(s):
    s.connect(s.b)               # begun on b, completed on a
    expect_equal(s.driver.current_url, s.a.url + "/", "completed on a")
    expect_equal(s.text("user"), "bbo-tester", "connected on a")
    s.get(s.b.url + "/")
    expect_equal(s.text("user"), "bbo-tester", "b uses the grant a stored")
    # every access token expires: a refreshes (rotation), b adopts a's token
    s.mock.control("/expire", {})
    s.get(s.a.url + "/")
    expect_equal(s.text("user"), "bbo-tester", "a after the expiry")
    s.get(s.b.url + "/")
    expect_equal(s.text("user"), "bbo-tester", "b after the expiry")
    s.get(s.b.url + "/pullrequests?repo=bbo-tester/repo-02")
    expect_equal(len(s.finds(cls="pr")), 2, "b lists")
    stats = s.mock.control("/stats")
    expect_equal((stats["grants"]["refresh_token"], stats["refresh_replays"],
                  stats["revoked_grants"]), (1, 0, 0), "one refresh, no replay")


@test
def tenant_consumer(s):
    # a customer's own consumer, registered with the tenant's callback
    s.mock.control("/config", {"consumer": {
        "key": TENANT_KEY, "secret": TENANT_SECRET,
        "callback_url": "http://127.0.0.1/t/acme/callback"}})
    s.connect(s.a, prefix="/t/acme")
    expect_equal(s.driver.current_url, s.a.url + "/t/acme/", "back on the tenant's page")
    expect_equal(s.text("user"), "bbo-tester", "connected with the tenant's consumer")
    expect_equal(s.text("tenant"), "acme", "tenant shown")
    s.get(s.a.url + "/")
    expect(s.finds(id="connect") and not s.finds(id="user"),
           "the platform's consumer has its own grants")
    s.get(s.a.url + "/t/nobody/")
    expect_equal(s.error_reason(), "not_found", "unknown tenant")


@test
def bitbucket_unreachable(s):
    s.connect(s.a)
    s.mock.control("/fault", {"name": "reset", "path": "/2.0/", "times": -1})
    s.get(s.a.url + "/")
    expect_equal(s.error_reason(), "unreachable", "reason")
    expect("could not reach Bitbucket" in s.text("what"), s.text("what"))
    s.mock.control("/fault/clear", {})
    s.get(s.a.url + "/")
    expect_equal(s.text("user"), "bbo-tester", "fine again")


@test
def csrf_and_logout(s):
    s.connect(s.a)
    sid = s.cookies()["bbo_sid"]["value"]
    status, body = s.post(s.a, "/logout", {}, sid)
    expect_equal(status, 403, "logout without the form's token")
    expect('data-reason="csrf"' in body, body[:300])
    status, body = s.post(s.a, "/pullrequests/comment",
                          {"repo": "bbo-tester/repo-01", "id": "1", "text": "x",
                           "csrf": "A" * 43}, sid)
    expect_equal(status, 403, "comment with a wrong token")
    expect_equal(s.mock.control("/comments")["comments"], [], "nothing posted")
    s.get(s.a.url + "/")
    expect_equal(s.text("user"), "bbo-tester", "still connected")
    s.click("logout")
    expect_equal(s.driver.current_url, s.a.url + "/", "back on /")
    expect(s.finds(id="connect") and not s.finds(id="user"), "logged out")
    s.get(s.a.url + "/pullrequests?repo=bbo-tester/repo-01")
    expect_equal(s.error_reason(), "not_connected", "after logout")


@test
def unreadable_grant_replaced_by_a_new_login(s):
    if pg_store_url():
        tap_comment("unreadable_grant: file store only (a PostgreSQL row is checked by tests/pg)")
        return
    s.connect(s.a)
    grants = [os.path.join(s.store, n) for n in os.listdir(s.store)
              if n.startswith("app-") and n.endswith(".grant")]
    expect(grants, "grant files for the platform's consumer")
    with open(max(grants, key=os.path.getmtime), "r+b") as f:   # this browser's
        f.write(b"garbage")
    s.get(s.a.url + "/")
    expect_equal(s.error_reason(), "store", "a grant file that does not decrypt")
    s.click("connect")
    s.click("grant")
    expect_equal(s.text("user"), "bbo-tester", "a new login replaced it")


@test
def bad_requests(s):
    s.connect(s.a)
    s.get(s.a.url + "/pullrequests?repo=..%2Fetc")
    expect_equal(s.error_reason(), "bad_request", "a bad repository name")
    s.get(s.a.url + "/pullrequests?repo=bbo-tester/nothing")
    expect_equal(s.error_reason(), "not_found", "an unknown repository")
    s.get(s.a.url + "/no-such-page")
    expect_equal(s.error_reason(), "not_found", "an unknown page")


def no_secrets_in_logs(s):
    for worker in s.workers:
        log = worker.log()
        for secret in (s.mock.secret, TENANT_SECRET, "code=", "state=", "access_token"):
            expect(secret not in log, f"{worker.name}'s log holds {secret[:6]}...")
    expect("GET /callback 302" in s.a.log(), "a completed logins")
    expect("GET /callback" not in s.b.log(), "b never saw a callback")


# ------------------------------------------------------------------ main

def main():
    if len(sys.argv) != 2:
        print("usage: test_webapp.py BBO_WEBAPP", file=sys.stderr)
        return 2
    missing = chromium_missing()
    if missing:
        if os.environ.get("CI") == "true":
            print("1..1\nnot ok 1 - chromium available # CI must install it: " + missing)
            return 1
        print(f"1..0 # SKIP {missing}")
        return 0
    print(f"1..{len(TESTS) + 2}", flush=True)
    tap_comment("grants in " + ("PostgreSQL" if pg_store_url() else "a file store directory"))
    started = time.monotonic()
    try:
        suite = Suite(sys.argv[1])
    except Exception:
        tap_comment(traceback.format_exc())
        for n, name in enumerate([f.__name__ for f in TESTS] +
                                 ["no_secrets_in_logs", "workers_exit_cleanly"], 1):
            print(f"not ok {n} - {name} # the suite did not start")
        return 1
    failed = 0
    try:
        for n, function in enumerate(TESTS, 1):
            t0 = time.monotonic()
            try:
                suite.fresh()
                function(suite)
                print(f"ok {n} - {function.__name__} ({time.monotonic() - t0:.1f} s)", flush=True)
            except Exception:
                failed += 1
                print(f"not ok {n} - {function.__name__}", flush=True)
                tap_comment(traceback.format_exc(limit=4))
                tap_comment(f"at {suite.driver.current_url}")
        try:
            no_secrets_in_logs(suite)
            print(f"ok {len(TESTS) + 1} - no_secrets_in_logs")
        except Exception:
            failed += 1
            print(f"not ok {len(TESTS) + 1} - no_secrets_in_logs")
            tap_comment(traceback.format_exc(limit=2))
    finally:
        statuses = suite.close()
        # a crash, a sanitizer report or a leak at exit shows here
        if all(status == 0 for status in statuses.values()):
            print(f"ok {len(TESTS) + 2} - workers_exit_cleanly")
        else:
            failed += 1
            print(f"not ok {len(TESTS) + 2} - workers_exit_cleanly")
            tap_comment(f"exit statuses after SIGTERM: {statuses}")
        if failed:
            for worker in suite.workers:
                tap_comment(f"--- log of worker {worker.name}")
                tap_comment(worker.log()[-3000:])
        keep = os.environ.get("BBO_BROWSER_KEEP")
        if keep:
            shutil.copytree(suite.workdir, keep, dirs_exist_ok=True,
                            ignore=shutil.ignore_patterns("chromium"))
        shutil.rmtree(suite.workdir, ignore_errors=True)
    tap_comment(f"{len(TESTS) + 2 - failed} passed, {failed} failed in "
                f"{time.monotonic() - started:.0f} s")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
