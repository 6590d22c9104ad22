/*
 * bboauth: the client runs grants through a transport.
 * SPDX-License-Identifier: MIT
 *
 * A client holds a copy of the consumer and a transport (libcurl unless
 * told otherwise). Each grant builds its request with the bbo_grant_*
 * functions, sends it, and parses the answer; expiry is computed from the
 * time the request was sent.
 *
 * Retries: a request is sent again only when the transport says it never
 * reached the server (DNS, connect, TLS handshake) or the server answered
 * 429 or 503, at most `max_attempts` times in all, waiting Retry-After (or
 * 1 s, 2 s, 4 s, ...) when that is no longer than the ceiling. Never after
 * a timeout or a reset once the request was sent: a rotating refresh token
 * sent twice can get the whole grant revoked (docs/security.md).
 *
 * Thread rules: configure a client from one thread; then any number of
 * threads may run grants on it at once (the libcurl transport serializes
 * its connection). Do not free it while a call is running.
 */
#ifndef BBOAUTH_CLIENT_H
#define BBOAUTH_CLIENT_H

#include "common.h"
#include "transport.h"

BBO_BEGIN_DECLS

/** Time source: seconds since the epoch. */
typedef int64_t (*bbo_clock_fn)(void *payload);
/** Wait `seconds` (the retry back-off). */
typedef void (*bbo_sleep_fn)(int64_t seconds, void *payload);

/**
 * Create a client with the libcurl transport.
 *
 * @param consumer  copied: it may be freed or changed afterwards
 * @return 0, or BBO_EINVAL, BBO_ENOMEM, BBO_ETRANSPORT (libcurl would not
 *         initialize)
 */
BBO_EXTERN int bbo_client_new(bbo_client **out, const bbo_consumer *consumer);

/**
 * Use another transport. The table is copied; on success the client owns
 * the payload and calls `destroy` once, when the transport is replaced or
 * the client freed (setting a table with the current payload again only
 * updates the functions). NULL restores the libcurl transport (with the CA,
 * proxy and timeouts configured on this client).
 *
 * @return 0, or BBO_EINVAL (wrong version, NULL send: the caller keeps
 *         the payload), BBO_ENOMEM, BBO_ETRANSPORT
 */
BBO_EXTERN int bbo_client_set_transport(bbo_client *client, const bbo_transport *transport);

/**
 * Timeouts in milliseconds: connecting (default 10000; libcurl transport)
 * and the whole request (default 30000; any transport, through
 * bbo_http_request_timeout_ms). 0 keeps the current value.
 * @return 0, or BBO_EINVAL (negative), BBO_ENOMEM
 */
BBO_EXTERN int bbo_client_set_timeouts(bbo_client *client, int connect_timeout_ms,
                                       int request_timeout_ms);

/**
 * Trust anchors for the libcurl transport: a PEM bundle file and/or a
 * hashed directory. NULL for both restores the system default.
 * @return 0, or BBO_EINVAL (custom transport in use), BBO_ENOMEM
 */
BBO_EXTERN int bbo_client_set_ca(bbo_client *client, const char *ca_file, const char *ca_dir);

/**
 * Proxy for the libcurl transport: "http://proxy:3128", "socks5h://…".
 * NULL (the default) honours the environment (https_proxy, no_proxy, ...,
 * as libcurl does); "" uses no proxy at all, ignoring the environment.
 * A loopback host (127.0.0.0/8, ::1, localhost, *.localhost) is always
 * reached directly, whatever the proxy settings: a proxy would see its
 * credentials in clear.
 * @return 0, or BBO_EINVAL (custom transport in use), BBO_ENOMEM
 */
BBO_EXTERN int bbo_client_set_proxy(bbo_client *client, const char *proxy);

/**
 * Retry policy (see above): `max_attempts` sends in all (1 = never retry,
 * default 3), waiting at most `max_wait_s` seconds before one (default 30;
 * a longer Retry-After ends the retries and reports BBO_ERATELIMIT; 0
 * retries only what needs no wait, a "Retry-After: 0").
 * @return 0, or BBO_EINVAL (attempts outside 1..10, negative wait)
 */
BBO_EXTERN int bbo_client_set_retry(bbo_client *client, int max_attempts, int max_wait_s);

/**
 * Largest response body accepted (default BBO_HTTP_DEFAULT_BODY_LIMIT).
 * @return 0, or BBO_EINVAL
 */
