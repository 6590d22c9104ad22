/*
 * The session's private state, shared by its four modules:
 *   session.c     lifecycle, the login state and its transitions, callbacks
 *   refresh.c     when to refresh, the single flight, the refresh itself
 *   store_sync.c  lock, load, adopt, save, forget dead tokens: the only
 *                 code that calls bbo_store_* and bbo__store_*
 *   api.c         API requests, pages, the user check, bbo_response
 * SPDX-License-Identifier: MIT
 */
#ifndef BBO_INTERNAL_SESSION_H
#define BBO_INTERNAL_SESSION_H

#include "common.h"
#include "crypto.h"

#include <pthread.h>

#define BBO__SESSION_MAX_CALLBACKS 8

typedef enum bbo__login_state {
    BBO__LOGGED_OUT, /* no token: never logged in, logged out, or the store was cleared */
    BBO__LOGGED_IN,  /* s->token is the grant */
    BBO__REVOKED     /* invalid_grant killed the grant; logout_error tells */
} bbo__login_state;

typedef struct bbo__callback {
    bbo_token_cb cb;
    void *payload;
} bbo__callback;

struct bbo_session {
    bbo_client *client; /* borrowed */
    pthread_mutex_t lock;
    int64_t margin_s;

    /* the login (session.c); token is non-NULL exactly when logged in */
    bbo__login_state state;
    bbo_token *token;
    bool has_logout_error;
    bbo_error logout_error; /* why logged out or revoked, for every later call */
    /* the newest token this session ever held: an older one is a rolled-back
     * store and never adopted (its refresh token was rotated away) */
    int64_t newest_obtained;
    int64_t newest_expires;

    /* the single flight (refresh.c) */
    pthread_cond_t refreshed; /* broadcast when a refresh completes */
    bool refreshing;          /* a refresh is in flight (its leader runs it) */
    uint64_t generation;      /* completed refreshes */
    int last_rc;              /* the latest refresh's outcome, for its waiters */
    bbo_error last_error;     /* and its error, when it failed */
    /* an answer that arrived but could not be turned into a token yet (out
     * of memory): finished by the next call before anything is sent */
    bbo_http_response *answer; /* reserved before sending, reused */
    bool answer_pending;
    int64_t answer_sent_at;
    bbo_token *answer_previous; /* the token whose refresh token was sent */

    /* the store (store_sync.c) */
    bbo_store *store;
    bool save_pending;  /* the token in memory is newer than the store's */
    int save_error;     /* the last save's code, 0 when saved; or the lock's
                         * or load's when a due token was served without
                         * its refresh (bbo_session_save_error) */
    bool forget_pending; /* a rejected token may still be in the store */
    unsigned char dead_refresh[BBO_SHA256_LEN]; /* SHA-256 of the last refresh */
    bool has_dead_refresh;                      /* token invalid_grant or logout killed */

    /* callbacks (session.c) */
    bool notify_pending; /* the callbacks still have to hear of the token */
    bbo__callback callbacks[BBO__SESSION_MAX_CALLBACKS];
    size_t callback_count;
};

/* ---- session.c: the login state (all with s->lock held) ---------------- */

/* Become logged in with `token` (taken). */
void bbo__session_log_in(bbo_session *s, bbo_token *token);
/* Become logged out; `why` (may be NULL) is reported by later calls. */
void bbo__session_log_out(bbo_session *s, const bbo_error *why);
/* invalid_grant: logged out for good, the refresh token never sent again.
 * Sets the thread's error (from the server's) and returns BBO_EEXPIRED. */
int bbo__session_revoke(bbo_session *s, const bbo_token *rejected);
/* The error of a call made while not logged in; returns BBO_EEXPIRED. */
int bbo__session_not_logged_in(const bbo_session *s);
/* A token older than the newest this session held (a rolled-back store). */
bool bbo__session_is_stale(const bbo_session *s, const bbo_token *token);
/* Let a refresh in flight finish before the token or the store changes. */
void bbo__session_wait_for_flight(bbo_session *s);
/* A public call's result: on success the thread's error is put back as
 * `kept` (bbo_error_last describes the last call that failed); on failure
 * the error is made to carry `rc`. */
int bbo__session_result(int rc, const bbo_error *kept);

