/*
 * bboauth: a long-lived login: fresh access tokens, a token store, API calls.
 * SPDX-License-Identifier: MIT
 *
 * A session hands out access tokens, refreshing each one when it is due:
 * when it expires within the refresh margin (60 s by default), or, for a
 * token that lives less than twice the margin, once half its lifetime
 * (expires_at - obtained_at) has passed. A token is thus refreshed once,
 * never on every call, however short-lived. With Bitbucket's rotating
 * refresh tokens two refreshes of one grant must never run at once, and
 * the new refresh token must never be lost; the session guarantees both:
 *
 * - single flight: when several threads need a refresh, one request goes
 *   out; the others wait and get its result (the same token or error);
 * - with a store that locks (the file store does), the same holds across
 *   processes: the store is re-read under its lock and a token another
 *   process already refreshed is used as it is;
 * - a new token is saved to the store before it is handed out; if the save
 *   fails, the token is kept in memory, the failure is reported (the token
 *   callback's save_error, bbo_session_save_error) and the save is retried
 *   on the next call; a store holding a later token (BBO_ECONFLICT) hands
 *   it over instead;
 * - once a refresh request has left, its answer becomes the session's
 *   token even when memory runs out: it is read into room reserved before
 *   sending (answers up to 16 KiB) and, if it cannot be parsed or saved
 *   yet, kept and finished by the next call before anything is sent;
 * - a store whose lock is held elsewhere (try_lock says BBO_EBUSY) while
 *   the token is due but still valid: the current token is served without
 *   waiting; an expired token waits for the lock (BBO_EBUSY when the store
 *   gives up waiting);
 * - a store that cannot be locked or read (BBO_EIO: a database restarting;
 *   BBO_EBUSY: a lock that stayed held longer than the store waits) while
 *   the token is due but still valid: the current token is served (0;
 *   bbo_session_save_error tells the store's code) and the next call tries
 *   the refresh again; an expired token fails with the store's error;
 * - a token older than the newest the session held (a rolled-back store
 *   file) is never adopted: its refresh token was rotated away;
 * - a refresh the server rejects with invalid_grant logs the session out
 *   (BBO_EEXPIRED) and that refresh token is never sent again: it is also
 *   removed from the store, so no other process sends it either; a login
 *   another process stores later is picked up.
 *
 * Errors: bbo_error_last() describes the last call that failed. A call
 * that succeeds leaves it as it was, also when a save failed on the way
 * (that is told by bbo_session_save_error and the token callbacks).
 *
 * Thread rules: every bbo_session_* function may be called from any number
 * of threads at once, except bbo_session_free (no call may be running).
 * Token and page callbacks run on the calling thread, outside the session's
 * lock: they may call the session again. Store callbacks run under the
 * session's lock and must not call the session. A bbo_response belongs to
 * one thread at a time.
 */
#ifndef BBOAUTH_SESSION_H
#define BBOAUTH_SESSION_H

#include "common.h"

BBO_BEGIN_DECLS

/**
 * Called after each new token (refresh, or a token adopted from the store
 * because another process refreshed), once per token.
 *
 * @param token       the new token (borrowed: copy it with bbo_token_dup)
 * @param save_error  0, or the code of a failed store save (the token is
 *                    kept in memory and the save retried on the next call)
 * @param payload     as given to bbo_session_on_token
 */
typedef void (*bbo_token_cb)(const bbo_token *token, int save_error, void *payload);

/**
 * Called for each page by bbo_session_foreach_page.
 * @return 0 to go on, anything else to stop (bbo_session_foreach_page then
 *         returns BBO_EUSER)
 */
typedef int (*bbo_page_cb)(const bbo_response *page, void *payload);

/**
 * Create a session.
 *
 * @param client   borrowed: must outlive the session
 * @param initial  the token to start with; taken, even on error. NULL: the
 *                 session starts logged out, or with the store's token
 *                 (bbo_session_set_store)
 * @return 0, or BBO_EINVAL, BBO_ENOMEM
 */
BBO_EXTERN int bbo_session_new(bbo_session **out, bbo_client *client, bbo_token *initial);

/**
 * Give the session a store (taken, even on error). The stored token is
 * loaded at once: it replaces the session's token unless the session's is
 * newer (obtained later). A session whose token is newer saves it. A
 * stored token older than the newest the session held, or carrying a
 * refresh token the server rejected, is never taken (the latter is removed
 * from the store by the next call).
 * @return 0, or the store's load/save errors (the store is kept anyway),
 *         BBO_EINVAL
 */
