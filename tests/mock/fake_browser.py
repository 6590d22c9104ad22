#!/usr/bin/env python3
"""A stand-in for the user's browser in the demo and the tests.

Used as BROWSER=tests/mock/fake_browser.py: bbo_browser_open() runs it with
the authorization URL, or the loopback receiver's one-time launch URL that
redirects to it. It visits the URL (trusting the mock's CA from
BBMOCK_CA) and follows the redirects (at most 5) to the loopback receiver,
as a browser whose user clicked "Grant access" would.
It prints only paths and statuses, never the code or state."""
import http.client
import os
import ssl
import sys
import urllib.parse


def get(url, context):
    u = urllib.parse.urlsplit(url)
    if u.scheme == "https":
        conn = http.client.HTTPSConnection(u.hostname, u.port or 443, context=context, timeout=30)
    else:
        conn = http.client.HTTPConnection(u.hostname, u.port or 80, timeout=30)
    target = u.path + ("?" + u.query if u.query else "")
    conn.request("GET", target)
    resp = conn.getresponse()
    body = resp.read()
    conn.close()
    return resp.status, resp.getheader("Location"), body, u.path


def main():
    if len(sys.argv) != 2:
        print("usage: fake_browser.py URL", file=sys.stderr)
        return 2
    context = ssl.create_default_context(cafile=os.environ.get("BBMOCK_CA"))
    url = sys.argv[1]
    for _ in range(5):
        status, location, body, path = get(url, context)
        if status != 302 or not location:
            break
        print(f"      browser: GET {path} -> {status}", flush=True)
        url = urllib.parse.urljoin(url, location)
    title = body.decode("utf-8", "replace").split("<title>")[-1].split("</title>")[0]
    print(f"      browser: GET {path} -> {status} ({title})", flush=True)
    return 0 if status == 200 else 1


if __name__ == "__main__":
    sys.exit(main())