BBO_EXTERN int bbo_client_set_body_limit(bbo_client *client, size_t limit);

/**
 * Replace the clock and the back-off sleep (tests, event loops). NULL
 * functions restore the system ones.
 * @return 0, or BBO_EINVAL
 */
BBO_EXTERN int bbo_client_set_clock(bbo_client *client, bbo_clock_fn now, bbo_sleep_fn sleep,
                                    void *payload);

/** The client's copy of the consumer. */
BBO_EXTERN const bbo_consumer *bbo_client_consumer(const bbo_client *client);

/**
 * Send any request through the client's transport, with its timeouts,
 * body limit and retry policy; no OAuth meaning is given to the answer.
 * A request without a timeout gets the client's.
 * @param out  receives the response (any status); free it
 * @return 0, or the transport's error (BBO_ETRANSPORT, BBO_ETLS,
 *         BBO_ETIMEOUT, BBO_EPROTOCOL, BBO_EUSER), BBO_EINVAL, BBO_ENOMEM
 */
BBO_EXTERN int bbo_client_send(bbo_client *client, bbo_http_request *req,
                               bbo_http_response **out);

/**
 * Exchange an authorization code (from bbo_authorization_complete) for a
 * token. Sends redirect_uri and code_verifier exactly as the transaction
 * sent them to authorize. A code is single-use: never retried after it may
 * have reached the server.
 * @return 0, or BBO_EOAUTH (invalid_grant: expired or used code, ...;
 *         invalid_scope: the app asks for scopes its consumer lacks, and
 *         the message names them as Bitbucket's form does),
 *         BBO_ESCOPE (the grant lacks a scope set with
 *         bbo_consumer_require_scopes; *out is untouched, the token
 *         dropped), BBO_ERATELIMIT, BBO_EHTTP, BBO_EPROTOCOL,
 *         BBO_ETRANSPORT, BBO_ETLS, BBO_ETIMEOUT, BBO_EUSER, BBO_EINVAL,
 *         BBO_ENOMEM
 */
BBO_EXTERN int bbo_client_exchange_code(bbo_client *client, const bbo_authorization *auth,
                                        const char *code, bbo_token **out);

/**
 * Refresh a token. The new token has the new refresh token when the server
 * rotated it (Bitbucket does, on every use), else the old one. The caller
 * must persist the new token before using it: the old refresh token dies.
 * Prefer bbo_session, which does that and never refreshes twice at once.
 * @return 0, or BBO_EEXPIRED (the token has no refresh token), and the
 *         codes of bbo_client_exchange_code (BBO_EOAUTH invalid_grant: the
 *         refresh token is dead; log in again). BBO_ESCOPE (the new token
 *         lacks a required scope: bbo_consumer_require_scopes) is the one
 *         failure that still writes *out: the server has already rotated
 *         the refresh token, so the new token must be saved like any
 *         refreshed one (or the grant is lost) and freed by the caller;
 *         the user must log in again once the consumer has the scopes.
 *
 * Out of memory: before sending, the call takes room for an answer of up
 * to 16 KiB of body, 64 headers and 16 KiB of header text, and a 1 MiB
 * reserve that serves every allocation refused between the answer's
 * arrival and the token being built (BBO_ENOMEM, nothing sent, when it
 * cannot). After the send, an allocation failure therefore never loses
 * the new token, except: an answer larger than that room, libcurl's own
 * allocations while receiving (BBO_ETRANSPORT, as after a reset), and a
 * parse needing more than the reserve (no 16 KiB answer does). See
 * docs/security.md, "Out of memory after the request has left".
 */
BBO_EXTERN int bbo_client_refresh(bbo_client *client, const bbo_token *token, bbo_token **out);

/**
 * Client credentials grant (private consumers; no refresh token comes back).
 * @return 0, or the codes of bbo_client_exchange_code
 */
BBO_EXTERN int bbo_client_client_credentials(bbo_client *client, bbo_token **out);

/**
 * JWT grant for (legacy) Atlassian Connect apps; build the JWT with
 * bbo_jwt_connect_token.
 * @return 0, or the codes of bbo_client_exchange_code
 */
BBO_EXTERN int bbo_client_jwt_grant(bbo_client *client, const char *jwt, bbo_token **out);

/** Free a client (and its transport's payload). NULL is a no-op. */
BBO_EXTERN void bbo_client_free(bbo_client *client);

BBO_END_DECLS

#endif
