/*
 * bboauth: receive the authorization redirect on a loopback port (RFC 8252)
 * and open the system browser.
 * SPDX-License-Identifier: MIT
 *
 * A login from a terminal program (this is what `bbo login` does):
 *
 *     char *launch = NULL, *code = NULL;
 *
 *     bbo_loopback_new(&lb, "http://127.0.0.1/callback");
 *     bbo_authorization_begin_ex(&auth, consumer, bbo_loopback_redirect_uri(lb), 0);
 *     bbo_loopback_launch_url(lb, auth, &launch);   (http://127.0.0.1:PORT/<random>)
 *     if (bbo_browser_open(launch) < 0)
 *         printf("Open %s\n", launch);
 *     bbo_loopback_wait(lb, auth, 300000, &code);
 *     bbo_free(launch);
 *
 * Hand the browser the launch URL, never bbo_authorization_url(auth): a
 * browser's command line is readable by every user of the machine
 * (/proc/PID/cmdline), and the authorization URL carries the state and
 * the PKCE challenge, with which another local user can log the program
 * into an account of theirs (login CSRF). The launch URL carries neither:
 * the receiver answers it, once, with a redirect to the authorization URL.
 * Printing the launch URL to the user's terminal is fine.
 *
 * Thread rules: one receiver belongs to one thread at a time.
 */
#ifndef BBOAUTH_LOOPBACK_H
#define BBOAUTH_LOOPBACK_H

#include "common.h"

BBO_BEGIN_DECLS

/**
 * Listen on a loopback address for the redirect.
 *
 * @param callback_url  "http://127.0.0.1/callback" (ephemeral port: the
 *                      redirect_uri gets the port actually bound, which
 *                      Bitbucket accepts for a loopback callback),
 *                      "http://127.0.0.1:8080/cb" (that port), or
 *                      "http://[::1]/cb". NULL means
 *                      "http://127.0.0.1/callback". Only 127.0.0.1 and
 *                      [::1] are accepted: never "localhost", never all
 *                      interfaces.
 * @return 0, or BBO_EINVAL (not a loopback http URL), BBO_EIO (cannot
 *         bind: the port is taken), BBO_ENOMEM
 */
BBO_EXTERN int bbo_loopback_new(bbo_loopback **out, const char *callback_url);

/** The redirect_uri to pass to bbo_authorization_begin_ex (with the port). */
BBO_EXTERN const char *bbo_loopback_redirect_uri(const bbo_loopback *loopback);

/** The port listened on. */
BBO_EXTERN int bbo_loopback_port(const bbo_loopback *loopback);

/**
 * A one-time local URL for the browser, "http://127.0.0.1:PORT/<random>"
 * (128 random bits; "http://[::1]:PORT/..." for an IPv6 receiver). During
 * bbo_loopback_wait the receiver answers the first request for it with a
 * 302 to bbo_authorization_url(auth); a second request gets 404 and ends
 * the wait with BBO_ESTATE (two programs fetched the authorization URL:
 * one of them is not the browser). Calling it again replaces the previous
 * launch URL. The receiver keeps a copy of the authorization URL (wiped
 * when the receiver is freed).
 *
 * @param auth  a transaction begun with bbo_loopback_redirect_uri(loopback)
 *              as its redirect_uri
 * @param out   receives the URL; free with bbo_free
 * @return 0, or BBO_EINVAL (NULL argument, a transaction for another
 *         redirect_uri, a receiver already used by bbo_loopback_wait),
 *         BBO_ECRYPTO (no randomness), BBO_ENOMEM
 */
BBO_EXTERN int bbo_loopback_launch_url(bbo_loopback *loopback, const bbo_authorization *auth,
                                       char **out);

/**
 * Wait for the browser's redirect and complete the authorization.
 *
 * On Linux, a connection that does not come from a process of this
 * program's user (real or effective uid; under sudo as root, also
 * SUDO_UID's), as the kernel's socket table says, is closed unanswered:
 * another local user can neither fetch the launch URL nor bring a
 * redirect. Every connection is served at once, so none can hold up
 * another; each must send a complete request head within 2 seconds of
 * being accepted
 * (else it is dropped: a browser's speculative preconnect, or a local
 * process stalling), and at most 32 are kept open (the oldest is dropped
 * for a new one). A request must be "GET <path> HTTP/1.x" with exactly
 * one Host header naming the receiver as the redirect_uri does
 * ("127.0.0.1:PORT" or "[::1]:PORT"); anything else gets 400 (another
 * Host is a web page whose name resolves to 127.0.0.1: DNS rebinding).
 * Other paths get 404 and the wait goes on; a redirect whose state does
 * not match gets an error page and the wait goes on (it may be forged),
 * and so does one whose query cannot be parsed. The launch path of
 * bbo_loopback_launch_url gets its redirect once. The browser gets a small
 * HTML page: "you can close this window", or the error. The listening
 * socket and every connection are closed on return.
 *
 * @param auth        the transaction whose URL the user opened
 * @param timeout_ms  how long to wait in all (> 0)
 * @param code_out    receives the code; free with bbo_free
 * @return 0, or the codes of bbo_authorization_complete (BBO_EDENIED,
 *         BBO_EOAUTH, BBO_ESTATE for an iss the consumer does not
 *         expect), BBO_ETIMEOUT (no valid redirect in time;
 *         BBO_ESTATE or BBO_EPROTOCOL instead when only redirects with a
 *         wrong state, or malformed ones, came), BBO_ESTATE (the launch URL
 *         was requested twice), BBO_EIO, BBO_EINVAL, BBO_ENOMEM
 */
BBO_EXTERN int bbo_loopback_wait(bbo_loopback *loopback, bbo_authorization *auth,
                                 int timeout_ms, char **code_out);

/** Stop listening and free. NULL is a no-op. */
BBO_EXTERN void bbo_loopback_free(bbo_loopback *loopback);

/**
 * Open `url` in the user's browser without a shell: $BROWSER if set (a
 * program name or path, no arguments), else xdg-open (macOS: open),
 * started with posix_spawnp. Does not wait for the browser. Printing the
 * URL is always the caller's fallback.
 *
 * What the browser gets: one argument, which every local user can read
 * in /proc/PID/cmdline. That is `url` itself, unless `url` has a "state"
 * or "code_challenge" query parameter (an authorization URL): then it is
 * a one-time "http://127.0.0.1:PORT/<random>" that a thread of this
 * process answers, once, with a redirect to `url` (then it stops; it gives
 * up after 5 minutes; on Linux only this user's processes are answered).
 * Prefer bbo_loopback_launch_url with a receiver, whose wait also ends
 * the login when the launch URL is fetched twice. Then this process's
 * environment without the variables that may hold secrets: every BBO_*
 * (BBO_CONSUMER_SECRET, ...) and every name containing SECRET, TOKEN,
 * PASSWORD, PASSWD, PASSPHRASE, CREDENTIAL, API_KEY, APIKEY, ACCESS_KEY or
 * PRIVATE_KEY (any case); no descriptor of the library (all are
 * close-on-exec).
 * @return 0, or BBO_EINVAL (NULL or not http(s)), BBO_EIO (nothing could
 *         be started, or no local port or thread for the redirect),
 *         BBO_ECRYPTO, BBO_ENOMEM
 */
BBO_EXTERN int bbo_browser_open(const char *url);

BBO_END_DECLS

#endif
