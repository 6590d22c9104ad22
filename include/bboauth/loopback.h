/*
 * bboauth: receive the authorization redirect on a loopback port (RFC 8252)
 * and open the system browser.
 * SPDX-License-Identifier: MIT
 *
 *     bbo_loopback_new(&lb, "http://127.0.0.1/callback");
 *     bbo_authorization_begin_ex(&auth, consumer, bbo_loopback_redirect_uri(lb), 0);
 *     if (bbo_browser_open(bbo_authorization_url(auth)) < 0)
 *         printf("Open %s\n", bbo_authorization_url(auth));
 *     bbo_loopback_wait(lb, auth, 300000, &code);
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
 * Wait for the browser's redirect and complete the authorization.
 * Requests for other paths get 404 and the wait goes on; a redirect whose
 * state does not match gets an error page and the wait goes on (it may be
 * forged), and so does one whose query cannot be parsed. A connection
 * that sends no complete request within 2 seconds
 * (a browser's speculative preconnect) is dropped and the wait goes on. The browser gets a small HTML page: "you can close this
 * window", or the error. The listening socket is closed on return.
 *
 * @param auth        the transaction whose URL the user opened
 * @param timeout_ms  how long to wait in all (> 0)
 * @param code_out    receives the code; free with bbo_free
 * @return 0, or the codes of bbo_authorization_complete (BBO_EDENIED,
 *         BBO_EOAUTH), BBO_ETIMEOUT (no valid redirect in time;
 *         BBO_ESTATE or BBO_EPROTOCOL instead when only redirects with a
 *         wrong state, or malformed ones, came), BBO_EIO, BBO_EINVAL,
 *         BBO_ENOMEM
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
 * @return 0, or BBO_EINVAL (NULL or not http(s)), BBO_EIO (nothing could
 *         be started)
 */
BBO_EXTERN int bbo_browser_open(const char *url);

BBO_END_DECLS

#endif