BBO_EXTERN int bbo_session_set_store(bbo_session *session, bbo_store *store);

/**
 * Register a callback run after each new token (at most 8 per session).
 * @return 0, or BBO_EINVAL (NULL callback, too many), BBO_ENOMEM
 */
BBO_EXTERN int bbo_session_on_token(bbo_session *session, bbo_token_cb cb, void *payload);

/**
 * Refresh when the access token expires within `seconds` (default 60).
 * A token that lives less than 2 * `seconds` (expires_at - obtained_at,
 * when both are known) is refreshed when half its lifetime has passed
 * instead: the margin for a token is min(seconds, lifetime / 2), so a
 * freshly refreshed token is never due at once. 0: only when expired.
 * @return 0, or BBO_EINVAL (negative or more than a day)
 */
BBO_EXTERN int bbo_session_set_refresh_margin(bbo_session *session, int64_t seconds);

/**
 * An access token valid for at least the refresh margin (for a token that
 * lives less than twice the margin: at least half its lifetime),
 * refreshing first when due (single flight; see above).
 *
 * @param out  receives a copy of the access token; bbo_free it
 * @return 0 (also when the new token could not be saved: then
 *         bbo_session_save_error and the callbacks' save_error tell; and
 *         when the token is due but still valid and the store cannot be
 *         locked or read: the current token is served, its refresh tried
 *         again by the next call, bbo_session_save_error tells the
 *         store's code), or
 *         BBO_ENOMEM   also when the token callbacks could not be given a
 *                      copy of the new token: they run on the next call;
 *         BBO_EEXPIRED  no token, an expired token without refresh token,
 *                       or logged out by invalid_grant (the server's
 *                       description in bbo_error_description);
 *         the refresh's errors (BBO_ETRANSPORT, BBO_ETIMEOUT, BBO_EHTTP,
 *         BBO_ERATELIMIT, BBO_EOAUTH, ...): the current token stays, and a
 *         later call tries again;
 *         BBO_ESCOPE   the refreshed token lacks a scope required with
 *                      bbo_consumer_require_scopes (the message names the
 *                      missing permissions); threads waiting on the same
 *                      refresh get it too. The new token is the grant all
 *                      the same (the old refresh token died with the
 *                      refresh): it is saved, handed to the callbacks and
 *                      served by later calls while valid, and refreshed
 *                      when due like any other; *out is not written.
 *                      Until the consumer has the scopes and the user
 *                      logs in again, each refresh says BBO_ESCOPE again;
 *         BBO_EBUSY (the store's lock stayed held elsewhere and the
 *         token is expired), the store's lock and load errors (BBO_EIO,
 *         ...) when the token is expired; BBO_EINVAL, BBO_ENOMEM (a
 *         refresh answer that arrived is kept and finished by the next
 *         call)
 */
BBO_EXTERN int bbo_session_access_token(bbo_session *session, char **out);

/**
 * Refresh now, even if the token is not due (a token revoked on the
 * server side, tests). Same single-flight and store rules, except that a
 * store that cannot be locked or read fails the call even while the token
 * is valid.
 * @return 0, or the errors of bbo_session_access_token
 */
BBO_EXTERN int bbo_session_refresh(bbo_session *session);

/**
 * The current token (a copy; free it), e.g. to show its scopes.
 * @return 0, or BBO_EEXPIRED (none), BBO_EINVAL, BBO_ENOMEM
 */
BBO_EXTERN int bbo_session_token(bbo_session *session, bbo_token **out);

/**
 * Replace the session's token (a new login), saving it to the store.
 * Clears a logged-out state. `token` is taken, even on error. Waits for a
 * refresh in flight (as do bbo_session_set_store and bbo_session_logout).
 * @return 0 (a failed save is told by bbo_session_save_error and retried
 *         by the next call), BBO_EINVAL
 */
BBO_EXTERN int bbo_session_set_token(bbo_session *session, bbo_token *token);