/* The token callbacks to run for a new token, outside the lock. */
typedef struct bbo__notice {
    bbo__callback cbs[BBO__SESSION_MAX_CALLBACKS];
    size_t count;
    bbo_token *token; /* a copy for them */
    int save_error;
} bbo__notice;

/* With s->lock held: copy the token and the callbacks when they must hear
 * of it (`fresh`: a new token; or one they missed). BBO_ENOMEM when the
 * copy fails: they hear of it on the next call. */
int bbo__session_take_callbacks(bbo_session *s, bool fresh, bbo__notice *n);
/* Outside the lock: run them, then free the copy. */
void bbo__session_run_callbacks(bbo__notice *n);

/* ---- refresh.c ---------------------------------------------------------- */

/* The margin that makes `token` due: `margin_s`, but at most half the
 * token's lifetime (expires_at - obtained_at, when both are known), so a
 * token that lives shorter than twice the margin is refreshed once, at
 * the latest half-way through its life, not on every call. */
int64_t bbo__session_margin(int64_t margin_s, const bbo_token *token);

typedef enum bbo__need {
    BBO__NEED_DUE,     /* refresh if the token is due */
    BBO__NEED_FORCE,   /* refresh unless one completed since the call began */
    BBO__NEED_REPLACE  /* refresh if the token is still `stale` (it got a 401) */
} bbo__need;

/* Make the token usable (refreshing as `need` says), run the callbacks,
 * copy out the access token when `access_out` is not NULL. */
int bbo__session_fresh_token(bbo_session *s, bbo__need need, const char *stale,
                             char **access_out);
/* Before the session goes away: finish a pending answer and retry what the
 * store still lacks, best effort, sending nothing. */
void bbo__session_flush(bbo_session *s);
/* Forget an answer still to be finished (logout, a new login, free). */
void bbo__session_drop_answer(bbo_session *s);

/* ---- store_sync.c ----------------------------------------------------------- */

/* What a refresh needs from the store (see refresh.c's fly). */
typedef struct bbo__flight {
    bbo_token *current;  /* in: a hold on the session's token; may be replaced */
    bool prefer_memory;  /* in: our token is newer than the store's */
    bool may_skip;       /* in: the token is due but still valid: no waiting */
    bool locked;         /* the store's lock is held */
    bool store_known;    /* what the store holds was read under this lock */
    bbo_token *result;   /* out: the new token */
    bool adopted;        /* out: taken from the store, no request sent */
    bool skipped;        /* out: another worker is refreshing: keep ours */
    bool store_cleared;  /* out: the store was emptied elsewhere */
    int save_error;      /* out: 0, or why the new token was not saved */
    int store_error;     /* out: the lock or load failed; ours was served */
} bbo__flight;

/* Before a refresh: lock the store (when it locks) and look at what it
 * holds: another process's newer token is adopted (f->adopted), an empty
 * store is a logout elsewhere (BBO_EEXPIRED, f->store_cleared). */
int bbo__sync_begin(bbo_session *s, bbo__flight *f);
/* Save the new token (under the lock when held); a store that holds a
 * later token (BBO_ECONFLICT) hands it over instead. */
void bbo__sync_save_result(bbo_session *s, bbo__flight *f);
/* After invalid_grant for f->current (remembered dead): take it out of
 * the store; what cannot be done now is retried by later calls. */
void bbo__sync_forget(bbo_session *s, bbo__flight *f);
/* Release the lock taken by bbo__sync_begin, keeping the thread's error. */
void bbo__sync_end(bbo_session *s, bbo__flight *f);

/* With s->lock held and no refresh in flight: */
/* Logged out: take a login another process stored. */
void bbo__sync_adopt_login(bbo_session *s);
/* Retry a save that failed, and the removal of a rejected token. */
void bbo__sync_retry(bbo_session *s);
/* A new store: load it, adopt or save. */
int bbo__sync_set_store(bbo_session *s, bbo_store *store);
/* A new login (bbo_session_set_token): save it. */
void bbo__sync_save_login(bbo_session *s);
/* Logout: clear the store. */
int bbo__sync_clear(bbo_session *s);
/* Remember the refresh token of `token` as dead (logout, invalid_grant). */
void bbo__sync_remember_dead(bbo_session *s, const bbo_token *token);
void bbo__sync_dispose(bbo_session *s);
/* Free a store the session was given but does not keep. */
void bbo__sync_discard(bbo_store *store);

#endif