/**
 * The store's trouble that a successful call did not report: 0 when the
 * token in memory is stored (or there is no store); else the code of the
 * last save that failed (BBO_EIO, BBO_ENOMEM, ...: retried by the next
 * call), or of the store's lock or load that failed while the token was
 * due but still valid (BBO_EIO, BBO_EBUSY, ...: the token was served
 * without its refresh, tried again by the next call). bbo_error_last does
 * not hold it: the call succeeded. Back to 0 once a save, refresh or
 * adoption from the store succeeds.
 * @return 0, a negative bbo_code, or BBO_EINVAL for NULL
 */
BBO_EXTERN int bbo_session_save_error(const bbo_session *session);

/**
 * Log out: forget the token here and in the store. The way to log out a
 * session that has a store: it waits for this session's refresh in
 * flight, clears the store under the store's lock (so a refresh in flight
 * in another process cannot save after the clear), and never sends the
 * forgotten refresh token again (a clear that failed is retried by later
 * calls and by bbo_session_free).
 * @return 0, or the store's lock or clear error (the token is forgotten
 *         anyway)
 */
BBO_EXTERN int bbo_session_logout(bbo_session *session);

/**
 * Call the REST API with `Authorization: Bearer` and `Accept:
 * application/json` (and `Content-Type: application/json` with a body).
 *
 * @param method        "GET", "POST", "PUT", "DELETE", ...
 * @param path_or_url   a path relative to the API base ("/user",
 *                      "/repositories/ws/repo"), or an absolute URL with
 *                      the API base's scheme, host and port and a path
 *                      under the API base's path (a `next` link): the
 *                      token never goes to another host, nor to another
 *                      application on the same server; "." and ".."
 *                      segments are refused
 * @param body          request body or NULL; `body_len` its length
 * @param out           receives the response for any status not mapped
 *                      below (404 and 500 are answers, not errors)
 * @return 0, or
 *         BBO_EINVAL     foreign-host URL or a path outside the API base,
 *                        bad path or method;
 *         BBO_EEXPIRED   401 even after a refresh and a retry, or not
 *                        logged in;
 *         BBO_ESCOPE     403 and X-Accepted-OAuth-Scopes names scopes
 *                        X-OAuth-Scopes lacks (listed in the message;
 *                        headers naming more than 256 scopes are taken
 *                        as malformed and the 403 is returned as it is);
 *         BBO_ERATELIMIT 429 (bbo_error_retry_after when known);
 *         the transport's and the refresh's errors; BBO_ENOMEM
 */
BBO_EXTERN int bbo_session_request(bbo_session *session, const char *method,
                                   const char *path_or_url, const char *body, size_t body_len,
                                   bbo_response **out);

/**
 * Follow a paginated listing (Bitbucket's {"values": [...], "next": URL}):
 * GET `path_or_url`, call `cb` for each page, follow `next` (same-origin
 * rule) until there is none or `max_pages` pages were read.
 * @return 0, or BBO_EUSER (the callback stopped), BBO_EPROTOCOL (a page is
 *         not a JSON object), BBO_EHTTP (a page answered other than 200;
 *         BBO_EOAUTH when its body is an OAuth error), the errors of
 *         bbo_session_request
 */
BBO_EXTERN int bbo_session_foreach_page(bbo_session *session, const char *path_or_url,
                                        int max_pages, bbo_page_cb cb, void *payload);

/**
 * Who is logged in: Cloud GET /user ("username", else "nickname", else
 * "account_id"); Data
 * Center GET /application-properties and its X-AUSERNAME header.
 * @param out  receives the user name; bbo_free it
 * @return 0, or BBO_EHTTP (not 200), BBO_EPROTOCOL (no user in the
 *         answer), the errors of bbo_session_request
 */
BBO_EXTERN int bbo_session_user(bbo_session *session, char **out);

/**
 * Free a session (and its store). A refresh answer still to be finished or
 * a save still to be retried is tried once more first (nothing is sent).
 * NULL is a no-op.
 */
BBO_EXTERN void bbo_session_free(bbo_session *session);

/** The response's HTTP status. */
BBO_EXTERN int bbo_response_status(const bbo_response *resp);
/** A header's value (case-insensitive name), or NULL if absent. */
BBO_EXTERN const char *bbo_response_header(const bbo_response *resp, const char *name);
/** The body (NUL-terminated, never NULL); its length in *len_out (may be NULL). */
BBO_EXTERN const char *bbo_response_body(const bbo_response *resp, size_t *len_out);
/** Free a response. NULL is a no-op. */
BBO_EXTERN void bbo_response_free(bbo_response *resp);

BBO_END_DECLS

#endif
